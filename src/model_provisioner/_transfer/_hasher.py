"""The ordered hasher: follows each file's contiguous prefix and feeds sha256 (and git sha1).

One thread for the whole run. Workers hand it the buffers they have just written (``offer``,
see _pool.py), so most bytes are hashed straight from memory; whatever was not offered (too
far ahead of the hasher, or the pool was empty) is read back with ``preadv`` while it is still
cached. Workers are paced so they do not outrun it by more than the pool holds. It starts
writeback of what it has hashed and hands each fully hashed file to ``on_hashed``: the hash is
ready moments after the last byte arrives, with no second pass over the file.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

from .._platform import start_writeback, write_out_and_drop
from .._progress import TransferStats
from ._direct import aligned_buffer, read_at
from ._file import FileState
from ._pool import BufferPool

READ_SIZE = 4 << 20
WRITEBACK_EVERY = 16 << 20
PASS_BUDGET = 32 << 20  # per file and pass, so one big file does not starve the others


class Hasher:
    """Background thread; ``poke`` after completing a range, ``stop`` at the end."""

    def __init__(
        self,
        files: list[FileState],
        stats: TransferStats,
        on_hashed: Callable[[FileState], None],
        on_error: Callable[[BaseException], None],
        pool: BufferPool,
    ) -> None:
        self.files = files
        self.pool = pool
        self.stats = stats
        self.on_hashed = on_hashed
        self.on_error = on_error
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._buffer = aligned_buffer(READ_SIZE)
        self._flushed: dict[int, int] = {}
        self._thread = threading.Thread(target=self._run, name="hasher", daemon=True)
        self._dropper: queue.Queue[tuple[int, int, int] | None] = queue.Queue()
        self._dropper_thread = threading.Thread(target=self._drop, name="dropper", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._dropper_thread.start()

    def _drop(self) -> None:
        """Behind the hasher: wait for hashed ranges to reach the disk, then uncache them."""
        while (item := self._dropper.get()) is not None:
            fd, offset, length = item
            try:
                write_out_and_drop(fd, offset, length)
            finally:
                os.close(fd)

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._dropper.put(None)
        self._dropper_thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._wake.wait(0.2)
                self._wake.clear()
                while self._pass():
                    if self._stop.is_set():
                        return
        except BaseException as exc:
            self.on_error(exc)

    def _pass(self) -> bool:
        """Hash what became contiguous in every file; True if anything moved."""
        moved = False
        for state in list(self.files):
            if state.finished or state.verified or state.fd < 0:
                continue
            if self._hash(state, PASS_BUDGET):
                moved = True
            # Hashed bytes may run ahead of ``done`` (offered, not yet recorded): the file is
            # finished only once every byte is also journaled as done.
            if state.hashed == state.size and state.prefix() == state.size:
                self.on_hashed(state)
                moved = True
        return moved

    def _hash(self, state: FileState, budget: int) -> bool:
        """Hash up to ``budget`` bytes past ``state.hashed``, from offered buffers where there
        are some, else read back from the file; True if anything was hashed."""
        start = state.hashed
        while state.hashed - start < budget:
            held, n = state.next_to_hash()
            if held is not None:
                with memoryview(held) as whole:
                    self._update(state, whole[:n])
                self.pool.give(held)
                self.pool.advanced()
                continue
            if n <= 0:
                break
            view = memoryview(self._buffer)
            got = read_at(state, view, state.hashed, min(READ_SIZE, n))
            if got <= 0:
                raise OSError(f"short read from {state.job.partial.name} at {state.hashed}")
            self._update(state, view[:got])
            self.pool.advanced()
        if state.hashed == start:
            return False
        self.stats.verified(state.job.path, state.hashed - start)
        flushed = self._flushed.get(id(state), 0)
        if state.hashed - flushed >= WRITEBACK_EVERY or state.hashed == state.size:
            start_writeback(state.fd, flushed, state.hashed - flushed)
            self._dropper.put((os.dup(state.fd), flushed, state.hashed - flushed))
            self._flushed[id(state)] = state.hashed
        return True

    @staticmethod
    def _update(state: FileState, chunk: memoryview) -> None:
        state.sha256.update(chunk)
        if state.sha1 is not None:
            state.sha1.update(chunk)
        state.hashed += len(chunk)

    def forget(self, state: FileState) -> None:
        """A file restarted from scratch: its writeback mark starts over, its stash is void."""
        self._flushed.pop(id(state), None)
        for buffer in state.drain_stash():
            self.pool.give(buffer)
