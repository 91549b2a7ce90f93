"""safetensors headers: an 8-byte little-endian length, then a JSON table of tensors.

Parsing checks the table's types; the layout checks (tensors packed back to back from the start
of the data section to exactly the end of the file) are separate, in ``layout_problems``,
because a header read over HTTP is fine to summarise before the file is whole.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .._errors import MetadataError
from ._source import ByteSource

__all__ = [
    "DTYPE_BITS",
    "SafetensorsHeader",
    "SafetensorsTensor",
    "index_shards",
    "read_safetensors_header",
]

MAX_HEADER = 100 << 20  # the reference implementation refuses headers over 100 MB
MAX_INDEX = 64 << 20
MAX_PROBLEMS = 20
MAX_DIMS = 32  # bounds the work of multiplying a shape out

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}


@dataclass(frozen=True, slots=True)
class SafetensorsTensor:
    """One entry; ``begin``/``end`` are relative to the start of the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def expected_bytes(self) -> int | None:
        """What the dtype and shape need, or None if they do not fill whole bytes."""
        bits = self.n_elements * DTYPE_BITS[self.dtype]
        return None if bits % 8 else bits // 8


@dataclass(slots=True)
class SafetensorsHeader:
    """A parsed header: tensors in file order, ``__metadata__``, and totals."""

    header_size: int  # the JSON's length, as the first 8 bytes say
    tensors: list[SafetensorsTensor]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def data_offset(self) -> int:
        return 8 + self.header_size

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def dtype_elements(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for t in self.tensors:
            counts[t.dtype] += t.n_elements
        return dict(counts)

    def layout_problems(self, file_size: int) -> list[str]:
        """Gaps, overlaps, wrong sizes, and data that stops short of or runs past EOF."""
        problems: list[str] = []
        data_size = file_size - self.data_offset
        expected = 0
        for t in sorted(self.tensors, key=lambda t: (t.begin, t.end)):
            if t.begin > expected:
                problems.append(f"{t.begin - expected} unused bytes before tensor {t.name!r}")
            elif t.begin < expected:
                problems.append(f"tensor {t.name!r} overlaps the tensor before it")
            need = t.expected_bytes
            if need is None:
                problems.append(f"tensor {t.name!r}: {t.dtype} x {t.shape} is not whole bytes")
            elif t.end - t.begin != need:
                got = t.end - t.begin
                problems.append(f"tensor {t.name!r} has {got} bytes, its shape needs {need}")
            expected = max(expected, t.end)
        if expected > data_size:
            problems.append(
                f"tensor data ends {expected - data_size} bytes past the end of the file "
                f"({file_size} bytes): truncated"
            )
        elif expected < data_size:
            problems.append(f"{data_size - expected} trailing bytes after the last tensor")
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], f"... and {more} more"]
        return problems


def read_safetensors_header(source: ByteSource) -> SafetensorsHeader:
    """Parse the header of the safetensors file behind ``source`` (two reads at most)."""
    if source.size < 8:
        raise MetadataError(f"not a safetensors file: {source.size} bytes")
    head = source.read(0, 8)
    if len(head) < 8:
        raise MetadataError("safetensors: short read")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER:
        raise MetadataError(f"safetensors header of {n} bytes is over the {MAX_HEADER} limit")
    if 8 + n > source.size:
        raise MetadataError(f"safetensors header of {n} bytes runs past the end of the file")
    raw = source.read(8, n)
    if len(raw) < n:
        raise MetadataError("safetensors: short read")
    if not raw.startswith(b"{"):
        raise MetadataError("not a safetensors file: header is not a JSON object")
    table = _loads(raw, "safetensors header")
    if not isinstance(table, dict):
        raise MetadataError("safetensors header is not a JSON object")
    metadata = table.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise MetadataError("safetensors __metadata__ is not a table of strings")
    tensors = [_tensor(name, entry) for name, entry in table.items()]
    return SafetensorsHeader(header_size=n, tensors=tensors, metadata=metadata)


def index_shards(source: ByteSource) -> list[str]:
    """The shard files a ``*.safetensors.index.json`` names, relative to its folder."""
    if source.size > MAX_INDEX:
        raise MetadataError(f"safetensors index of {source.size} bytes is too large")
    index = _loads(source.read(0, source.size), "safetensors index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise MetadataError("safetensors index has no weight_map of file names")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        norm = posixpath.normpath(shard)
        if not shard or shard.startswith("/") or norm.startswith("..") or "\\" in shard:
            raise MetadataError(f"safetensors index names an unsafe path {shard[:80]!r}")
    return shards


def _loads(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except MetadataError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, huge ints
        raise MetadataError(f"{what} is not valid JSON: {str(exc)[:80]}") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    table = dict(pairs)
    if len(table) != len(pairs):
        raise MetadataError("duplicate key in a safetensors JSON object")
    return table


def _tensor(name: str, entry: Any) -> SafetensorsTensor:
    if not isinstance(entry, dict):
        raise MetadataError(f"safetensors tensor {name[:80]!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise MetadataError(f"safetensors tensor {name[:80]!r}: unknown dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(map(_is_uint, shape)):
        raise MetadataError(f"safetensors tensor {name[:80]!r}: bad shape")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_uint(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise MetadataError(f"safetensors tensor {name[:80]!r}: bad data_offsets")
    return SafetensorsTensor(name, dtype, tuple(shape), offsets[0], offsets[1])


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64
