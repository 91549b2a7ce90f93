"""Received buffers handed from workers to the hasher, so most bytes are hashed from memory.

A worker that has written a buffer at ``pos`` offers it to the file (``FileState.offer``) when
``pos`` lies within ``window`` bytes of what the hasher has reached and the pool has a spare
buffer: the worker goes on with the spare, the hasher later hashes the offered buffer and gives
it back. Otherwise the worker keeps its buffer and the hasher reads those bytes back from the
page cache, as before. Memory is bounded by the pool: ``count`` buffers of ``size`` bytes,
allocated once (anonymous mappings, page-aligned for direct I/O) and reused.
"""

from __future__ import annotations

import mmap
import threading
import time
from collections.abc import Callable

from ._direct import aligned_buffer

PACE_LIMIT = 1.0


class BufferPool:
    def __init__(
        self,
        count: int,
        size: int,
        window: int,
        on_offer: Callable[[], None],
        *,
        pacing: bool = True,
    ) -> None:
        """``pacing``: workers wait for a lagging hasher (``pace``). Off for a remote server:
        there a waiting connection's share of the link is lost for good (each connection is
        capped, so it cannot catch up), to save only the CPU of reading its bytes back."""
        self.size = size
        self.window = window
        self.on_offer = on_offer
        self.pacing = pacing
        self._lock = threading.Lock()
        self._free: list[mmap.mmap] = []
        self._unmade = max(0, count)
        self.progress = threading.Condition()

    def advanced(self) -> None:
        """The hasher moved: wake workers waiting in ``pace``."""
        with self.progress:
            self.progress.notify_all()

    def pace(self, ahead: Callable[[int], int], pos: int, stop: threading.Event) -> None:
        """Backpressure: wait while ``ahead(pos)`` (bytes a worker is past its file's hasher) is
        at least the window, so receiving never outruns hashing by more than the pool holds
        (what runs ahead would be read back from the file: more CPU on a shared machine).

        Waits at most ``PACE_LIMIT`` per call: pacing is an optimisation, never a dependency.
        """
        if not self.pacing or self.window <= 0 or ahead(pos) < self.window:
            return
        deadline = time.monotonic() + PACE_LIMIT
        with self.progress:
            while ahead(pos) >= self.window and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.progress.wait(min(left, 0.05))

    def take(self) -> mmap.mmap | None:
        """A spare buffer, or None when all are in flight."""
        with self._lock:
            if self._free:
                return self._free.pop()
            if self._unmade:
                self._unmade -= 1
            else:
                return None
        return aligned_buffer(self.size)

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            self._free.append(buffer)
