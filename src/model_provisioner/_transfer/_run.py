"""One run of the engine: files, workers, the hasher, and the scheduler between them.

Workers ask ``next_work`` for a span; it hands out parts of the first file that has unclaimed
bytes (part size shrinks as the run nears its end, so every connection stays busy until the
last byte) and blocks while all remaining bytes are claimed by others. How many workers run is
the ``Scaler``'s call (see _scaling.py): the run samples the bytes received, starts workers
when it wants more, and a worker leaves when more run than it wants. The hasher finishes
files: verify, fsync, drop the journal; a mismatch restarts the file once from scratch.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .._digests import lfs_pointer_sha1
from .._errors import Cancelled, IntegrityError
from .._fsutil import durability, free_bytes
from .._hub import HubSettings
from .._progress import TransferStats
from ._file import FileState
from ._hasher import Hasher
from ._options import TransferOptions
from ._pool import BufferPool
from ._ranges import MIN_PART, MiB, Span, part_size
from ._scaling import Scaler
from ._wire import DiskContext, is_local, wire_errors
from ._worker import Stopped, Worker

log = logging.getLogger("model_provisioner.transfer")

# An idle worker takes the back half of a span in flight when that half is at least this big
# and the whole unread tail is a quarter second of one connection's measured rate: a new request
# costs a round trip, and the bytes the victim's connection already has in flight are thrown
# away. No rate measured yet, no stealing (on loopback a tail is gone before the first sample).
STEAL_MIN = MiB
LFS_BLOCK_MISSING = (
    "the server listed this LFS file without its 'lfs' block (sha256 and size), so the "
    "blob id it gave is that of the LFS pointer, not of the file; its listing is incomplete"
)
STEAL_SECONDS = 0.25


class Run:
    """Everything shared by the threads of one ``TransferEngine.run`` call."""

    def __init__(
        self,
        files: list[FileState],
        stats: TransferStats,
        cancel: threading.Event,
        settings: HubSettings,
        options: TransferOptions,
    ) -> None:
        self.files = files
        self.stats = stats
        self.cancel = cancel
        self.settings = settings
        self.options = options
        self.stop = threading.Event()
        self.cond = threading.Condition()
        self.errors: list[BaseException] = []
        self.results: dict[str, str] = {}
        self.workers: list[Worker] = []
        self.threads: list[threading.Thread] = []
        local = all(is_local(state.job.url) for state in files)
        self.scaler = Scaler(options.scaling(local), time.monotonic())
        self.wanted = self.scaler.level  # workers wanted now (under ``cond``)
        self.live = 0  # workers running (under ``cond``)
        size, window = options.buffer_size, options.hash_window
        # Paced against the hasher only on this host: on a WAN a paused connection's link
        # share is lost (pulls under load paused 0.2-8 worker-seconds each: benchmarks/README).
        self.pool = BufferPool(window // size, size, window, self._poke, pacing=local)
        self.hasher = Hasher(files, stats, self._hashed, self._fail, self.pool)
        for state in files:
            state.wake = self._wake
        # fdatasync of verified files, off the hasher thread (it goes on with the next file).
        self.finisher = ThreadPoolExecutor(2, thread_name_prefix="finish")

    @property
    def _max_part(self) -> int:
        """Parts small enough that all connections stay within the hasher's window, so what
        they receive is hashed from memory (adjacent parts: N connections span N parts),
        but never under half a second of one connection's measured rate: the round trip each
        request costs stays small beside its transfer. (On a WAN the network, not the hasher,
        is the limit, and what lies beyond the window is read back from the page cache.)"""
        options = self.options
        if options.hash_window <= 0:
            return options.max_part
        cap = options.hash_window // (self.wanted + 1)
        cap = max(cap, int(self.scaler.per_connection_rate * 0.5), MIN_PART)
        return min(options.max_part, cap - cap % MiB)  # whole MiB: aligned for direct I/O

    def _poke(self) -> None:
        self.hasher.poke()

    def _wake(self) -> None:
        """Claims may have opened up (a probe answered): workers waiting for work look again."""
        with self.cond:
            self.cond.notify_all()

    # -- top level ---------------------------------------------------------------------------------

    def execute(self) -> dict[str, str]:
        """Open every partial, run workers and hasher to the end, raise the first error."""
        log.debug("run: %d files, %d bytes", len(self.files), sum(f.size for f in self.files))
        try:
            self._open_all()
            self.hasher.start()
            with self.cond:
                for _ in range(self._worker_count()):
                    self._start_worker()
            self._wait()
            self._shutdown()
        finally:
            for state in self.files:
                if state.journal is not None:
                    with contextlib.suppress(OSError):
                        state.journal.sync()
                state.close()
        if self.errors:
            raise self.errors[0]
        if self.cancel.is_set():
            raise Cancelled("download cancelled; the partial files stay for a later resume")
        return self.results

    def _open_all(self) -> None:
        for state in self.files:
            with wire_errors(state.job.url, self.disk(state)):
                done = state.open(
                    fresh=False, prealloc=self.options.preallocate, direct=self.options.direct_io
                )
            if done:
                self.stats.received(state.job.path, done)

    def _worker_count(self) -> int:
        parts = sum(max(1, -(-f.size // MIN_PART)) for f in self.files)
        return max(1, min(self.wanted, parts))

    def _start_worker(self) -> None:
        """One more worker thread (called under ``cond``)."""
        worker = Worker(
            self.settings, self.options, self.stats, self.stop, self.disk, self.pool, self._pushback
        )
        self.workers.append(worker)
        name = f"fetch-{len(self.workers)}"
        thread = threading.Thread(target=self._work, args=(worker,), name=name, daemon=True)
        self.threads.append(thread)
        self.live += 1
        thread.start()

    def _scale(self, now: float) -> None:
        """Ask the scaler how many workers to run; start the missing ones if there is work
        for them (extra ones leave by themselves in ``next_work``). Called under ``cond``."""
        received = sum(worker.received for worker in self.workers)
        wanted = self.scaler.sample(now, received)
        if wanted != self.wanted:
            log.debug("connections %d -> %d (%d bytes in)", self.wanted, wanted, received)
        self.wanted = wanted
        while self.live < self.wanted and self._unclaimed() > 0:
            self._start_worker()

    def _pushback(self) -> None:
        """A worker met 429, 503 or a reset: fewer connections for a while."""
        with self.cond:
            self.wanted = self.scaler.pushback(time.monotonic())

    def _wait(self) -> None:
        """Poll for the end, for cancel, and sync journals now and then."""
        last_sync = time.monotonic()
        with self.cond:
            while not self._all_finished() and not self.stop.is_set():
                if self.cancel.is_set():
                    self.stop.set()
                    break
                self.cond.wait(0.05)
                self._scale(time.monotonic())
                if time.monotonic() - last_sync >= self.options.journal_interval:
                    self._sync_journals()
                    last_sync = time.monotonic()
        self.stop.set()

    def _shutdown(self) -> None:
        with self.cond:
            self.cond.notify_all()
        for worker in self.workers:
            for sock in worker.conns.sockets():
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join()
        self.hasher.stop()
        self.finisher.shutdown(wait=True)
        for worker in self.workers:
            worker.conns.close()

    def _sync_journals(self) -> None:
        for state in self.files:
            if state.journal is not None and not state.finished:
                with contextlib.suppress(OSError):
                    state.journal.sync()

    def _all_finished(self) -> bool:
        return all(state.finished for state in self.files)

    # -- workers -----------------------------------------------------------------------------------

    def _work(self, worker: Worker) -> None:
        counted = True  # in ``live`` until next_work lets it go
        try:
            while (work := self.next_work()) is not None:
                state, span = work
                worker.fetch(state, span)
                self.hasher.poke()
                with self.cond:
                    self.cond.notify_all()
            counted = False
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(exc)
        finally:
            if counted:
                with self.cond:
                    self.live -= 1
            elif not self.stop.is_set():
                worker.conns.close()  # left early: free its sockets (at the end, shutdown does)

    def next_work(self) -> tuple[FileState, Span] | None:
        """The next span to fetch; blocks while everything left is claimed by others.
        None: the run is over, or more workers run than are wanted (this one leaves)."""
        with self.cond:
            while not self.stop.is_set() and self.live <= self.wanted:
                want = part_size(self._unclaimed(), self.wanted, self._max_part)
                for state in self.files:
                    span = state.claim(want)
                    if span is not None:
                        return state, span
                rate = self.scaler.per_connection_rate
                for state in self.files if rate > 0 else ():
                    span = state.steal(max(STEAL_MIN, int(rate * STEAL_SECONDS / 2)))
                    if span is not None:
                        log.debug("steal %s %d+%d", state.job.path, span[0], span[1] - span[0])
                        return state, span
                if self._all_finished():
                    break
                self.cond.wait(0.1)
            self.live -= 1
        return None

    def _unclaimed(self) -> int:
        return sum(state.unclaimed() for state in self.files if not state.finished)

    def _fail(self, exc: BaseException) -> None:
        with self.cond:
            self.errors.append(exc)
            self.stop.set()
            self.cond.notify_all()

    # -- hasher callbacks --------------------------------------------------------------------------

    def _hashed(self, state: FileState) -> None:
        """Every byte of ``state`` is hashed: keep it (verified and durable) or start over."""
        job = state.job
        problem = _mismatch(state)
        if problem is None:
            state.verified = True
            self.finisher.submit(self._finish, state)
            return
        if _listed_by_its_lfs_pointer(state):  # fetching it again cannot help
            raise IntegrityError(f"{job.path}: {LFS_BLOCK_MISSING}", problems=[LFS_BLOCK_MISSING])
        if state.restarts >= 1 and not state.unjournaled:
            raise IntegrityError(f"{job.path}: {problem} twice; giving up", problems=[problem])
        self.stats.rewind(job.path, job.size)
        self.hasher.forget(state)
        with wire_errors(job.url, self.disk(state)):
            state.restart(self.options.preallocate)
        with self.cond:
            self.cond.notify_all()

    def _finish(self, state: FileState) -> None:
        """Verified: make it durable, drop its journal, report it done."""
        job = state.job
        try:
            with wire_errors(job.url, self.disk(state)):
                durability.fdatasync(state.fd, job.partial)
            assert state.journal is not None
            state.journal.remove()
            state.close()
            self.stats.finish(job.path)
            log.debug("finished %s", job.path)
            with self.cond:
                state.finished = True
                self.results[job.path] = state.sha256.hexdigest()
                self.cond.notify_all()
        except BaseException as exc:
            self._fail(exc)

    def disk(self, state: FileState) -> DiskContext:
        folder = state.job.partial.parent
        return DiskContext(
            state.job.partial,
            need=lambda: sum(f.remaining() for f in self.files if not f.finished),
            have=lambda: free_bytes(folder),
        )


def _listed_by_its_lfs_pointer(state: FileState) -> bool:
    """The git sha1 published is that of the LFS pointer for these very bytes: the listing
    left out the file's ``lfs`` block (sha256, size), which a mirror must not."""
    job = state.job
    return bool(job.git_sha1) and job.git_sha1 == lfs_pointer_sha1(
        state.sha256.hexdigest(), job.size
    )


def _mismatch(state: FileState) -> str | None:
    job = state.job
    if job.sha256 and state.sha256.hexdigest() != job.sha256:
        return f"sha256 mismatch (got {state.sha256.hexdigest()[:12]}...)"
    if job.git_sha1 and state.sha1 is not None and state.sha1.hexdigest() != job.git_sha1:
        return f"git sha1 mismatch (got {state.sha1.hexdigest()[:12]}...)"
    return None
