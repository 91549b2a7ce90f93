"""Download progress: the event type, live counters, and the reporter that samples them.

The transfer engine only bumps counters; a reporter samples them a few times a second with an
injected clock and emits DownloadProgress events, so the CLI, the HTTP service and library
callers all see the same events at a bounded rate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    RESOLVING = "resolving"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    COMPLETE = "complete"
    ERROR = "error"

    @property
    def terminal(self) -> bool:
        return self in (Stage.COMPLETE, Stage.ERROR)


@dataclass(frozen=True)
class DownloadProgress:
    """One snapshot of a pull; ``bytes_done`` came off the network, ``bytes_verified`` is hashed."""

    stage: Stage
    reference: str
    bytes_done: int = 0
    bytes_total: int = 0
    bytes_verified: int = 0
    speed: float = 0.0
    eta: float | None = None
    current_file: str | None = None
    files_done: int = 0
    files_total: int = 0
    stalled: bool = False
    path: str | None = None
    error: str | None = None
    error_code: str | None = None
    active_files: tuple[tuple[str, int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stage"] = self.stage.value
        data["active_files"] = [
            {"path": p, "bytes_done": d, "bytes_total": t} for p, d, t in self.active_files
        ]
        return data


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass
class FileCounter:
    size: int
    received: int = 0
    verified: int = 0
    done: bool = False
    last_byte_at: float = 0.0


@dataclass
class TransferStats:
    """Counters the transfer threads bump; readers take a consistent copy under the lock."""

    clock: Callable[[], float] = time.monotonic
    files: dict[str, FileCounter] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_file(self, path: str, size: int) -> None:
        with self.lock:
            self.files[path] = FileCounter(size=size, last_byte_at=self.clock())

    def received(self, path: str, n: int) -> None:
        with self.lock:
            counter = self.files[path]
            counter.received += n
            counter.last_byte_at = self.clock()

    def rewind(self, path: str, n: int) -> None:
        """Bytes thrown away (a corrupt file restarted) are not progress."""
        with self.lock:
            counter = self.files[path]
            counter.received = max(0, counter.received - n)
            counter.verified = min(counter.verified, counter.received)

    def verified(self, path: str, n: int) -> None:
        with self.lock:
            self.files[path].verified += n

    def finish(self, path: str) -> None:
        with self.lock:
            counter = self.files[path]
            counter.done = True
            counter.received = counter.verified = counter.size

    def copy(self) -> dict[str, FileCounter]:
        with self.lock:
            return {p: FileCounter(**asdict(c)) for p, c in self.files.items()}


class ProgressReporter:
    """Turns counters into DownloadProgress events, with speed over a sliding window."""

    def __init__(
        self,
        reference: str,
        callback: ProgressCallback | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        stall_after: float = 5.0,
        window: float = 3.0,
    ) -> None:
        self.reference = reference
        self.callback = callback
        self.clock = clock
        self.stall_after = stall_after
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()
        self.last: DownloadProgress | None = None

    def emit(self, event: DownloadProgress) -> DownloadProgress:
        self.last = event
        if self.callback is not None:
            self.callback(event)
        return event

    def stage(self, stage: Stage, **fields: Any) -> DownloadProgress:
        return self.emit(DownloadProgress(stage=stage, reference=self.reference, **fields))

    def sample(self, stats: TransferStats, base_done: int, base_total: int) -> DownloadProgress:
        files = stats.copy()
        now = self.clock()
        done = base_done + sum(c.received for c in files.values())
        verified = base_done + sum(c.verified for c in files.values())
        total = base_total + sum(c.size for c in files.values())
        speed = self._speed(now, done)
        active = [(p, c) for p, c in files.items() if not c.done and c.received > 0]
        stalled = bool(active) and all(now - c.last_byte_at > self.stall_after for _, c in active)
        if stalled:
            speed = 0.0
        remaining = total - done
        return self.stage(
            Stage.DOWNLOADING,
            bytes_done=done,
            bytes_total=total,
            bytes_verified=verified,
            speed=speed,
            eta=remaining / speed if speed > 0 else None,
            current_file=active[0][0] if active else None,
            files_done=sum(1 for c in files.values() if c.done),
            files_total=len(files),
            stalled=stalled,
            active_files=tuple((p, c.received, c.size) for p, c in active),
        )

    def _speed(self, now: float, done: int) -> float:
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        first_t, first_done = self._samples[0]
        elapsed = now - first_t
        return (done - first_done) / elapsed if elapsed > 0 else 0.0


class Ticker:
    """Calls ``tick`` every ``interval`` seconds on a thread until stopped."""

    def __init__(self, tick: Callable[[], object], interval: float = 0.25) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()
