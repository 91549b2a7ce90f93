"""Byte ranges of one file: which are done, which are claimed, what to fetch next.

Pure logic, no I/O: the engine, the journal and the tests all speak in half-open
``(start, end)`` intervals kept sorted and merged in a ``RangeSet``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MiB = 1 << 20
MIN_PART = 4 * MiB
MAX_PART = 64 * MiB

Span = tuple[int, int]


@dataclass
class RangeSet:
    """Disjoint, sorted, merged half-open intervals."""

    spans: list[Span] = field(default_factory=list)

    @classmethod
    def of(cls, spans: Iterable[Span]) -> RangeSet:
        result = cls()
        for start, end in spans:
            result.add(start, end)
        return result

    def __iter__(self) -> Iterator[Span]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def total(self) -> int:
        return sum(end - start for start, end in self.spans)

    def add(self, start: int, end: int) -> None:
        """Union with [start, end)."""
        if end <= start:
            return
        kept: list[Span] = []
        for s, e in self.spans:
            if e < start or s > end:
                kept.append((s, e))
            else:
                start, end = min(s, start), max(e, end)
        kept.append((start, end))
        kept.sort()
        self.spans = kept

    def remove(self, start: int, end: int) -> None:
        """Difference with [start, end)."""
        if end <= start:
            return
        kept: list[Span] = []
        for s, e in self.spans:
            if e <= start or s >= end:
                kept.append((s, e))
                continue
            if s < start:
                kept.append((s, start))
            if e > end:
                kept.append((end, e))
        self.spans = kept

    def prefix(self) -> int:
        """End of the contiguous run that starts at 0 (0 if none)."""
        if self.spans and self.spans[0][0] == 0:
            return self.spans[0][1]
        return 0

    def gaps(self, size: int, start: int = 0) -> list[Span]:
        """The parts of [start, size) not in this set."""
        out: list[Span] = []
        pos = start
        for s, e in self.spans:
            if e <= pos:
                continue
            if s > pos:
                out.append((pos, min(s, size)))
            pos = max(pos, e)
            if pos >= size:
                break
        if pos < size:
            out.append((pos, size))
        return [(s, e) for s, e in out if e > s]

    def copy(self) -> RangeSet:
        return RangeSet(list(self.spans))


def part_size(remaining: int, connections: int, max_part: int = MAX_PART) -> int:
    """About four parts per connection over what remains, clamped to 4..64 MiB.

    Small parts near the end keep every connection busy until the last byte; large parts in
    the middle keep requests (and journal writes) rare.
    """
    if connections <= 0:
        raise ValueError("connections must be positive")
    ideal = remaining // (connections * 4)
    return max(MIN_PART, min(max_part, ideal - ideal % MiB or MIN_PART))


def next_part(size: int, busy: RangeSet, want: int) -> Span | None:
    """The first free span of at most ``want`` bytes, or None when everything is busy."""
    for start, end in busy.gaps(size):
        return start, min(end, start + want)
    return None
