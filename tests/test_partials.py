"""Collecting partial downloads nobody resumes: by age, never under a live lock or claim."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from model_provisioner._partials import collect_stale_partials
from model_provisioner._store import Store, journal_of, partial_lock, temp_of

HOUR = 3600.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "home")
    s.ensure()
    s.partial.mkdir(parents=True, exist_ok=True)
    return s


def _group(store: Store, name: str, age: float) -> list[Path]:
    """A partial with its journal and a temp file, all ``age`` seconds old."""
    partial = store.partial / f"{name}.part"
    members = [partial, journal_of(partial), temp_of(partial)]
    for path in members:
        path.write_bytes(b"x")
        os.utime(path, (time.time() - age, time.time() - age))
    return members


def test_old_groups_go_whole_fresh_ones_and_foreign_files_stay(store: Store) -> None:
    old = _group(store, "a" * 64, 2 * HOUR)
    fresh = _group(store, "b" * 64, 0)
    foreign = store.partial / "notes.txt"
    foreign.write_text("mine")
    assert collect_stale_partials(store, HOUR, dry_run=True) == sorted(old)
    assert all(p.exists() for p in old)
    assert collect_stale_partials(store, HOUR) == sorted(old)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in fresh) and foreign.exists()


def test_a_locked_or_reserved_partial_is_never_collected(store: Store) -> None:
    locked = _group(store, "c" * 64, 2 * HOUR)
    reserved = _group(store, "d" * 64, 2 * HOUR)
    claim = store.reservations.claim({reserved[0]: 1}, "a live pull", free=1 << 30)
    with partial_lock(locked[0]):
        assert collect_stale_partials(store, HOUR) == []
    assert all(p.exists() for p in locked + reserved)
    claim.release()
    # The lock just held is fresh: that group waits another hour; the released claim's goes.
    assert collect_stale_partials(store, HOUR) == sorted(reserved)
    assert all(p.exists() for p in locked)
