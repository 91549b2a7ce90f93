"""When each catalog entry was last used, and which entries are pinned.

Both are small marker files beside the catalog, named as the entry's manifest (the store
builds the names): ``usage/...`` has its mtime set on every lookup that hands a path to a
worker; ``pins/...`` exists while the entry is pinned. A lookup only sets a timestamp (one
``utime`` call, no read, no lock), and does it best effort: a read-only or foreign store still
answers ``path``, it just records nothing. Manifests are never touched, so their stat cache and
"replaced only by rename" hold.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ._fsutil import prune_empty_dirs
from ._store import Store


def record_use(store: Store, manifest: Path) -> None:
    """Stamp the entry as used now; any OSError (EROFS, EACCES, ENOSPC...) is swallowed."""
    marker = store.usage_marker(manifest)
    try:
        os.utime(marker)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError:
        pass


def last_used(store: Store, manifest: Path) -> float:
    """Seconds since the epoch: the last recorded use, else when the manifest was written."""
    for path in (store.usage_marker(manifest), manifest):
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return 0.0


def is_pinned(store: Store, manifest: Path) -> bool:
    return store.pin_marker(manifest).exists()


def set_pinned(store: Store, manifest: Path, pinned: bool) -> None:
    marker = store.pin_marker(manifest)
    if pinned:
        marker.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644))
    else:
        marker.unlink(missing_ok=True)
        prune_empty_dirs(marker.parent, store.pins)


def forget(store: Store, manifest: Path) -> None:
    """Drop the markers of a removed entry (a later pull of it starts unpinned)."""
    markers = (
        (store.usage_marker(manifest), store.usage),
        (store.pin_marker(manifest), store.pins),
    )
    for marker, top in markers:
        with contextlib.suppress(OSError):
            marker.unlink(missing_ok=True)
            prune_empty_dirs(marker.parent, top)


def stale_markers(store: Store) -> list[Path]:
    """Markers whose manifest is gone (a crash between delete steps, or an older version)."""
    stale = []
    for top in (store.usage, store.pins):
        for marker in sorted(top.rglob("*")) if top.is_dir() else []:
            if marker.is_file() and not store.manifest_of_marker(marker).exists():
                stale.append(marker)
    return stale
