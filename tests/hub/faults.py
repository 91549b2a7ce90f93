"""Fault injection: what can go wrong between a client and a Hub, on demand.

A fault names a glob, a kind and how many times it fires. The glob is matched (fnmatch, so ``*``
also crosses ``/``) against the repo file path, the repo id and the URL path of a request; any
match counts. Faults are consulted at three stages, by kind:

- request: ``status``, ``rate_limit``, ``junk`` (200 with a body that is not JSON), ``hang``
  (``seconds`` of silence before answering), on any method unless ``methods`` says otherwise;
  these reach the metadata routes too (``/api/models/...``: target them with a path glob such
  as ``"/api/models/*"`` or ``"/api/models/*/tree/*"``)
- headers: ``no_linked_headers`` (HEAD and GET on resolve and CDN)
- body:    ``reset``, ``stall``, ``short_body``, ``corrupt``, ``ignore_range``, ``slow_body``
  (``rate`` bytes a second after ``after_bytes``), ``chunked`` (no Content-Length) (a GET that
  sends file bytes, on the Hub listener or the CDN)
- listing: ``hostile_listing`` (model info siblings, tree, paths-info)

JSON form (``POST /_fixture/faults`` takes a list of these)::

    {"path": "*.gguf", "kind": "reset", "times": 1, "after_bytes": 65536, "where": "cdn"}

``times: null`` never runs out. ``where`` is ``"hub"``, ``"cdn"`` or null for both. A body
fault is only spent on a response it can land in (``after_bytes`` inside the body served, a
``corrupt`` span overlapping the range, ``ignore_range`` on a Range request).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from fnmatch import fnmatchcase
from typing import Any, Literal

FaultKind = Literal[
    "reset",
    "status",
    "rate_limit",
    "stall",
    "short_body",
    "corrupt",
    "ignore_range",
    "slow_body",
    "chunked",
    "no_linked_headers",
    "hostile_listing",
    "junk",
    "hang",
]
Stage = Literal["request", "headers", "body", "listing"]

STAGES: dict[str, Stage] = {
    "status": "request",
    "rate_limit": "request",
    "no_linked_headers": "headers",
    "reset": "body",
    "stall": "body",
    "short_body": "body",
    "corrupt": "body",
    "ignore_range": "body",
    "slow_body": "body",
    "chunked": "body",
    "hostile_listing": "listing",
    "junk": "request",
    "hang": "request",
}
HOSTILE_PATHS = ("../evil", "/etc/passwd", "a/../../b")


@dataclass
class Fault:
    """One injected failure; parameters a kind does not use are ignored."""

    path: str
    kind: FaultKind
    times: int | None = 1
    after_bytes: int = 0  # reset, stall, short_body, slow_body: body bytes sent first
    rate: int = 1  # slow_body: bytes a second after ``after_bytes``
    status: int = 503  # status
    retry_after: int = 1  # rate_limit: the Retry-After header, seconds
    seconds: float = 1.0  # stall, hang: how long to go silent
    offset: int = 0  # corrupt: file offset of the first wrong byte
    length: int = 16  # corrupt: how many bytes are flipped
    where: Literal["hub", "cdn"] | None = None
    methods: list[str] | None = None
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        if self.kind not in STAGES:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(STAGES)}")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """Build from the JSON form, refusing unknown keys so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, including how often it fired."""
        return asdict(self)

    @property
    def stage(self) -> Stage:
        """When in a request this fault is consulted."""
        return STAGES[self.kind]

    def matches(self, targets: tuple[str, ...], method: str, where: str) -> bool:
        """Whether this (unspent) fault applies to a request."""
        if self.times is not None and self.fired >= self.times:
            return False
        if self.where is not None and self.where != where:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return any(fnmatchcase(t, self.path) for t in targets if t)

    def lands_in(self, start: int, stop: int, *, ranged: bool) -> bool:
        """Whether a body fault would do anything to a body of file bytes [start, stop).

        A fault only counts as fired when it happens: ``after_bytes`` must fall inside the
        body, a ``corrupt`` span must overlap it, ``ignore_range`` needs a Range request.
        """
        if self.kind in ("reset", "short_body", "stall", "slow_body"):
            return self.after_bytes < stop - start
        if self.kind == "corrupt":
            return self.offset < stop and self.offset + self.length > start
        if self.kind == "ignore_range":
            return ranged
        return True


class FaultSet:
    """Thread-safe list of faults: tests add from their thread, the server takes from its loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, *faults: Fault) -> None:
        """Arm faults; they fire in the order added."""
        with self._lock:
            self._faults.extend(faults)

    def inject(self, path: str, kind: FaultKind, *, times: int | None = 1, **params: Any) -> Fault:
        """Arm one fault from keyword arguments and return it (its ``fired`` counts up)."""
        fault = Fault(path=path, kind=kind, times=times, **params)
        self.add(fault)
        return fault

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        """A snapshot of the armed faults (spent ones included, with their counts)."""
        with self._lock:
            return list(self._faults)

    def take(
        self,
        stage: Stage,
        targets: tuple[str, ...],
        method: str,
        where: str,
        lands: Callable[[Fault], bool] | None = None,
    ) -> Fault | None:
        """Fire the first matching fault of ``stage`` (that ``lands``), counting one firing."""
        with self._lock:
            for fault in self._faults:
                if (
                    fault.stage == stage
                    and fault.matches(targets, method, where)
                    and (lands is None or lands(fault))
                ):
                    fault.fired += 1
                    return fault
        return None
