"""Disk side of transfers: ENOSPC on a real tmpfs, reservations, single flight, stale partials."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_provisioner._errors import DiskSpaceError
from model_provisioner._hub import HubSettings
from model_provisioner._partials import collect_stale_partials
from model_provisioner._progress import TransferStats
from model_provisioner._reservations import Reservations, remaining_bytes
from model_provisioner._store import Store, journal_of, lock_of, partial_lock
from model_provisioner._transfer import TransferEngine, TransferJob
from model_provisioner._transfer._journal import Validator, load
from tests.hub import FixtureHub, HubServer
from tests.transfer_helpers import FAST, MiB, make_fetch, run_engine


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 20 MiB filesystem, so ENOSPC comes from the kernel."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20M", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("preallocate", [True, False], ids=["preallocated", "sparse"])
def test_enospc_is_a_disk_space_error_and_keeps_the_partial(
    preallocate: bool,
    small_tmpfs: Path,
    fixture_hub: FixtureHub,
    hub_server: HubServer,
    tmp_path: Path,
) -> None:
    fetch = make_fetch(fixture_hub, tmp_path, {"big.gguf": 32 * MiB})
    fetch.partial_dir = small_tmpfs / "partial"
    settings = HubSettings(endpoint=hub_server.url)
    (job,) = fetch.jobs(settings)
    options = dataclasses.replace(FAST, preallocate=preallocate)
    with pytest.raises(DiskSpaceError, match=r"need .*, have ") as info:
        run_engine(settings, [job], options)
    assert "\n" not in str(info.value)
    assert job.partial.exists() and journal_of(job.partial).exists()
    done = load(job.partial, Validator(job.size, job.sha256, None))
    assert done is not None and done.total < job.size


def test_reservations_subtract_other_live_processes(tmp_path: Path) -> None:
    folder = tmp_path / "reservations"
    partial = tmp_path / "a.part"
    partial.write_bytes(b"x" * 4096)
    assert remaining_bytes({partial: 10_000, tmp_path / "b.part": 500}) == 10_000 - 4096 + 500
    with Reservations(folder).claim({tmp_path / "c.part": 600}, "first", free=1000) as mine:
        assert mine.need == 600
        # Every other live pull counts: another process's, and this process's own (a server
        # runs several pulls in one process).
        child = subprocess.Popen(["sleep", "30"])
        try:
            other = folder / f"{child.pid}-0.json"
            body = f'{{"pid": {child.pid}, "what": "x", "partials": {{"{tmp_path}/d.part": 700}}}}'
            other.write_text(body)
            with pytest.raises(DiskSpaceError, match="need 600 B, have 500 B"):
                Reservations(folder).claim({tmp_path / "e.part": 600}, "second", free=1800)
        finally:
            child.kill()
            child.wait()
        # A dead process's reservation is swept; ours still holds.
        assert Reservations(folder).reserved_by_others() == 600
        assert not other.exists()
    assert not mine.path.exists()


def test_collect_stale_partials(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.ensure()
    folder = store.partial
    old = time.time() - 3600
    stale = [folder / "a.part", folder / "a.part.journal", folder / ".a.part.1.2.tmp"]
    orphan = folder / "gone.part.journal"
    fresh = [folder / "b.part", folder / "b.part.journal"]
    for path in [*stale, orphan, *fresh]:
        path.write_bytes(b"x")
    for path in [*stale, orphan]:
        os.utime(path, (old, old))
    (folder / "unrelated.txt").write_text("keep")
    found = collect_stale_partials(store, older_than=600, dry_run=True)
    assert sorted(found) == sorted([*stale, orphan])
    assert all(p.exists() for p in found)
    assert sorted(collect_stale_partials(store, older_than=600)) == sorted(found)
    assert not any(p.exists() for p in found)
    assert all(p.exists() for p in fresh)


def test_gc_keeps_partials_a_pull_holds_or_reserved(tmp_path: Path) -> None:
    """A locked partial is being fetched; a reserved one is verified and waits for its commit."""
    store = Store(tmp_path)
    store.ensure()
    locked, reserved, stale = (store.partial_path(c * 64, None) for c in "abc")
    for path in (locked, reserved, stale):
        path.write_bytes(b"x")
        os.utime(path, (0, 0))
    with partial_lock(locked), store.reservations.claim({reserved: 1}, "a pull"):
        assert collect_stale_partials(store, older_than=0) == [stale]
        assert locked.exists() and reserved.exists()
    found = collect_stale_partials(store, older_than=0)
    assert sorted(found) == sorted([locked, lock_of(locked), reserved])
    assert not list(store.partial.glob("*.part*"))


def test_a_blob_another_process_is_fetching_is_waited_for_not_fetched_twice(
    fixture_hub: FixtureHub, hub_server: HubServer, tmp_path: Path
) -> None:
    fetch = make_fetch(fixture_hub, tmp_path, {"w.gguf": 12 * MiB})
    settings = HubSettings(endpoint=hub_server.url)
    (job,) = fetch.jobs(settings)
    stored: dict[str, str] = {}

    def is_stored(j: TransferJob) -> str | None:
        return stored.get(j.path)

    hub_server.inject("w.gguf", "stall", after_bytes=MiB, seconds=0.3, times=4, where="cdn")
    results: list[dict[str, str]] = []

    def first() -> None:
        results.append(run_engine(settings, [job]))
        stored[job.path] = results[0][job.path]  # what the orchestrator's commit would do

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while not journal_of(job.partial).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = TransferEngine(settings, FAST, is_stored=is_stored)
    got = second.run([job], TransferStats(), threading.Event())
    thread.join()
    assert got == results[0] == {job.path: fetch.sha256("w.gguf")}
    hub_server.settle()
    # Fetched once, never twice (over the exact size only by what a stalled part had in flight
    # when an idle connection stole its tail).
    assert 12 * MiB <= hub_server.bytes_served("w.gguf") < 18 * MiB
