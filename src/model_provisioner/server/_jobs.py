"""Download jobs: one per model, joinable late, cancellable, kept a while after they end.

``ModelProvisioner.install`` blocks and reports progress from its worker threads. A job runs it
on a thread, hops every event onto the event loop and keeps only the latest one. Subscribers wait
for that state to change, so a slow or late subscriber skips to the newest snapshot instead of
queueing every event, and every subscriber ends with the same single terminal event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

from .._errors import Cancelled, JobNotFound, ProvisionerError, ShuttingDown
from .._models import ModelInfo
from .._progress import DownloadProgress, Stage
from .._provisioner import ModelProvisioner
from .._references import ModelReference

log = logging.getLogger("model_provisioner.server")


class JobStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"


def job_key(ref: ModelReference) -> str:
    """Two requests naming the same catalog entry share a job (repo ids compare without case)."""
    return ref.with_repo(ref.repo.casefold()).canonical


@dataclass(eq=False)
class Job:
    """One pull in flight or recently finished; ``state`` is the latest DownloadProgress."""

    id: str
    key: str
    reference: str
    update: bool
    created_at: float
    state: DownloadProgress
    allow_unverified: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    finished_at: float | None = None
    model: ModelInfo | None = None
    error: ProvisionerError | None = None
    version: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def status(self) -> JobStatus:
        if self.model is not None:
            return JobStatus.COMPLETE
        if self.error is not None:
            return JobStatus.CANCELLED if isinstance(self.error, Cancelled) else JobStatus.ERROR
        return JobStatus.RUNNING

    @property
    def done(self) -> bool:
        return self.state.stage.terminal

    def progress(self, event: DownloadProgress) -> None:
        """A library event (on the loop); the terminal one is ours to send, from the result."""
        if not self.done and not event.stage.terminal:
            self._publish(event)

    def succeed(self, info: ModelInfo) -> None:
        self.model = info
        size = info.total_size
        self._publish(
            DownloadProgress(
                stage=Stage.COMPLETE,
                reference=info.reference,
                bytes_done=size,
                bytes_total=size,
                bytes_verified=size,
                files_done=info.file_count,
                files_total=info.file_count,
                path=str(info.model_path),
            )
        )

    def fail(self, error: ProvisionerError) -> None:
        self.error = error
        self._publish(
            dataclasses.replace(
                self.state,
                stage=Stage.ERROR,
                speed=0.0,
                eta=None,
                stalled=False,
                active_files=(),
                error=str(error),
                error_code=error.code,
            )
        )

    def _publish(self, event: DownloadProgress) -> None:
        if self.done:
            return
        self.state = event
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def events(self, heartbeat: float = 15.0) -> AsyncIterator[DownloadProgress | None]:
        """The current state at once, then each newer state, ending after the terminal one.

        ``None`` after ``heartbeat`` seconds without news, so a stream can send a keep-alive.
        """
        seen = -1
        while True:
            if self.version == seen:
                try:
                    await asyncio.wait_for(self._changed.wait(), heartbeat)
                except TimeoutError:
                    yield None
                continue
            seen, state = self.version, self.state
            yield state
            if state.stage.terminal:
                return


@dataclass(frozen=True)
class Submission:
    """What a download request led to: an installed model, or a job (new or joined)."""

    model: ModelInfo | None = None
    job: Job | None = None
    joined: bool = False


class JobManager:
    """Starts, dedupes, lists and cancels jobs; must be used from the event loop's thread."""

    def __init__(
        self,
        provisioner: ModelProvisioner,
        *,
        keep_finished: float = 600.0,
        max_parallel: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provisioner = provisioner
        self.keep_finished = keep_finished
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._running: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="download-job")
        self._closing = False

    def submit(
        self, reference: str, *, update: bool = False, allow_unverified: bool = False
    ) -> Submission:
        """Join the running job for this model, else answer an installed one, else start."""
        if self._closing:
            raise ShuttingDown("the service is shutting down; no new downloads")
        ref = self.provisioner.parse(reference)
        key = job_key(ref)
        running = self._running.get(key)
        if running is not None:
            return Submission(job=running, joined=True)
        if not update:
            model = self.provisioner.whole_model(ref)
            if model is not None:
                return Submission(model=model)
        return Submission(job=self._start(ref, key, update, allow_unverified))

    def get(self, job_id: str) -> Job:
        self._prune()
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no download job {job_id!r}", hint="finished jobs are kept a while")
        return job

    def list(self) -> list[Job]:
        self._prune()
        return sorted(self._jobs.values(), key=lambda j: j.created_at)

    def cancel(self, job_id: str) -> Job:
        """Ask the transfer to stop at a resumable point; the job ends with ``cancelled``."""
        job = self.get(job_id)
        job.cancel.set()
        return job

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Refuse new jobs, cancel running ones and give their threads ``timeout`` to stop."""
        self._closing = True
        for job in self._running.values():
            job.cancel.set()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(
        self, ref: ModelReference, key: str, update: bool, allow_unverified: bool = False
    ) -> Job:
        now = self.clock()
        job = Job(
            id=secrets.token_hex(8),
            key=key,
            reference=ref.canonical,
            update=update,
            created_at=now,
            state=DownloadProgress(stage=Stage.RESOLVING, reference=ref.canonical),
            allow_unverified=allow_unverified,
        )
        self._jobs[job.id] = job
        self._running[key] = job
        self._tasks[job.id] = asyncio.get_running_loop().create_task(self._drive(job))
        return job

    async def _drive(self, job: Job) -> None:
        loop = asyncio.get_running_loop()

        def on_progress(event: DownloadProgress) -> None:
            # Called from transfer threads; the loop may already be closed at exit.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(job.progress, event)

        call = functools.partial(
            self.provisioner.install,
            job.reference,
            update=job.update,
            progress=on_progress,
            cancel=job.cancel,
            allow_unverified=job.allow_unverified,
        )
        started = time.monotonic()
        log.info("job start id=%s reference=%s update=%s", job.id, job.reference, job.update)
        try:
            info = await loop.run_in_executor(self._pool, call)
        except ProvisionerError as exc:
            job.fail(exc)
        except asyncio.CancelledError:
            job.fail(Cancelled(f"download of {job.reference} cancelled: the service stopped"))
            raise
        except Exception as exc:
            log.exception("download job %s failed", job.id)
            job.fail(ProvisionerError(f"internal error: {type(exc).__name__}"))
        else:
            job.succeed(info)
        finally:
            job.finished_at = self.clock()
            _log_end(job, time.monotonic() - started)
            if self._running.get(job.key) is job:
                del self._running[job.key]
            self._tasks.pop(job.id, None)

    def _prune(self) -> None:
        limit = self.clock() - self.keep_finished
        for job_id, job in list(self._jobs.items()):
            if job.finished_at is not None and job.finished_at < limit:
                del self._jobs[job_id]


def _log_end(job: Job, seconds: float) -> None:
    """The job's last line: its outcome, the error code if any, bytes and duration."""
    error = f" error={job.error.code}" if job.error is not None else ""
    log.log(
        logging.WARNING if job.status is JobStatus.ERROR else logging.INFO,
        "job end id=%s reference=%s status=%s%s bytes=%d duration_s=%.2f",
        job.id,
        job.reference,
        job.status.value,
        error,
        job.state.bytes_done,
        seconds,
    )
