"""Fetch files over HTTP into partial files, verified while the bytes arrive.

A job is done when its partial file holds exactly the expected bytes, fsynced: right size and
right sha256 (LFS) or git blob sha1 (small files). Only then may the store name it.

Single flight: each partial has a ``<partial>.lock``; a job whose lock another process holds is
left to the end, then waited for, then skipped if ``is_stored`` says the blob has appeared.
Correctness never depends on the lock: a fresh start always makes a new inode, and a partial is
only resumed from its own journal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from .._errors import Cancelled
from .._hub import HubSettings
from .._progress import TransferStats
from ._file import FileState
from ._retry import RetryPolicy
from ._run import Run, RunConfig
from ._worker import WorkerConfig


@dataclass(frozen=True)
class TransferJob:
    url: str
    path: str
    size: int
    sha256: str | None
    git_sha1: str | None
    partial: Path


@dataclass(frozen=True)
class TransferOptions:
    """Knobs of the engine; the defaults suit both loopback and the real Hub."""

    max_connections: int = 4
    timeout: float = 30.0  # connect timeout, and the default stall timeout
    max_redirects: int = 5
    stall_timeout: float | None = None  # no byte for this long: drop the connection, re-ask
    retries: int = 6  # tries without progress, per part
    backoff_base: float = 0.25
    backoff_cap: float = 10.0
    retry_after_cap: float = 60.0
    buffer_size: int = 1 << 20  # per connection
    checkpoint: int = 2 << 20  # journal progress inside a part this often
    journal_interval: float = 0.5  # fdatasync journals this often
    preallocate: bool = True
    direct_io: bool = False  # O_DIRECT for aligned writes and hash read-back
    hash_window: int = 64 << 20  # received buffers kept for the hasher (memory bound)
    max_part: int = 64 << 20  # largest Range request

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
            retry_after_cap=self.retry_after_cap,
        )


StoredCheck = Callable[[TransferJob], str | None]


class TransferEngine:
    def __init__(
        self,
        settings: HubSettings,
        options: TransferOptions | None = None,
        *,
        is_stored: StoredCheck | None = None,
    ) -> None:
        """``is_stored(job)`` returns the blob's sha256 once another process committed it."""
        self.settings = settings
        self.options = options or TransferOptions()
        self.is_stored = is_stored

    def run(
        self, jobs: Sequence[TransferJob], stats: TransferStats, cancel: threading.Event
    ) -> dict[str, str]:
        """Fetch every job; returns repo path -> sha256 of the verified partial file."""
        for job in jobs:
            stats.add_file(job.path, job.size)
        unique = {job.partial: job for job in jobs}
        results: dict[str, str] = {}
        mine, busy = _try_locks(list(unique.values()))
        try:
            results |= self._run_locked(list(mine), stats, cancel)
        finally:
            _release(mine.values())
        for job in sorted(busy, key=lambda j: str(j.partial)):
            results |= self._wait_and_run(job, stats, cancel)
        for job in jobs:  # the same blob under two paths is fetched once
            if job.path not in results:
                results[job.path] = results[unique[job.partial].path]
                stats.finish(job.path)
        return results

    def _wait_and_run(
        self, job: TransferJob, stats: TransferStats, cancel: threading.Event
    ) -> dict[str, str]:
        """Another process holds this blob: wait for it, then reuse its work."""
        lock = _lock(job)
        while True:
            if cancel.is_set():
                raise Cancelled(f"download of {job.path} cancelled")
            try:
                lock.acquire(timeout=0.2)
                break
            except Timeout:
                continue
        try:
            sha256 = self.is_stored(job) if self.is_stored is not None else None
            if sha256 is not None:
                stats.finish(job.path)
                return {job.path: sha256}
            return self._run_locked([job], stats, cancel)
        finally:
            lock.release()

    def _run_locked(
        self, jobs: list[TransferJob], stats: TransferStats, cancel: threading.Event
    ) -> dict[str, str]:
        if not jobs:
            return {}
        opts = self.options
        policy = opts.policy()
        config = RunConfig(
            worker=WorkerConfig(
                settings=self.settings,
                policy=policy,
                stall_timeout=opts.stall_timeout or opts.timeout,
                max_redirects=opts.max_redirects,
                buffer_size=opts.buffer_size,
                checkpoint=opts.checkpoint,
            ),
            connections=max(1, opts.max_connections),
            preallocate=opts.preallocate,
            direct_io=opts.direct_io,
            journal_interval=opts.journal_interval,
            hash_window=opts.hash_window,
            max_part=opts.max_part,
        )
        files = [FileState(job, policy) for job in jobs]
        return Run(files, stats, cancel, config).execute()


def _lock(job: TransferJob) -> FileLock:
    job.partial.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(job.partial.with_name(job.partial.name + ".lock"))


def _try_locks(
    jobs: Sequence[TransferJob],
) -> tuple[dict[TransferJob, FileLock], list[TransferJob]]:
    """Locks taken now (job -> lock) and jobs another process is already fetching."""
    mine: dict[TransferJob, FileLock] = {}
    busy: list[TransferJob] = []
    for job in jobs:
        lock = _lock(job)
        try:
            lock.acquire(timeout=0)
            mine[job] = lock
        except Timeout:
            busy.append(job)
    return mine, busy


def _release(locks: Iterable[FileLock]) -> None:
    for lock in locks:
        lock.release()
