"""Garbage collection of partial downloads nobody is resuming.

A partial file (``<sha>.part``), its journal (``.part.journal``), its lock (``.part.lock``) and
temp files (``.<name>.<pid>.<tid>.tmp``) are stale when untouched for ``older_than`` seconds and
no process holds the partial's lock. A journal or lock whose partial is gone is stale too.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from filelock import FileLock, Timeout

_SUFFIXES = (".part", ".part.journal", ".part.lock", ".tmp")


def _owner(path: Path) -> Path:
    """The partial file that ``path`` belongs to."""
    name = path.name
    if name.endswith(".tmp") and name.startswith("."):
        name = name[1:].split(".part.", 1)[0] + ".part"
    for suffix in (".journal", ".lock"):
        name = name.removesuffix(suffix)
    return path.with_name(name)


def _in_use(partial: Path) -> bool:
    path = partial.with_name(partial.name + ".lock")
    if not path.exists():
        return False
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def collect_stale_partials(
    partial_dir: Path, older_than: float, *, dry_run: bool = False
) -> list[Path]:
    """Remove (unless ``dry_run``) and return stale partial files, journals, locks, temp files."""
    if not partial_dir.is_dir():
        return []
    cutoff = time.time() - older_than
    groups: dict[Path, list[Path]] = {}
    for path in partial_dir.iterdir():
        if path.is_file() and path.name.endswith(_SUFFIXES):
            groups.setdefault(_owner(path), []).append(path)
    stale: list[Path] = []
    for partial, members in sorted(groups.items()):
        newest = max(_mtime(p) for p in members)
        if newest > cutoff or _in_use(partial):
            continue
        stale.extend(sorted(members))
    if not dry_run:
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return stale


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
