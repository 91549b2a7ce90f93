"""``provisioner gc``: what it removes, in order, and how many bytes that frees.

1. partial downloads nobody resumes (``_partials``), then what a crash between commit steps
   left: model-folder links no manifest names and blobs nothing links (``_operations``);
2. with ``max_size``: unpinned, unused models, least recently used first (``_eviction``);
3. usage and pin markers of entries that are gone, and empty folders.

Steps 1 (the store part), 2 and 3 run under the store's commit lock, so no pull commits, and no
delete or repair runs, half-way through. Freed bytes count each inode once, when its last
removed link goes; a dry run reports the same figures and removes nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ._catalog import Catalog
from ._eviction import evict
from ._fsutil import allocated
from ._operations import collect_garbage, disk_usage
from ._partials import collect_stale_partials
from ._store import Store
from ._usage import stale_markers


@dataclass
class GcReport:
    removed: list[Path] = field(default_factory=list)
    evicted: list[str] = field(default_factory=list)
    freed: int = 0
    size: int = 0  # the store's size after (or, dry, as it would be)
    max_size: int | None = None
    dry_run: bool = False

    @property
    def fits(self) -> bool:
        return self.max_size is None or self.size <= self.max_size


def collect(
    store: Store,
    catalog: Catalog,
    older_than: float,
    max_size: int | None,
    keep_recent: float,
    *,
    dry_run: bool = False,
) -> GcReport:
    report = GcReport(max_size=max_size, dry_run=dry_run)
    found = collect_stale_partials(store, older_than, dry_run=True)
    with store.commit_lock():
        found += collect_garbage(store, catalog, older_than, dry_run=True)
        report.freed = freed_by(found)
        if not dry_run:
            collect_stale_partials(store, older_than)
            collect_garbage(store, catalog, older_than)
        report.removed = found
        size = disk_usage(store) - (report.freed if dry_run else 0)
        if max_size is not None and size > max_size:
            done = evict(store, catalog, max_size, keep_recent=keep_recent, dry_run=dry_run)
            report.evicted = [e.info.reference for e in done.entries]
            report.freed += done.frees
            size -= done.frees
        if not dry_run:
            for marker in stale_markers(store):
                marker.unlink(missing_ok=True)
            for top in (store.models, store.manifests, store.blobs, store.usage, store.pins):
                prune_empty_folders(top)
            size = disk_usage(store)
        report.size = size
    return report


def freed_by(paths: Iterable[Path]) -> int:
    """Allocated bytes that removing ``paths`` frees: an inode counts once all its links go."""
    links: Counter[tuple[int, int]] = Counter()
    stats: dict[tuple[int, int], os.stat_result] = {}
    for path in paths:
        try:
            st = path.lstat()
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        links[key] += 1
        stats[key] = st
    return sum(allocated(st) for key, st in stats.items() if links[key] >= st.st_nlink)


def prune_empty_folders(top: Path) -> None:
    """Remove every empty folder below ``top`` (deepest first), never ``top`` itself."""
    for root, _dirs, _files in os.walk(top, topdown=False):
        if Path(root) != top:
            with contextlib.suppress(OSError):
                os.rmdir(root)
