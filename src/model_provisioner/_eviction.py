"""Evicting unpinned models, least recently used first, until the store fits a size.

``plan_eviction`` is pure: entries with their blobs, last use and whether they may go; blob
sizes; the store's size now and the size to reach. A blob's bytes count as freed only when the
last remaining entry that uses it goes, so shared content is counted once. ``evict`` runs it
against the store under the commit lock, and never takes an entry that is pinned, that a pull
holds (its entry lock is busy), that was used within ``keep_recent`` seconds (a worker that was
just handed its path may not have opened it yet), or a blob a live pull will link.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from filelock import Timeout

from ._catalog import Catalog, Entry
from ._errors import DiskSpaceError
from ._operations import delete_entry, disk_usage
from ._store import Store
from ._units import format_bytes
from ._usage import is_pinned, last_used

if TYPE_CHECKING:
    from filelock import FileLock

# A path handed to a worker within this long is taken to be in use.
KEEP_RECENT = 300.0


@dataclass(frozen=True)
class Candidate:
    """One catalog entry as eviction sees it."""

    key: str
    blobs: frozenset[str]
    last_used: float
    evictable: bool


@dataclass(frozen=True)
class EvictionPlan:
    """Entries to evict, oldest use first, and the bytes that frees (shared blobs once)."""

    evict: tuple[str, ...]
    frees: int
    size: int
    target: int

    @property
    def fits(self) -> bool:
        return self.size - self.frees <= self.target


def plan_eviction(
    candidates: Sequence[Candidate],
    blob_sizes: Mapping[str, int],
    size: int,
    target: int,
    keep: Iterable[str] = (),
) -> EvictionPlan:
    """Least recently used evictable entries until ``size - freed <= target``."""
    users = Counter(sha for c in candidates for sha in c.blobs)
    kept = set(keep)
    chosen: list[str] = []
    frees = 0
    order = sorted((c for c in candidates if c.evictable), key=lambda c: (c.last_used, c.key))
    for candidate in order:
        if size - frees <= target:
            break
        chosen.append(candidate.key)
        for sha in candidate.blobs:
            users[sha] -= 1
            if users[sha] == 0 and sha not in kept:
                frees += blob_sizes.get(sha, 0)
    return EvictionPlan(tuple(chosen), frees, size, target)


@dataclass
class Evicted:
    """What an eviction did (or, dry, would do)."""

    entries: list[Entry] = field(default_factory=list)
    frees: int = 0
    size: int = 0
    target: int = 0
    fits: bool = True


def evict(
    store: Store,
    catalog: Catalog,
    target: int,
    *,
    keep: Iterable[str] = (),
    keep_recent: float = KEEP_RECENT,
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> Evicted:
    """Bring the store to ``target`` bytes or less; the caller holds the commit lock.

    ``keep`` are blobs that must stay (a pull about to link them). With ``all_or_nothing`` an
    eviction that cannot reach the target removes nothing.
    """
    keep = set(keep) | store.reservations.held().blobs
    size = disk_usage(store)
    entries = {str(e.manifest): e for e in catalog.entries()}
    now = time.time()
    held: dict[str, FileLock] = {}
    try:
        for key, entry in entries.items():
            lock = store.entry_lock(entry.ref)
            if lock.is_locked:
                continue  # this thread's own pull of it (the lock is re-entrant per thread)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue  # a pull of this entry is running elsewhere
            held[key] = lock
        candidates = [
            _candidate(store, key, entry, key in held, now - keep_recent)
            for key, entry in entries.items()
        ]
        sizes = {sha: _allocated(store, sha) for c in candidates for sha in c.blobs}
        plan = plan_eviction(candidates, sizes, size, target, keep)
        result = Evicted([entries[k] for k in plan.evict], plan.frees, size, target, plan.fits)
        if dry_run or (all_or_nothing and not plan.fits):
            return result
        for entry in result.entries:
            delete_entry(store, catalog, entry)
        return result
    finally:
        for lock in held.values():
            lock.release()


def _candidate(store: Store, key: str, entry: Entry, free: bool, cutoff: float) -> Candidate:
    used = last_used(store, entry.manifest)
    evictable = free and used <= cutoff and not is_pinned(store, entry.manifest)
    return Candidate(key, frozenset(f.sha256 for f in entry.info.files), used, evictable)


def make_room(
    store: Store, catalog: Catalog, budget: int, need: int, others: int, keep: Iterable[str]
) -> int:
    """Evict so a pull of ``need`` more bytes fits ``budget``; returns the room left under it.

    The caller holds the commit lock. Raises DiskSpaceError (removing nothing) when even
    evicting every unpinned, unused model would not make the pull fit.
    """
    size = disk_usage(store)
    if size + others + need <= budget:
        return budget - size
    done = evict(store, catalog, budget - need - others, keep=keep, all_or_nothing=True)
    if not done.fits:
        raise DiskSpaceError(
            f"the store's budget of {format_bytes(budget)} cannot fit this pull: "
            f"need {format_bytes(need)}, the store holds {format_bytes(size)} "
            f"and evicting unpinned models unused for {KEEP_RECENT / 60:.0f} min frees "
            f"{format_bytes(done.frees)}",
            hint="raise budget in config.toml, unpin or remove models",
        )
    return budget - disk_usage(store)


def _allocated(store: Store, sha256: str) -> int:
    try:
        st = store.blob_path(sha256).stat()
    except OSError:
        return 0
    return st.st_blocks * 512
