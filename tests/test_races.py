"""Real processes racing on shared blobs: pull vs rm vs gc vs repair (and the service's DELETE).

Each scenario runs ROUNDS times with the second command started at a different moment of the
pull (plan, transfer, commit), and must end with every listed entry whole (files present, right
size, right sha256), the pull succeeded and nothing crashed. Tiny models; fork servers
(tests/store_process.py) keep hundreds of processes fast.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from model_provisioner import ModelProvisioner
from tests.hub import FixtureHub, HubServer
from tests.makers import make_gguf_repo
from tests.server_helpers import serve
from tests.store_helpers import Worker, damaged_entries

ROUNDS = 20
A, B = "Org/A-GGUF", "Org/B-GGUF"
# The same stem gives both repos byte-identical GGUF and config files: shared blobs.
SHARED = {"quants": ("Q4_K_M", "Q8_0"), "stem": "shared"}


@pytest.fixture
def repos(fixture_hub: FixtureHub) -> None:
    make_gguf_repo(fixture_hub, A, **SHARED)  # type: ignore[arg-type]
    make_gguf_repo(fixture_hub, B, **SHARED)  # type: ignore[arg-type]


@pytest.fixture
def workers(hub_server: HubServer, repos: None) -> Iterator[list[Worker]]:
    started = [Worker(hub_server.url) for _ in range(4)]
    try:
        yield started
    finally:
        for worker in started:
            worker.close()


def installed(worker: Worker, tmp_path: Path, *refs: str, flip: str = "") -> Iterator[Path]:
    """A fresh home per round holding ``refs``: pulled once, then copied with its hard links.
    ``flip`` names a file whose blob gets one byte flipped first (damage for a repair)."""
    template = tmp_path / "template"
    for ref in refs:
        assert worker.call(template, "pull", ref)["ok"]
    if flip:  # every model-folder name of the blob shows the damage
        target = next((template / "models").rglob(flip))
        target.chmod(0o644)
        with open(target, "r+b") as f:
            f.seek(-8, os.SEEK_END)
            f.write(bytes(b ^ 0xFF for b in f.read(1)))
    for i in range(ROUNDS):
        home = tmp_path / f"home{i}"
        subprocess.run(["cp", "-a", str(template), str(home)], check=True)
        yield home


def delays(seed: int) -> Iterator[float]:
    """When the second command starts: spread over a tiny pull's plan, transfer and commit."""
    rng = random.Random(seed)
    for i in range(ROUNDS):
        yield (i / ROUNDS) * 0.25 + rng.uniform(0, 0.01)


def test_pull_and_rm_of_another_repo_sharing_its_blobs(
    workers: list[Worker], tmp_path: Path
) -> None:
    """rm A frees the blobs B's pull planned to link: the pull must still list B whole."""
    puller, remover, *_ = workers
    homes = installed(puller, tmp_path, f"{A}:Q4_K_M")
    for home, delay in zip(homes, delays(1), strict=True):
        puller.send(home, "pull", f"{B}:Q4_K_M")
        remover.send(home, "rm", f"{A}:Q4_K_M", delay=delay)
        assert puller.receive() == {"ok": True}
        assert remover.receive() == {"ok": True}
        assert damaged_entries(home) == []
        assert [m.repo for m in ModelProvisioner(home).list_models()] == [B]


def test_pull_and_rm_in_one_model_folder(workers: list[Worker], tmp_path: Path) -> None:
    """Two quants of one repo share README and config links in one commit folder."""
    puller, remover, *_ = workers
    homes = installed(puller, tmp_path, f"{A}:Q4_K_M")
    for home, delay in zip(homes, delays(2), strict=True):
        puller.send(home, "pull", f"{A}:Q8_0")
        remover.send(home, "rm", f"{A}:Q4_K_M", delay=delay)
        assert puller.receive() == {"ok": True}
        assert remover.receive() == {"ok": True}
        assert damaged_entries(home) == []
        listed = ModelProvisioner(home).list_models()
        assert [m.reference for m in listed] == [f"hf:{A}:Q8_0"]


def test_pull_rm_and_gc_at_once(workers: list[Worker], tmp_path: Path) -> None:
    """gc --older-than 0 while a pull commits: no verified partial, link or blob it needs goes."""
    puller, remover, collector, _ = workers
    homes = installed(puller, tmp_path, f"{A}:Q4_K_M")
    for home, delay in zip(homes, delays(3), strict=True):
        puller.send(home, "pull", f"{B}:Q8_0")
        remover.send(home, "rm", f"{A}:Q4_K_M", delay=delay / 2)
        collector.send(home, "gc", older_than=0, delay=delay, repeat=10)
        assert puller.receive() == {"ok": True}
        assert remover.receive() == {"ok": True}
        assert collector.receive() == {"ok": True}
        assert damaged_entries(home) == []
        assert [m.reference for m in ModelProvisioner(home).list_models()] == [f"hf:{B}:Q8_0"]
        assert collector.call(home, "gc", older_than=0)["ok"]
        assert damaged_entries(home) == []
        assert len(ModelProvisioner(home).list_models()) == 1


def test_two_pulls_and_gc_of_one_blob(workers: list[Worker], tmp_path: Path) -> None:
    """Two pulls fetch the same bytes under two repos while gc sweeps: both end whole."""
    first, second, collector, _ = workers
    for i, delay in enumerate(delays(4)):
        home = tmp_path / f"home{i}"
        first.send(home, "pull", f"{A}:Q4_K_M")
        second.send(home, "pull", f"{B}:Q4_K_M", delay=delay / 4)
        collector.send(home, "gc", older_than=0, delay=delay / 2, repeat=20)
        assert first.receive() == second.receive() == collector.receive() == {"ok": True}
        assert damaged_entries(home) == []
        assert len(ModelProvisioner(home).list_models()) == 2


def test_repair_pull_rm_and_gc_of_entries_sharing_a_damaged_blob(
    workers: list[Worker], tmp_path: Path
) -> None:
    """verify --repair refetches the shared blob for A and B while B is pulled and removed
    and gc sweeps (quarantine included)."""
    repairer, puller, remover, collector = workers
    homes = installed(repairer, tmp_path, f"{A}:Q4_K_M", f"{B}:Q4_K_M", flip="shared.Q4_K_M.gguf")
    for home, delay in zip(homes, delays(6), strict=True):
        repairer.send(home, "repair", f"{A}:Q4_K_M")
        puller.send(home, "pull", f"{B}:Q4_K_M", delay=delay / 2)
        remover.send(home, "rm", f"{B}:Q4_K_M", delay=delay)
        collector.send(home, "gc", older_than=0, delay=delay / 3, repeat=5)
        assert repairer.receive() == {"ok": True}
        assert puller.receive() == {"ok": True}
        removed = remover.receive()  # the repair may re-pull B after it: then rm came first
        assert removed == {"ok": True} or removed.get("kind") == "ModelNotFound", removed
        assert collector.receive() == {"ok": True}
        assert damaged_entries(home) == []
        assert f"hf:{A}:Q4_K_M" in [m.reference for m in ModelProvisioner(home).list_models()]


def test_service_delete_during_a_pull_of_an_entry_sharing_blobs(
    workers: list[Worker], hub_server: HubServer, tmp_path: Path
) -> None:
    """The service's DELETE goes through the same lock as the CLI's rm."""
    puller = workers[0]
    home = tmp_path / "home"
    with serve(home, hub_server.url) as served, served.client() as client:
        for delay in delays(5):
            assert puller.call(home, "pull", f"{A}:Q4_K_M")["ok"]
            puller.send(home, "pull", f"{B}:Q4_K_M")
            time.sleep(delay)
            deleted = client.delete(f"/v1/models/{quote(f'hf:{A}:Q4_K_M', safe='/:')}")
            assert deleted.status_code == 200
            assert puller.receive() == {"ok": True}
            assert damaged_entries(home) == []
            assert [m["repo"] for m in client.get("/v1/models").json()] == [B]
            assert puller.call(home, "rm", f"{B}:Q4_K_M")["ok"]
