"""Disk space promised to pulls in flight, shared across processes through small files.

Each pull writes ``<folder>/<pid>-<n>.json`` naming the partial files it will fill and their
sizes, and the blobs it found already stored and will link. Garbage collection and delete keep
whatever a live reservation names, so nothing a running pull can still commit disappears.
What a reservation still needs is computed when asked: size minus the blocks its partial file
already holds (the engine preallocates, so a started file stops counting at once). Files of dead
processes are ignored and swept. Check-and-claim runs under one lock so two pulls cannot
both take the last gigabyte.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ._errors import DiskSpaceError
from ._fsutil import allocated_bytes, atomic_write, free_bytes
from ._units import format_bytes

_counter = itertools.count()


def remaining_bytes(partials: Mapping[Path, int]) -> int:
    """Bytes still to be allocated for these partial files (size minus blocks they hold)."""
    total = 0
    for path, size in partials.items():
        try:
            held = allocated_bytes(path)
        except OSError:
            held = 0
        total += max(0, size - held)
    return total


class Reservation:
    """A claim on disk space; release it (or leave the ``with`` block) when the pull ends."""

    def __init__(self, path: Path, need: int) -> None:
        self.path = path
        self.need = need

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


@dataclass(frozen=True)
class Held:
    """What live pulls will still commit: their partial files and the stored blobs they link."""

    partials: frozenset[Path]
    blobs: frozenset[str]


class Reservations:
    """The reservation folder of one store (``<home>/partial/reservations``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def claim(
        self,
        partials: Mapping[Path, int],
        what: str,
        free: int | None = None,
        blobs: Iterable[str] = (),
    ) -> Reservation:
        """Reserve room for ``partials`` or raise DiskSpaceError("need X, have Y").

        ``free`` defaults to the free space of the folder's filesystem; ``blobs`` are the stored
        blobs the pull will link (kept from gc and delete until the reservation ends).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock  # imports asyncio: only when a pull reserves

        with FileLock(self.folder / ".lock"):
            need = remaining_bytes(partials)
            others = self.reserved_by_others()
            have = (free_bytes(self.folder) if free is None else free) - others
            if need > have:
                raise DiskSpaceError(
                    f"not enough disk space for {what}: "
                    f"need {format_bytes(need)}, have {format_bytes(max(have, 0))}",
                    hint=f"pulls in progress hold {format_bytes(others)}" if others else None,
                )
            path = self.folder / f"{os.getpid()}-{next(_counter)}.json"
            files = {str(p): s for p, s in partials.items()}
            body = {"pid": os.getpid(), "what": what, "partials": files, "blobs": sorted(blobs)}
            atomic_write(path, json.dumps(body).encode())
        return Reservation(path, need)

    def reserved_by_others(self) -> int:
        """What other live pulls (this process's too) still need; stale files are removed."""
        return sum(remaining_bytes(partials) for partials, _ in self._live())

    def held(self) -> Held:
        """Everything live pulls may still commit."""
        partials: set[Path] = set()
        blobs: set[str] = set()
        for files, shas in self._live():
            partials.update(files)
            blobs.update(shas)
        return Held(frozenset(partials), frozenset(blobs))

    def _live(self) -> Iterator[tuple[dict[Path, int], list[str]]]:
        for path in self.folder.glob("*.json"):
            try:
                body = json.loads(path.read_text())
                pid = int(body["pid"])
                partials = {Path(p): int(s) for p, s in body["partials"].items()}
                blobs = [str(b) for b in body.get("blobs", [])]
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if not _alive(pid):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            yield partials, blobs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
