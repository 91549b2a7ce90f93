"""What the fixture server was asked and what it sent, for assertions about traffic."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class LoggedRequest:
    """One request as the server saw it.

    ``status`` is what the client was sent (499: the connection broke before any status line);
    ``bytes_sent`` counts file body bytes only; ``complete`` is False when a file body was cut
    (by a fault or by the client going away).
    """

    method: str
    host: str
    path: str
    query: str
    listener: str  # "hub" or "cdn"
    range: str | None
    authorization: bool
    peer_host: str = ""  # the client's address: a proxy's when the request came through one
    status: int = 0
    bytes_sent: int = 0
    repo_id: str | None = None
    file: str | None = None
    fault: str | None = None
    complete: bool = False
    peer: int = 0  # the client's port: requests with the same one came over one connection

    def to_json(self) -> dict[str, Any]:
        """Plain dict for ``GET /_fixture/log``."""
        return asdict(self)


class RequestLog:
    """Thread-safe request list plus per-file byte counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []
        self._bytes: dict[tuple[str, str], int] = defaultdict(int)
        self._busy = 0
        self._idle = threading.Condition(self._lock)

    def begin(self) -> None:
        """A request is being answered (``end`` when it is logged or dropped)."""
        with self._lock:
            self._busy += 1

    def end(self) -> None:
        with self._lock:
            self._busy -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no request is being answered; False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def record(self, entry: LoggedRequest) -> None:
        """Append a finished request and add its body bytes to the file's counter."""
        with self._lock:
            self._entries.append(entry)
            if entry.file is not None and entry.repo_id is not None:
                self._bytes[(entry.repo_id, entry.file)] += entry.bytes_sent

    def entries(self) -> list[LoggedRequest]:
        """Snapshot, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget requests and counters."""
        with self._lock:
            self._entries.clear()
            self._bytes.clear()

    def bytes_served(self, path: str) -> int:
        """Body bytes sent for a file, named ``file`` or ``org/name/file`` (any repo case)."""
        with self._lock:
            return sum(
                n
                for (repo_id, file), n in self._bytes.items()
                if path == file or path.lower() == f"{repo_id}/{file}".lower()
            )

    def counters(self) -> dict[str, int]:
        """Body bytes per ``org/name/file``."""
        with self._lock:
            return {f"{repo}/{file}": n for (repo, file), n in self._bytes.items()}
