"""Fetch files over HTTP into partial files, verified while the bytes arrive.

A job is done when its partial file holds exactly the expected bytes, fsynced: right size and
right sha256 (LFS) or git blob sha1 (small files). Only then may the store name it.

Single flight: each partial has a lock (the store names it); a job whose lock another process
holds is left to the end, then waited for, then skipped if ``is_stored`` says the blob has appeared.
Correctness never depends on the lock: a fresh start always makes a new inode, and a partial is
only resumed from its own journal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from filelock import FileLock, Timeout

from .._errors import Cancelled, IntegrityError
from .._hub import HubSettings
from .._progress import TransferStats
from .._store import partial_lock
from ._file import FileState
from ._options import TransferJob, TransferOptions
from ._run import Run

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
            if job.sha256 is None and job.git_sha1 is None and not job.unverified:
                raise IntegrityError(f"{job.path}: no published hash to verify it against")
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
        files = [FileState(job, self.options.policy) for job in jobs]
        return Run(files, stats, cancel, self.settings, self.options).execute()


def _lock(job: TransferJob) -> FileLock:
    return partial_lock(job.partial)


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
