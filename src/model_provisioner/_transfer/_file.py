"""One file being fetched: its partial file, which ranges are done or claimed, its hashes.

Every byte range is written by at most one worker at a time: a worker ``claim``s a span before
fetching it and ``complete``s (or ``release``s) it after. The hasher only reads ranges that are
done, so nothing it has hashed is ever written again.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._digests import git_blob_hasher
from .._fsutil import durability
from .._platform import open_direct, preallocate
from .._store import temp_of
from ._journal import Journal, Validator, load
from ._options import TransferJob
from ._ranges import MiB, RangeSet, Span, next_part
from ._retry import Attempts, RetryPolicy

HASHER_SLACK = 4 << 20  # the hasher is keeping up while it is this close to the prefix


def _fresh_file(partial: Path, size: int) -> int:
    """A new inode at ``partial``: never truncate one another process may still be renaming."""
    tmp = temp_of(partial)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        durability.replace(tmp, partial)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return fd


def _open_existing(partial: Path, size: int) -> int:
    """A descriptor on ``partial`` if it exists with the expected size, else -1."""
    try:
        fd = os.open(partial, os.O_RDWR)
    except OSError:
        return -1
    if os.fstat(fd).st_size != size:
        os.close(fd)
        return -1
    return fd


@dataclass(eq=False)
class Lease:
    """One worker's span being fetched. ``end`` moves down when an idle worker steals the
    tail; the worker writes at most up to ``reading_to`` before asking again, and a thief
    only takes bytes past it."""

    end: int
    reading_to: int


@dataclass
class FileState:
    """Shared state of one job; fields under ``lock`` unless noted."""

    job: TransferJob
    policy: RetryPolicy
    fd: int = -1
    dfd: int = -1  # the same inode opened O_DIRECT, or -1
    direct_refused: bool = False  # no lock: set once by _direct on the first EINVAL
    done: RangeSet = field(default_factory=RangeSet)
    claimed: RangeSet = field(default_factory=RangeSet)
    journal: Journal | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str | None = None  # where the last redirect led; reused until it fails
    single: bool = False  # the server ignores Range: one stream at a time
    streaming: int = 0
    # Range support is learnt from the first ranged answer: until it comes (``probing``), no
    # other part of the file goes out, so a server that ignores Range sends the file once.
    ranges_ok: bool = False
    probing: bool = False
    wake: Callable[[], None] = field(default=lambda: None)  # claims may have changed (the run)
    leases: list[Lease] = field(default_factory=list)
    restarts: int = 0
    finished: bool = False
    verified: bool = False  # hashes match; being made durable (then ``finished``)
    direct: bool = True
    unjournaled: bool = False  # opened a full-size partial with no journal: rehash it first
    stream_attempts: Attempts = field(init=False)
    sha256: Any = field(init=False)  # hashlib objects: written by the hasher thread only
    sha1: Any = field(init=False)
    hashed: int = 0  # written by the hasher thread only; read under ``lock`` by ``offer``
    # End of the last range the journal had at open: the hasher reads up to there from the file
    # anyway, so workers are paced against max(hashed, pace_floor), not against ``hashed``.
    pace_floor: int = 0
    # Written buffers waiting for the hasher: start -> (buffer, length); see _pool.py.
    stash: dict[int, tuple[mmap.mmap, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stream_attempts = Attempts(self.policy)
        self._reset_hashes()

    @property
    def size(self) -> int:
        return self.job.size

    @property
    def validator(self) -> Validator:
        return Validator(self.job.size, self.job.sha256, self.job.git_sha1)

    def _reset_hashes(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha1 = git_blob_hasher(self.size) if self.job.git_sha1 else None
        self.hashed = 0

    def open(self, *, fresh: bool, prealloc: bool, direct: bool = True) -> int:
        """Open the partial (resuming from its journal unless ``fresh``); returns bytes done.

        A full-size partial without a journal may be a verified file another process has not
        renamed into the store yet: it is rehashed, never replaced unseen.
        """
        partial = self.job.partial
        partial.parent.mkdir(parents=True, exist_ok=True)
        done = None if fresh else load(partial, self.validator)
        fd = -1 if fresh else _open_existing(partial, self.size)
        self.unjournaled = done is None and fd >= 0
        if self.unjournaled:
            done = RangeSet.of([(0, self.size)])
        if fd < 0 or done is None:
            if fd >= 0:
                os.close(fd)
            done = RangeSet()
            fd = _fresh_file(partial, self.size)
        # Everything is ready before workers can see it: a span claimed from the new ``done``
        # must find the new journal (a restart used to publish ``done`` first).
        dfd = open_direct(fd) if direct else -1
        journal = Journal(partial, self.validator, done)
        if prealloc:
            preallocate(fd, self.size)
        self._reset_hashes()
        self.verified = False
        with self.lock:
            self.fd, self.dfd, self.journal = fd, dfd, journal
            self.done, self.claimed = done, RangeSet()
            self.pace_floor = done.spans[-1][1] if done.spans else 0
            self.direct = direct
            self.single, self.streaming, self.probing = False, 0, False
            self.stream_attempts = Attempts(self.policy)
        return done.total

    def restart(self, prealloc: bool) -> None:
        """Throw the bytes away and start over on a new inode (after a hash mismatch)."""
        self.close()
        self.restarts += 0 if self.unjournaled else 1
        self.url = None
        self.open(fresh=True, prealloc=prealloc, direct=self.direct)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
        for fd in (self.dfd, self.fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = self.dfd = -1

    # -- claims (called by workers) --------------------------------------------------------------

    def claim(self, want: int) -> Span | None:
        """Reserve the next free span of at most ``want`` bytes for one worker."""
        with self.lock:
            if self.finished:
                return None
            if self.single:
                if self.streaming:
                    return None
                span = next_part(self.size, _union(self.done, self.claimed), self.size)
            elif self.probing:
                return None
            else:
                span = next_part(self.size, _union(self.done, self.claimed), want)
            if span is not None:
                self.claimed.add(*span)
                self.streaming += int(self.single)
                self.probing = not self.single and not self.ranges_ok
            return span

    def range_honoured(self) -> None:
        """A 206 came: parts of this file may now go out in parallel."""
        with self.lock:
            changed = self.probing or not self.ranges_ok
            self.ranges_ok, self.probing = True, False
        if changed:
            self.wake()

    def become_streamer(self) -> bool:
        """A 200 came to a Range request: True if the caller is now the file's one stream,
        False if another connection already streams it (the caller drops its answer)."""
        with self.lock:
            self.single, self.probing = True, False
            if self.streaming:
                return False
            self.streaming = 1
            return True

    def end_probe(self) -> None:
        """The probing request ended without an answer about Range: let another try."""
        with self.lock:
            was, self.probing = self.probing, False
        if was:
            self.wake()

    def lease(self, span: Span) -> Lease:
        """Register a claimed span being fetched, so its tail can be stolen."""
        with self.lock:
            lease = Lease(end=span[1], reading_to=span[0])
            self.leases.append(lease)
            return lease

    def end_lease(self, lease: Lease) -> int:
        """Stop sharing the span (nothing more can be stolen); returns its final end."""
        with self.lock:
            if lease in self.leases:
                self.leases.remove(lease)
            return lease.end

    def read_limit(self, lease: Lease, pos: int, want: int) -> int:
        """How far a worker at ``pos`` may read now (at most ``want`` more bytes)."""
        with self.lock:
            lease.reading_to = max(pos, min(pos + want, lease.end))
            return lease.reading_to

    def steal(self, minimum: int) -> Span | None:
        """Split the largest unread tail of a span in flight: the back half becomes the
        caller's (MiB-aligned, at least ``minimum`` bytes), so no connection sits idle while
        one slow part finishes."""
        with self.lock:
            if self.finished or self.single or not self.leases:
                return None
            victim = max(self.leases, key=lambda lease: lease.end - lease.reading_to)
            left = victim.end - victim.reading_to
            if left < 2 * minimum:
                return None
            mid = victim.reading_to + left // 2
            mid += -mid % MiB
            if victim.end - mid < minimum:
                return None
            span = (mid, victim.end)
            victim.end = mid  # [mid, end) stays claimed: by the caller now
            return span

    def claim_within(self, start: int, end: int) -> list[Span]:
        """For a whole-file stream: the pieces of [start, end) nobody has done or claimed."""
        with self.lock:
            free = _union(self.done, self.claimed)
            spans = [(s, e) for s, e in free.gaps(end, start)]
            for span in spans:
                self.claimed.add(*span)
            return spans

    def complete(self, start: int, end: int) -> None:
        """[start, end) is written: record it (journal first, then the set the hasher reads)."""
        if end <= start:
            return
        assert self.journal is not None
        self.journal.append(start, end)
        with self.lock:
            self.done.add(start, end)
            self.claimed.remove(start, end)

    def release(self, start: int, end: int) -> None:
        with self.lock:
            self.claimed.remove(start, end)

    def end_stream(self) -> None:
        with self.lock:
            self.streaming = max(0, self.streaming - 1)

    def done_from(self, pos: int) -> int:
        """End of the done run that contains ``pos`` (``pos`` itself if it is not done)."""
        with self.lock:
            for start, end in self.done:
                if start <= pos < end:
                    return end
            return pos

    # -- in-memory hashing (workers offer, the hasher takes) ------------------------------------

    def offer(self, pos: int, buffer: mmap.mmap, length: int, window: int) -> bool:
        """Keep ``buffer`` (already written at ``pos``) for the hasher if it is near its reach.

        Every byte is written once, before ``complete`` records it, so the hasher has never
        passed ``pos``; the stashed bytes are exactly what the file holds there.
        """
        with self.lock:
            if self.finished or pos < self.hashed or pos - self.hashed >= window:
                return False
            self.stash[pos] = (buffer, length)
            return True

    def next_to_hash(self) -> tuple[mmap.mmap | None, int]:
        """What the hasher does next: (buffer, length) to hash from memory, or (None, n) to
        read ``n`` bytes back from the file (n == 0: nothing contiguous yet)."""
        with self.lock:
            at = self.hashed
            held = self.stash.pop(at, None)
            if held is not None:
                return held
            upto = self.done.prefix()
            ahead = [k for k in self.stash if k > at]
            if ahead:
                upto = min(upto, min(ahead))
            return None, max(0, upto - at)

    def ahead(self, pos: int) -> int:
        """How far a worker at ``pos`` has run past what the hasher has to read anyway.

        0 while the hasher keeps up with the contiguous prefix: then the order bytes arrive in,
        not hashing, holds it back (on a WAN, parts far apart come at network speed), and a
        worker that waited would only slow the download.
        """
        with self.lock:
            floor = max(self.hashed, self.pace_floor)
            if self.done.prefix() - floor < HASHER_SLACK:
                return 0
        return pos - floor

    def drain_stash(self) -> list[mmap.mmap]:
        with self.lock:
            buffers = [buffer for buffer, _ in self.stash.values()]
            self.stash.clear()
            return buffers

    def prefix(self) -> int:
        with self.lock:
            return self.done.prefix()

    def remaining(self) -> int:
        with self.lock:
            return self.size - self.done.total

    def unclaimed(self) -> int:
        with self.lock:
            return self.size - _union(self.done, self.claimed).total


def _union(a: RangeSet, b: RangeSet) -> RangeSet:
    out = a.copy()
    for span in b:
        out.add(*span)
    return out
