"""Disk reservations of live pulls: claimed under a lock, counted while their process lives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_provisioner._errors import DiskSpaceError
from model_provisioner._reservations import Reservations, remaining_bytes

MB = 1 << 20


def test_remaining_bytes_counts_what_is_not_allocated_yet(tmp_path: Path) -> None:
    written = tmp_path / "a.part"
    written.write_bytes(b"x" * MB)
    missing = tmp_path / "b.part"
    assert remaining_bytes({written: 3 * MB, missing: MB}) == 2 * MB + MB
    assert remaining_bytes({written: MB // 2}) == 0  # never negative


def test_a_claim_beyond_the_free_space_is_refused_with_need_and_have(tmp_path: Path) -> None:
    reservations = Reservations(tmp_path / "reservations")
    partial = tmp_path / "x.part"
    with pytest.raises(DiskSpaceError, match=r"for org/repo: need 3\.1 MB, have 2\.1 MB$"):
        reservations.claim({partial: 3 * MB}, "org/repo", free=2 * MB)
    assert list((tmp_path / "reservations").glob("*.json")) == []


def test_live_claims_count_against_later_ones_until_released(tmp_path: Path) -> None:
    reservations = Reservations(tmp_path / "reservations")
    first = reservations.claim({tmp_path / "a.part": 2 * MB}, "a", free=3 * MB, blobs=["b" * 64])
    assert reservations.reserved_by_others() == 2 * MB
    held = reservations.held()
    assert held.partials == {tmp_path / "a.part"} and held.blobs == {"b" * 64}
    with pytest.raises(DiskSpaceError, match="pulls in progress hold"):
        reservations.claim({tmp_path / "c.part": 2 * MB}, "c", free=3 * MB)
    with first:
        pass
    assert reservations.reserved_by_others() == 0
    reservations.claim({tmp_path / "c.part": 2 * MB}, "c", free=3 * MB).release()


def test_a_dead_process_and_a_torn_file_hold_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "reservations"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = folder / "dead.json"
    stale.write_text(f'{{"pid": {dead.stdout.strip()}, "partials": {{"/x.part": 5}}}}')
    (folder / "torn.json").write_text('{"pid": ')
    (folder / "wrong.json").write_text(f'{{"pid": {os.getpid()}, "partials": [1, 2]}}')
    reservations = Reservations(folder)
    assert reservations.reserved_by_others() == 0
    assert reservations.held().partials == frozenset()
    assert not stale.exists()  # a dead pull's claim is removed
