"""Garbage collection of partial downloads nobody is resuming.

A partial file, its journal, its lock and its temp files (the store names them all) are stale
when untouched for ``older_than`` seconds, no process holds the partial's lock, and no live
pull's reservation names the partial (a verified partial waits, unlocked, for its commit). A
group is removed while its lock is held, so a pull cannot reopen it half-way through.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from filelock import Timeout

from ._store import Store, lock_of, partial_lock, partial_of


def collect_stale_partials(store: Store, older_than: float, *, dry_run: bool = False) -> list[Path]:
    """Remove (unless ``dry_run``) and return stale partial files, journals, locks, temp files."""
    cutoff = time.time() - older_than
    groups: dict[Path, list[Path]] = {}
    for path in _files(store.partial):
        owner = partial_of(path)
        if owner is not None:
            groups.setdefault(owner, []).append(path)
    stale: list[Path] = []
    for partial, members in sorted(groups.items()):
        if max(_mtime(p) for p in members) > cutoff:
            continue
        if _collect(store, partial, sorted(members), dry_run):
            stale.extend(sorted(members))
    return stale


def _collect(store: Store, partial: Path, members: list[Path], dry_run: bool) -> bool:
    """Remove one group under its lock; False when a pull holds or reserved it."""
    lock_path = lock_of(partial)
    existed = lock_path.exists()
    lock = partial_lock(partial, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return False
    try:
        stale = partial not in store.reservations.held().partials
        if stale and not dry_run:
            for path in members:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    finally:
        lock.release()
    if not existed or (stale and not dry_run):
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()
    return stale


def _files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_file()]
    except FileNotFoundError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
