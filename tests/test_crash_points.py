"""Crash consistency, proven: SIGKILL a real pull right after each durability step.

A pull moves an installed entry to a new commit of its branch. Its durability steps (every
fsync, rename, link, mkdir and journal write, recorded through ``_fsutil.durability`` by the
test entry point tests/store_process.py) are first recorded once; then, for every step n, a
copy of the old store gets a pull killed right after step n. Each time the store must list the
old entry or the new one, whole, and a rerun must complete. The recording itself is checked for
order: data fsynced before its rename, every rename and new folder followed by an fsync of its
folder, the manifest after every blob and link, journal lines fsynced while a download stalls.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from model_provisioner import ModelProvisioner
from model_provisioner._catalog import Catalog
from model_provisioner._store import Store
from tests.hub import FixtureHub, HubServer
from tests.makers import make_gguf_repo
from tests.store_helpers import Worker, damaged_entries

REPO = "Org/Crash-GGUF"
REF = f"{REPO}:Q4_K_M"
FILE = "crash.Q4_K_M.gguf"


@dataclass(frozen=True)
class Step:
    n: int
    op: str
    path: Path
    source: Path | None


def read_steps(path: Path) -> list[Step]:
    steps = []
    for line in path.read_text().splitlines():
        raw = json.loads(line)
        source = Path(raw["source"]) if raw["source"] else None
        steps.append(Step(raw["n"], raw["op"], Path(raw["path"]), source))
    return steps


@dataclass(frozen=True)
class Moved:
    """A store holding REF at ``old``, and a hub whose branch has moved on to ``new``."""

    template: Path
    old: str
    new: str


@pytest.fixture
def workers(hub_server: HubServer) -> Iterator[list[Worker]]:
    started = [Worker(hub_server.url) for _ in range(2)]
    try:
        yield started
    finally:
        for worker in started:
            worker.close()


@pytest.fixture
def moved(fixture_hub: FixtureHub, workers: list[Worker], tmp_path: Path) -> Moved:
    old = make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",))
    template = tmp_path / "template"
    assert workers[0].call(template, "pull", REF) == {"ok": True}
    new = make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), context_length=4096)
    return Moved(template, old, new)


def copy_of(template: Path, home: Path) -> Path:
    """``cp -a`` keeps the hard links between blobs and model folders."""
    subprocess.run(["cp", "-a", str(template), str(home)], check=True)
    return home


def listed_commit(home: Path) -> str | None:
    entry = Catalog(Store(home)).find(ModelProvisioner(home).parse(REF))
    return entry.info.commit if entry else None


# No timed journal syncs: every run of the same pull then takes the same steps.
STEADY = {"journal_interval": 60}


def record(worker: Worker, home: Path, steps: Path, **extra: object) -> list[Step]:
    assert worker.call(home, "pull", REF, steps=str(steps), **extra) == {"ok": True}
    return read_steps(steps)


def test_kill_after_every_step_leaves_the_old_entry_or_the_new_one_whole(
    moved: Moved, workers: list[Worker], tmp_path: Path
) -> None:
    reference = copy_of(moved.template, tmp_path / "reference")
    steps = record(workers[0], reference, tmp_path / "steps", **STEADY)
    assert {"rename", "link", "fsync", "fsync_dir", "write"} <= {s.op for s in steps}
    outcomes: dict[str, int] = {}
    for first in range(1, len(steps) + 1, len(workers)):
        homes = []
        for worker, n in zip(workers, range(first, len(steps) + 1), strict=False):
            home = copy_of(moved.template, tmp_path / f"kill{n}")
            worker.send(home, "pull", REF, kill_at=n, **STEADY)
            homes.append((worker, n, home))
        for worker, n, home in homes:
            assert worker.receive() == {"killed": True}, f"step {n} did not kill the pull"
            commit = listed_commit(home)
            assert commit in (moved.old, moved.new), f"after step {n}: {commit}"
            assert damaged_entries(home) == [], f"after step {n}: {steps[n - 1]}"
            outcomes[commit] = outcomes.get(commit, 0) + 1
            worker.send(home, "pull", REF)
        for worker, n, home in homes:
            assert worker.receive() == {"ok": True}, f"rerun after step {n}"
            assert listed_commit(home) == moved.new and damaged_entries(home) == []
    # Both sides of the commit point were reached: the harness really cut through it.
    assert outcomes.get(moved.old, 0) > 0 and outcomes.get(moved.new, 0) > 0


def test_the_order_of_durability_steps(moved: Moved, workers: list[Worker], tmp_path: Path) -> None:
    home = copy_of(moved.template, tmp_path / "home")
    steps = record(workers[0], home, tmp_path / "steps", **STEADY)
    store = Store(home)
    renames = [s for s in steps if s.op == "rename"]
    manifests = [s for s in renames if s.path.is_relative_to(store.manifests)]
    manifest = manifests[0]
    blobs = [s for s in renames if s.path.is_relative_to(store.blobs)]
    links = [s for s in renames if s.path.is_relative_to(store.models)]
    assert blobs and links

    def synced_after(step: Step, folder: Path) -> int:
        """Index of the first fsync of ``folder`` after ``step``; fails if there is none."""
        later = [s.n for s in steps if s.n > step.n and s.op == "fsync_dir" and s.path == folder]
        assert later, f"{step.op} of {step.path.name} is never followed by an fsync of its folder"
        return later[0]

    for blob in blobs:
        assert blob.source is not None
        synced = [s.n for s in steps if s.op == "fsync" and s.path == blob.source]
        assert synced and synced[0] < blob.n, f"{blob.source.name} renamed before its fsync"
    # partial/ holds disposable work: losing a rename there costs a refetch, never an entry.
    for step in (s for s in renames if not s.path.is_relative_to(store.partial)):
        assert synced_after(step, step.path.parent) <= (
            manifest.n if step not in manifests else len(steps)
        ), f"the folder of {step.path.name} is fsynced only after the manifest"
    for made in (s for s in steps if s.op == "mkdir" and not s.path.is_relative_to(store.partial)):
        assert synced_after(made, made.path.parent) < manifest.n
    assert max(s.n for s in blobs + links) < manifest.n, "manifest before the files it lists"


def test_journal_lines_are_fsynced_while_a_download_stalls(
    fixture_hub: FixtureHub, hub_server: HubServer, workers: list[Worker], tmp_path: Path
) -> None:
    """A kill then loses at most the last moments; the rerun resumes instead of starting over."""
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=6 << 20)
    hub_server.inject(FILE, "stall", after_bytes=3 << 20, seconds=0.6)
    steps = record(workers[0], tmp_path / "home", tmp_path / "steps")
    journal_lines = [s for s in steps if s.op == "write" and s.path.name.endswith(".journal")]
    assert journal_lines
    journal = journal_lines[0].path
    synced = [s.n for s in steps if s.op == "fsync" and s.path == journal]
    assert synced and synced[0] > journal_lines[0].n, "journal lines are never fsynced"

    hub_server.inject(FILE, "stall", after_bytes=3 << 20, seconds=0.6)
    home = tmp_path / "killed"
    assert workers[0].call(home, "pull", REF, kill_at=synced[0]) == {"killed": True}
    assert listed_commit(home) is None
    before = hub_server.bytes_served(FILE)
    assert workers[0].call(home, "pull", REF) == {"ok": True}
    assert hub_server.bytes_served(FILE) - before < 6 << 20
    assert damaged_entries(home) == []
