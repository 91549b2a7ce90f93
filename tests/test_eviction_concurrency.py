"""gc and budgets against pulls running in other processes: nothing in use is ever removed."""

from __future__ import annotations

import time
from pathlib import Path

from model_provisioner import ModelProvisioner
from model_provisioner._operations import disk_usage
from model_provisioner._store import Store
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.lifecycle_helpers import age, finish, installed, start
from tests.makers import make_gguf_repo

MB = 1 << 20


def wait_for_bytes(server: HubServer, name: str, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while server.bytes_served(name) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)


def test_gc_during_a_pull_spares_the_pull_pinned_and_recently_used_models(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    p = ModelProvisioner(home, endpoint=hub_server.url)
    for repo in ("Org/Old-GGUF", "Org/Pinned-GGUF", "Org/Served-GGUF"):
        make_gguf_repo(fixture_hub, repo, quants=("Q4_K_M",), pad_to=MB)
        p.pull(repo)
        age(p, repo)
    p.set_pinned("Org/Pinned-GGUF")
    code, served_path, _ = finish(start(home, "path", "Org/Served-GGUF"))  # a worker's lookup
    assert code == 0
    make_gguf_repo(fixture_hub, "Org/Big-GGUF", quants=("Q4_K_M",), pad_to=16 * MB)
    hub_server.inject("big.Q4_K_M.gguf", "stall", after_bytes=4 * MB, seconds=2)
    pull = start(
        home, "--endpoint", hub_server.url, "pull", "--max-connections", "2", "Org/Big-GGUF"
    )
    wait_for_bytes(hub_server, "big.Q4_K_M.gguf", 2 * MB)
    rounds = []
    while pull.poll() is None:  # gc as often as it can while the pull runs, then once after
        rounds.append(finish(start(home, "gc", "--older-than", "0", "--max-size", "1")))
    rounds.append(finish(start(home, "gc", "--older-than", "0", "--max-size", "1")))
    code, _, err = finish(pull)
    assert code == 0, err
    assert len(rounds) >= 2
    assert all(r[0] == 5 and r[2].startswith("error: the store still holds") for r in rounds)
    assert installed(p) == ["Org/Big-GGUF", "Org/Pinned-GGUF", "Org/Served-GGUF"]
    for repo in installed(p):
        assert p.verify_model(repo).ok
    assert Path(served_path.strip()).is_file()


def test_concurrent_pulls_under_a_budget_evict_old_models_not_each_others_files(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    p = ModelProvisioner(home, endpoint=hub_server.url)
    make_gguf_repo(fixture_hub, "Org/Old-GGUF", quants=("Q4_K_M",), pad_to=4 * MB)
    p.pull("Org/Old-GGUF")
    age(p, "Org/Old-GGUF")
    budget = disk_usage(Store(p.home)) + 3 * MB  # room for one new 2 MiB model, not two
    pulls = []
    for name in ("d", "e"):
        repo = f"Org/{name.upper()}-GGUF"
        make_gguf_repo(fixture_hub, repo, quants=("Q4_K_M",), pad_to=2 * MB)
        hub_server.inject(f"{name}.Q4_K_M.gguf", "stall", after_bytes=MB, seconds=1)
        env = {"PROVISIONER_BUDGET": str(budget), "HF_ENDPOINT": hub_server.url}
        pulls.append(start(home, "pull", repo, env=env))
    for proc in pulls:
        code, _, err = finish(proc)
        assert code == 0, err
    assert installed(p) == ["Org/D-GGUF", "Org/E-GGUF"]
    assert all(p.verify_model(repo).ok for repo in installed(p))
    assert disk_usage(Store(p.home)) <= budget
