"""Eviction: the pure plan (property tests), then gc --max-size and budgets on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner import ModelProvisioner
from model_provisioner._catalog import Catalog
from model_provisioner._errors import DiskSpaceError
from model_provisioner._eviction import Candidate, plan_eviction
from model_provisioner._operations import disk_usage
from model_provisioner._store import Store
from tests.cli_helpers import cli_runner
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.lifecycle_helpers import age, installed
from tests.makers import make_gguf_repo

BLOBS = [f"{i:064x}" for i in range(8)]
candidates = st.lists(
    st.builds(
        Candidate,
        key=st.text("abcdef", min_size=1, max_size=3),
        blobs=st.frozensets(st.sampled_from(BLOBS), min_size=1, max_size=4),
        last_used=st.floats(0, 100),
        evictable=st.booleans(),
    ),
    max_size=8,
    unique_by=lambda c: c.key,
)
sizes = st.fixed_dictionaries({sha: st.integers(0, 1000) for sha in BLOBS})


def freed(cs: list[Candidate], gone: set[str], sizes: dict[str, int], keep: set[str]) -> int:
    """What removing ``gone`` frees, computed the slow way: blobs no remaining entry uses."""
    before = {sha for c in cs for sha in c.blobs}
    after = {sha for c in cs if c.key not in gone for sha in c.blobs}
    return sum(sizes[sha] for sha in before - after - keep)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidates, sizes, st.integers(0, 8000), st.frozensets(st.sampled_from(BLOBS)))
def test_the_plan_evicts_least_recently_used_first_counting_shared_blobs_once(
    cs: list[Candidate], blob_sizes: dict[str, int], target: int, keep: frozenset[str]
) -> None:
    size = sum(blob_sizes[sha] for sha in {s for c in cs for s in c.blobs})
    plan = plan_eviction(cs, blob_sizes, size, target, keep)
    by_key = {c.key: c for c in cs}
    chosen = [by_key[k] for k in plan.evict]
    assert all(c.evictable for c in chosen)  # pinned, busy or recent: never
    order = [(c.last_used, c.key) for c in chosen]
    assert order == sorted(order)
    spared = [c for c in cs if c.evictable and c.key not in plan.evict]
    if chosen and spared:  # least recently used first: nothing spared is older
        assert min((c.last_used, c.key) for c in spared) > order[-1]
    assert plan.frees == freed(cs, set(plan.evict), blob_sizes, set(keep))
    if plan.evict:  # it stopped as soon as the store fits
        before_last = set(plan.evict[:-1])
        assert size - freed(cs, before_last, blob_sizes, set(keep)) > target
    if not plan.fits:
        assert not spared


REPO_A, REPO_B, REPO_C, REPO_D = "Org/A-GGUF", "Org/B-GGUF", "Org/C-GGUF", "Org/D-GGUF"
MB = 1 << 20


@pytest.fixture
def four(home: Path, hub_server: HubServer, fixture_hub: FixtureHub) -> ModelProvisioner:
    """Four 1 MiB models A..D, last used in that order (A longest ago)."""
    p = ModelProvisioner(home, endpoint=hub_server.url)
    for i, repo in enumerate((REPO_A, REPO_B, REPO_C, REPO_D)):
        make_gguf_repo(fixture_hub, repo, quants=("Q4_K_M",), pad_to=MB)
        p.pull(repo)
        age(p, repo, 1_000_000_000.0 + i)
    return p


def test_gc_max_size_evicts_least_recently_used_and_spares_pinned(
    four: ModelProvisioner, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    four.set_pinned(REPO_A)
    four.find_local_model(REPO_B)  # B was just handed to a worker: used now, and newest
    age(four, REPO_B, 1_000_000_100.0)
    size = disk_usage(Store(four.home))
    run = cli_runner(home, None, capsys)
    code, out, _ = run("gc", "--dry-run", "--max-size", str(size - MB), "--keep-recent", "0")
    assert code == 0 and "would evict hf:Org/C-GGUF" in out and "D-GGUF" not in out
    assert installed(four) == [REPO_A, REPO_B, REPO_C, REPO_D]
    code, out, _ = run("gc", "--max-size", str(size - MB), "--keep-recent", "0")
    assert code == 0 and "evicted hf:Org/C-GGUF" in out
    assert installed(four) == [REPO_A, REPO_B, REPO_D]
    assert disk_usage(Store(four.home)) <= size - MB
    # Only pinned A would be left to go: the store cannot fit 1 byte; exit 5, A stays.
    code, out, err = run("gc", "--max-size", "1", "--keep-recent", "0")
    assert code == 5 and err.startswith("error: the store still holds") and err.count("\n") == 1
    assert installed(four) == [REPO_A]
    assert four.verify_model(REPO_A).ok


def test_recently_used_models_are_in_use_and_not_evicted(four: ModelProvisioner) -> None:
    four.find_local_model(REPO_A)
    report = four.gc(max_size=1)  # default: a path handed out in the last 5 minutes is in use
    assert REPO_A in installed(four)
    assert f"hf:{REPO_A}" not in report.evicted and not report.fits


def test_shared_blobs_are_counted_once(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    """Two repos publishing the same bytes share one blob: evicting one frees nothing of it."""
    p = ModelProvisioner(home, endpoint=hub_server.url)
    for i, repo in enumerate((REPO_A, "Org/A-Copy-GGUF")):
        make_gguf_repo(fixture_hub, repo, quants=("Q4_K_M",), pad_to=MB, stem="same")
        p.pull(repo)
        age(p, repo, 1_000_000_000.0 + i)
    size = disk_usage(Store(p.home))
    assert size < 2 * MB
    report = p.gc(max_size=size - MB // 2, keep_recent=0, dry_run=True)
    assert report.evicted == [f"hf:{REPO_A}", "hf:Org/A-Copy-GGUF"] and report.freed >= MB
    assert p.gc(max_size=size - MB // 2, keep_recent=0).fits
    assert p.list_models() == []


def test_a_budget_evicts_before_a_pull_so_it_fits(
    four: ModelProvisioner, home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, "Org/E-GGUF", quants=("Q4_K_M",), pad_to=2 * MB)
    budget = disk_usage(Store(four.home)) + MB  # E needs 2 MiB: A must go, and only A
    (home / "config.toml").write_text(f"budget = {budget}\n")
    p = ModelProvisioner(home, endpoint=four.endpoint)
    for repo in (REPO_A, REPO_B, REPO_C, REPO_D):
        age(p, repo, 1_000_000_000.0 + installed(p).index(repo))
    p.pull("Org/E-GGUF")
    assert installed(p) == [REPO_B, REPO_C, REPO_D, "Org/E-GGUF"]
    assert disk_usage(Store(p.home)) <= budget


def test_a_budgeted_update_never_evicts_the_entry_it_updates(
    four: ModelProvisioner, home: Path, fixture_hub: FixtureHub
) -> None:
    """A is the least recently used, but it is the entry being pulled: B goes instead."""
    make_gguf_repo(fixture_hub, REPO_A, quants=("Q4_K_M",), pad_to=MB, context_length=4096)
    p = ModelProvisioner(
        home, endpoint=four.endpoint, budget=disk_usage(Store(four.home)) + MB // 2
    )
    p.pull(REPO_A)
    assert installed(p) == [REPO_A, REPO_C, REPO_D]
    assert p.get_model_info(REPO_A).metadata.context_length == 4096
    assert p.verify_model(REPO_A).ok


def test_a_pull_that_cannot_fit_the_budget_fails_and_evicts_nothing(
    four: ModelProvisioner, home: Path, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, "Org/Big-GGUF", quants=("Q4_K_M",), pad_to=8 * MB)
    p = ModelProvisioner(home, endpoint=four.endpoint, budget=disk_usage(Store(four.home)) + MB)
    p.set_pinned(REPO_A)
    with pytest.raises(DiskSpaceError, match="budget") as caught:
        p.pull("Org/Big-GGUF")
    assert caught.value.exit_code == 5
    assert installed(p) == [REPO_A, REPO_B, REPO_C, REPO_D]


def test_gc_removes_stale_markers_and_empty_folders(four: ModelProvisioner, home: Path) -> None:
    manifest = Catalog(Store(four.home)).get(four.parse(REPO_A)).manifest
    manifest.unlink()  # as if a crash lost it between steps: its marker and files are garbage
    report = four.gc(older_than=0)
    assert not Store(four.home).usage_marker(manifest).exists()
    assert not manifest.parent.exists()
    assert report.freed >= MB and REPO_A not in installed(four)
