"""The range journal beside a partial file: what is already on disk, and for which upstream.

Format: one JSON header line (the validator), then one ``start end`` line per completed range,
appended with a single ``write`` each so ``kill -9`` can at most lose a line, never tear one into
a wrong range (a torn last line is ignored). Appends are cheap; ``sync`` makes them durable and
is called a few times a second by the engine, not per write.

A journal whose validator differs from the job's (another size, sha256 or git blob id) means
the upstream changed: the caller discards the partial. The hashes are the whole identity: a
resumed file is verified against them, so no ETag or If-Range is needed to notice a change.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .._fsutil import atomic_write, durability
from .._store import journal_of
from ._ranges import RangeSet

VERSION = 1


@dataclass(frozen=True)
class Validator:
    """What the bytes in the partial file are supposed to be."""

    size: int
    sha256: str | None
    git_sha1: str | None


def parse(text: str, size: int) -> tuple[Validator, RangeSet] | None:
    """Validator and ranges from journal text; None when the header is unreadable."""
    lines = text.split("\n")
    try:
        header = json.loads(lines[0])
        if header.pop("version") != VERSION:
            return None
        header.pop("etag", None)  # written, always null, by earlier versions
        validator = Validator(**header)
    except (ValueError, TypeError, KeyError):
        return None
    done = RangeSet()
    # The last element is "" after a complete line, or a torn line: skip it either way.
    for line in lines[1:-1]:
        try:
            start, end = (int(x) for x in line.split())
        except ValueError:
            continue
        if 0 <= start < end <= size:
            done.add(start, end)
    return validator, done


def load(partial: Path, expected: Validator) -> RangeSet | None:
    """Completed ranges of ``partial`` if its journal belongs to ``expected``, else None."""
    try:
        text = journal_of(partial).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    parsed = parse(text, expected.size)
    if parsed is None or parsed[0] != expected:
        return None
    return parsed[1]


class Journal:
    """An open journal: append ranges, sync them, rewrite compactly on open."""

    def __init__(self, partial: Path, validator: Validator, done: RangeSet) -> None:
        self.path = journal_of(partial)
        self.validator = validator
        self._dirty = False
        body = self._header() + "".join(f"{s} {e}\n" for s, e in done)
        atomic_write(self.path, body.encode())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _header(self) -> str:
        return json.dumps({"version": VERSION, **asdict(self.validator)}) + "\n"

    def append(self, start: int, end: int) -> None:
        """Record [start, end) as on disk; one write, so never half a line after a kill."""
        durability.write(self._fd, f"{start} {end}\n".encode(), self.path)
        self._dirty = True

    def sync(self) -> None:
        if self._dirty and self._fd >= 0:
            self._dirty = False
            durability.fdatasync(self._fd, self.path)

    def close(self) -> None:
        """Idempotent: a second close must not hit a descriptor number reused by a socket."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def remove(self) -> None:
        """The partial is verified (or discarded): the journal has nothing left to say."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
