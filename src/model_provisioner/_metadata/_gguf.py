"""A streaming GGUF header reader (versions 2 and 3, either byte order).

Why our own: ``gguf.GGUFReader`` maps the file and builds a numpy array per token, which takes
seconds and hundreds of MB for a 150k vocabulary, and trusts every length it reads. This reader
walks the header front to back through a ``ByteSource`` (a local file or HTTP Range requests),
keeps small values, and skips large arrays by counting them. Every length and count is checked
against the bytes left in the file before anything is read or allocated, so a hostile header
fails fast with ``MetadataError`` and bounded memory.

Layout (all integers in the file's byte order, detected from the version field):
magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv_count x (string key, u32 type,
value), tensor_count x (string name, u32 n_dims, n_dims x u64, u32 ggml type, u64 offset),
padding to ``general.alignment``, tensor data. A string is a u64 length and UTF-8 bytes.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, overload

from .._errors import MetadataError
from ._ggml_types import GGML_TYPES, dominant_type, ggml_type_name, quantization_label
from ._source import DEFAULT_BLOCK_SIZE, ByteSource

__all__ = [
    "GGUFHeader",
    "OmittedValue",
    "TensorInfo",
    "TensorInfos",
    "read_gguf_header",
]

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
SMALL_ARRAY = 64  # arrays shorter than this are kept; longer ones are counted
MAX_KEY = 1 << 16  # keys and tensor names
MAX_STRING = 1 << 16  # other kept string values; longer ones are counted
MAX_CHAT_TEMPLATE = 16 << 20
MAX_DEPTH = 8  # nested arrays
MAX_ITEMS = 1 << 23  # strings and arrays walked (real headers: < 1M): bounds the work

# Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array,
# 10 u64, 11 i64, 12 f64.
_STRING, _ARRAY = 8, 9
_SCALAR_CODES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q"}
_SCALAR_CODES |= {11: "q", 12: "d"}
TYPE_NAMES = {
    0: "uint8",
    1: "int8",
    2: "uint16",
    3: "int16",
    4: "uint32",
    5: "int32",
    6: "float32",
    7: "bool",
    8: "string",
    9: "array",
    10: "uint64",
    11: "int64",
    12: "float64",
}
_MIN_SIZE = {t: struct.calcsize(c) for t, c in _SCALAR_CODES.items()} | {_STRING: 8, _ARRAY: 12}


@dataclass(frozen=True, slots=True)
class OmittedValue:
    """A value too large to keep in memory: its type and length (elements, or bytes)."""

    type: str
    length: int


class TensorInfo(NamedTuple):
    """One tensor's entry; ``shape`` is in GGML order (innermost first), as stored."""

    name: str
    shape: tuple[int, ...]
    dtype: int
    offset: int

    @property
    def dtype_name(self) -> str:
        return ggml_type_name(self.dtype)

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def n_bytes(self) -> int | None:
        """Size of the data, or None for an unknown type or a shape the type cannot hold."""
        entry = GGML_TYPES.get(self.dtype)
        if entry is None:
            return None
        _, block, size = entry
        if self.shape and self.shape[0] % block:
            return None
        return self.n_elements // block * size


class TensorInfos(Sequence[TensorInfo]):
    """Tensor entries in flat arrays: ~30 bytes per tensor plus its name, not one object each."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._ndims = bytearray()
        self._dims = array("Q")  # MAX_DIMS slots per tensor
        self._dtypes = array("I")
        self._offsets = array("Q")

    def _append(self, name: str, dims: tuple[int, ...], dtype: int, offset: int) -> None:
        self.names.append(name)
        self._ndims.append(len(dims))
        self._dims.extend(dims + (0,) * (MAX_DIMS - len(dims)))
        self._dtypes.append(dtype)
        self._offsets.append(offset)

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, index: int) -> TensorInfo: ...
    @overload
    def __getitem__(self, index: slice) -> list[TensorInfo]: ...
    def __getitem__(self, index: int | slice) -> TensorInfo | list[TensorInfo]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("tensor index out of range")
        base = index * MAX_DIMS
        shape = tuple(self._dims[base : base + self._ndims[index]])
        return TensorInfo(self.names[index], shape, self._dtypes[index], self._offsets[index])

    def __iter__(self) -> Iterator[TensorInfo]:
        return (self[i] for i in range(len(self)))


@dataclass(slots=True)
class GGUFHeader:
    """What a GGUF header says, with the fields people ask for derived from it."""

    version: int
    byte_order: Literal["little", "big"]
    kv: dict[str, Any]
    tensors: TensorInfos
    alignment: int
    header_end: int  # end of the tensor infos
    data_offset: int  # header_end rounded up to the alignment
    parameter_count: int
    dtype_elements: dict[int, int] = field(default_factory=dict)  # ggml type -> weights
    chat_template: str | None = None

    @property
    def tensor_count(self) -> int:
        return len(self.tensors)

    @property
    def architecture(self) -> str | None:
        return _str(self.kv.get("general.architecture"))

    @property
    def name(self) -> str | None:
        return _str(self.kv.get("general.name"))

    @property
    def file_type(self) -> int | None:
        return _int(self.kv.get("general.file_type"))

    @property
    def dtype(self) -> str | None:
        """The tensor type holding most weights (of tensors with 2+ dimensions)."""
        return dominant_type(self.dtype_elements)

    @property
    def quantization(self) -> str | None:
        """``general.file_type`` as a label ("Q4_K_M"), else the dominant tensor type."""
        return quantization_label(self.file_type, self.dtype)

    def arch_int(self, suffix: str) -> int | None:
        """An ``<architecture>.<suffix>`` integer; for per-layer arrays, the largest value."""
        arch = self.architecture
        return None if arch is None else _int(self.kv.get(f"{arch}.{suffix}"))

    @property
    def context_length(self) -> int | None:
        return self.arch_int("context_length")

    @property
    def embedding_length(self) -> int | None:
        return self.arch_int("embedding_length")

    @property
    def block_count(self) -> int | None:
        return self.arch_int("block_count")

    @property
    def head_count(self) -> int | None:
        return self.arch_int("attention.head_count")

    @property
    def head_count_kv(self) -> int | None:
        return self.arch_int("attention.head_count_kv")

    @property
    def vocab_size(self) -> int | None:
        tokens = self.kv.get("tokenizer.ggml.tokens")
        if isinstance(tokens, OmittedValue):
            return tokens.length
        if isinstance(tokens, list):
            return len(tokens)
        return self.arch_int("vocab_size")

    @property
    def has_chat_template(self) -> bool:
        return "tokenizer.chat_template" in self.kv

    @property
    def split_count(self) -> int | None:
        return _int(self.kv.get("split.count"))

    @property
    def split_no(self) -> int | None:
        return _int(self.kv.get("split.no"))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value:
        items = [_int(v) for v in value]
        return max(i for i in items if i is not None) if None not in items else None
    return None


def read_gguf_header(
    source: ByteSource, *, want_chat_template: bool = False, block_size: int | None = None
) -> GGUFHeader:
    """Parse the header of the GGUF file behind ``source``; raise MetadataError if malformed.

    Reads only the header (KV pairs and tensor infos), ``block_size`` bytes per request
    (default: the source's own ``block_size``, else 1 MiB).
    """
    if block_size is None:
        block_size = getattr(source, "block_size", DEFAULT_BLOCK_SIZE)
    try:
        return _Parser(source, block_size, want_chat_template).parse()
    except MetadataError:
        raise
    except (struct.error, OverflowError, MemoryError, RecursionError) as exc:
        raise MetadataError(f"malformed GGUF header: {type(exc).__name__}") from exc


class _Parser:
    """One pass over the header; ``buf`` holds the bytes at file offsets [base, base+len)."""

    def __init__(self, source: ByteSource, block_size: int, want_chat_template: bool) -> None:
        self.src = source
        self.size = source.size
        self.block = max(block_size, 1)
        self.want_chat_template = want_chat_template
        self.buf = b""
        self.base = 0
        self.pos = 0
        self.items = 0
        self.order = "<"
        self.u32 = struct.Struct("<I")
        self.u64 = struct.Struct("<Q")

    # -- low level -------------------------------------------------------------------------
    def tell(self) -> int:
        return self.base + self.pos

    def left(self) -> int:
        return self.size - self.base - self.pos

    def _fill(self, n: int) -> None:
        at = self.base + self.pos
        if n > self.size - at:
            raise MetadataError(
                f"GGUF header truncated: needs {n} bytes at offset {at}, file has {self.size}"
            )
        data = self.src.read(at, min(max(n, self.block), self.size - at))
        if len(data) < n:
            raise MetadataError(f"GGUF header: short read at offset {at}")
        self.buf, self.base, self.pos = data, at, 0

    def take(self, n: int) -> bytes:
        pos = self.pos
        if pos + n > len(self.buf):
            self._fill(n)
            pos = 0
        self.pos = pos + n
        return self.buf[pos : pos + n]

    def scalar(self, st: struct.Struct) -> Any:
        pos = self.pos
        if pos + st.size > len(self.buf):
            self._fill(st.size)
            pos = 0
        self.pos = pos + st.size
        return st.unpack_from(self.buf, pos)[0]

    def skip(self, n: int) -> None:
        if n > self.left():
            raise MetadataError(
                f"GGUF header truncated or corrupt: {n} bytes at {self.tell()} run past the end"
            )
        pos = self.pos + n
        if pos <= len(self.buf):
            self.pos = pos
        else:
            self.base, self.pos, self.buf = self.base + pos, 0, b""

    def count_items(self, n: int) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise MetadataError(f"GGUF header holds more than {MAX_ITEMS} strings or arrays")

    def string(self, cap: int, what: str) -> str | OmittedValue:
        """A string, or its length if longer than ``cap`` (its bytes are then skipped)."""
        n = self.scalar(self.u64)
        if n > self.left():
            raise MetadataError(
                f"GGUF header truncated or corrupt: {what} of {n} bytes runs past the end"
            )
        if n > cap:
            self.skip(n)
            return OmittedValue("string", n)
        return self.take(n).decode("utf-8", "replace")

    def skip_strings(self, count: int) -> None:
        """Skip ``count`` strings: the hot loop for vocabularies. Lengths are unpacked in
        place from the buffered block; a length that crosses the block's end raises
        struct.error, which is cheaper than bounds checks on every string."""
        unpack = self.u64.unpack_from
        while count:
            if self.pos + 8 > len(self.buf):
                self._fill(8)
            buf, pos, done = self.buf, self.pos, 0
            try:
                for done in range(count):  # noqa: B007 - ``done`` is read after the loop
                    pos += 8 + unpack(buf, pos)[0]
                done = count
            except struct.error:  # the next length is not (entirely) in this buffer
                pass
            count -= done
            if self.base + pos > self.size:
                raise MetadataError(
                    "GGUF header truncated or corrupt: a string array runs past the end"
                )
            if pos <= len(buf):
                self.pos = pos
            else:
                self.base, self.pos, self.buf = self.base + pos, 0, b""

    # -- values ----------------------------------------------------------------------------
    def value(self, vtype: int, keep: bool, depth: int) -> Any:
        code = _SCALAR_CODES.get(vtype)
        if code is not None:
            data = self.take(_MIN_SIZE[vtype])
            return struct.unpack(self.order + code, data)[0] if keep else None
        if vtype == _STRING:
            return self.string(MAX_STRING if keep else -1, "value")
        if vtype == _ARRAY:
            return self.array(keep, depth + 1)
        raise MetadataError(f"GGUF header: unknown value type {vtype} at offset {self.tell() - 4}")

    def array(self, keep: bool, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise MetadataError(f"GGUF header: arrays nested deeper than {MAX_DEPTH}")
        etype = self.scalar(self.u32)
        count = self.scalar(self.u64)
        min_size = _MIN_SIZE.get(etype)
        if min_size is None:
            raise MetadataError(f"GGUF header: array of unknown type {etype}")
        if count * min_size > self.left():
            raise MetadataError(
                f"GGUF header truncated or corrupt: array of {count} items runs past the end"
            )
        kept = keep and count < SMALL_ARRAY
        omitted = OmittedValue(f"array[{TYPE_NAMES[etype]}]", count) if keep else None
        code = _SCALAR_CODES.get(etype)
        if code is not None:
            if not kept:
                self.skip(count * min_size)
                return omitted
            return list(struct.unpack(f"{self.order}{count}{code}", self.take(count * min_size)))
        self.count_items(count)
        if etype == _STRING:
            if not kept:
                self.skip_strings(count)
                return omitted
            return [self.string(MAX_STRING, "array item") for _ in range(count)]
        if kept:
            return [self.array(True, depth + 1) for _ in range(count)]
        for _ in range(count):
            self.array(False, depth + 1)
        return omitted

    # -- sections --------------------------------------------------------------------------
    def parse(self) -> GGUFHeader:
        if self.size < 24:
            raise MetadataError(f"not a GGUF file: {self.size} bytes is too short for a header")
        head = self.take(24)
        if head[:4] != GGUF_MAGIC:
            raise MetadataError(f"not a GGUF file: magic is {head[:4]!r}, expected b'GGUF'")
        version = struct.unpack_from("<I", head, 4)[0]
        if version not in SUPPORTED_VERSIONS:
            swapped = struct.unpack_from(">I", head, 4)[0]
            if 1 in (version, swapped):
                raise MetadataError("GGUF version 1 is not supported: convert the model again")
            if swapped not in SUPPORTED_VERSIONS:
                raise MetadataError(f"unsupported GGUF version {version} (supported: 2, 3)")
            version, self.order = swapped, ">"
            self.u32, self.u64 = struct.Struct(">I"), struct.Struct(">Q")
        tensor_count, kv_count = struct.unpack_from(self.order + "QQ", head, 8)
        if kv_count * 13 > self.left():
            raise MetadataError(
                f"GGUF header truncated or corrupt: {kv_count} key/value pairs cannot fit "
                f"in {self.size} bytes"
            )
        if tensor_count * 24 > self.left():
            raise MetadataError(
                f"GGUF header truncated or corrupt: {tensor_count} tensors cannot fit "
                f"in {self.size} bytes"
            )
        self.count_items(kv_count + tensor_count)
        kv, chat_template = self.parse_kv(kv_count)
        alignment = kv.get("general.alignment", DEFAULT_ALIGNMENT)
        if "general.alignment" in kv and not isinstance(alignment, int):
            raise MetadataError("GGUF header: general.alignment is not an integer")
        if alignment <= 0 or alignment & (alignment - 1):
            raise MetadataError(f"GGUF header: alignment {alignment} is not a power of two")
        tensors, params, dtype_elements = self.parse_tensors(tensor_count)
        header_end = self.tell()
        return GGUFHeader(
            version=version,
            byte_order="big" if self.order == ">" else "little",
            kv=kv,
            tensors=tensors,
            alignment=alignment,
            header_end=header_end,
            data_offset=-(-header_end // alignment) * alignment,
            parameter_count=params,
            dtype_elements=dtype_elements,
            chat_template=chat_template,
        )

    def parse_kv(self, kv_count: int) -> tuple[dict[str, Any], str | None]:
        kv: dict[str, Any] = {}
        chat_template: str | None = None
        for _ in range(kv_count):
            key = self.string(MAX_KEY, "key")
            if isinstance(key, OmittedValue):
                raise MetadataError(f"GGUF header: a key of {key.length} bytes")
            if key in kv:
                raise MetadataError(f"GGUF header: duplicate key {key!r}")
            vtype = self.scalar(self.u32)
            if key == "general.alignment" and vtype != 4:
                raise MetadataError("GGUF header: general.alignment is not a uint32")
            if key == "tokenizer.chat_template" and vtype == _STRING:
                cap = MAX_CHAT_TEMPLATE if self.want_chat_template else -1
                value = self.string(cap, "chat template")
                if isinstance(value, str):
                    chat_template = value
                    value = OmittedValue("string", len(value.encode()))
            else:
                value = self.value(vtype, True, 0)
            kv[key] = value
        return kv, chat_template

    def parse_tensors(self, count: int) -> tuple[TensorInfos, int, dict[int, int]]:
        tensors = TensorInfos()
        seen: set[str] = set()
        params = 0
        dtype_elements: dict[int, int] = {}  # tensors of 2+ dimensions: the weights
        flat_elements: dict[int, int] = {}  # the rest, used if there are no weights
        u32, u64 = self.u32, self.u64
        for _ in range(count):
            name = self.string(MAX_KEY, "tensor name")
            if isinstance(name, OmittedValue):
                raise MetadataError(f"GGUF header: a tensor name of {name.length} bytes")
            if name in seen:
                raise MetadataError(f"GGUF header: duplicate tensor {name!r}")
            seen.add(name)
            n_dims = self.scalar(u32)
            if n_dims > MAX_DIMS:
                raise MetadataError(f"GGUF header: tensor {name!r} has {n_dims} dimensions")
            dims = struct.unpack(f"{self.order}{n_dims}Q", self.take(8 * n_dims))
            dtype = self.scalar(u32)
            offset = self.scalar(u64)
            tensors._append(name, dims, dtype, offset)
            n = math.prod(dims)
            params += n
            counts = dtype_elements if n_dims >= 2 else flat_elements
            counts[dtype] = counts.get(dtype, 0) + n
        return tensors, params, dtype_elements or flat_elements
