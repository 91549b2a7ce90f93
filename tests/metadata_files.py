"""Makers of model files for the metadata tests: GGUF through the ``gguf`` package's writer
(code nobody here wrote), and a raw encoder for headers no honest writer would produce."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFEndian, GGUFValueType, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES

STRING, ARRAY = 8, 9
SCALAR_CODES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q"}
SCALAR_CODES |= {11: "q", 12: "d"}

# -- through gguf.GGUFWriter ----------------------------------------------------------------

KV = tuple[str, Any, GGUFValueType, GGUFValueType | None]  # key, value, type, array item type
Tensor = tuple[str, tuple[int, ...], GGMLQuantizationType]  # name, numpy-order shape, type


def tensor_bytes(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> np.ndarray[Any, Any]:
    """A zero tensor of ``shape`` (numpy order) in ``qtype``: typed for plain types, raw bytes
    (the writer's convention) for block-quantized ones."""
    plain = {
        GGMLQuantizationType.F32: np.float32,
        GGMLQuantizationType.F16: np.float16,
        GGMLQuantizationType.F64: np.float64,
        GGMLQuantizationType.I8: np.int8,
        GGMLQuantizationType.I16: np.int16,
        GGMLQuantizationType.I32: np.int32,
        GGMLQuantizationType.I64: np.int64,
    }
    if qtype in plain:
        return np.zeros(shape, dtype=plain[qtype])
    block, size = GGML_QUANT_SIZES[qtype]
    assert shape[-1] % block == 0
    return np.zeros((*shape[:-1], shape[-1] // block * size), dtype=np.uint8)


def write_gguf(
    path: Path,
    kv: Sequence[KV] = (),
    tensors: Sequence[Tensor] = (),
    *,
    arch: str = "llama",
    big_endian: bool = False,
    version: int = 3,
    alignment: int | None = None,
    split_max_tensors: int = 0,
) -> list[Path]:
    """Write a GGUF with gguf.GGUFWriter; ``version=2`` patches the version field afterwards
    (v2 and v3 differ only in that v3 allows big-endian files). Returns the files written."""
    endian = GGUFEndian.BIG if big_endian else GGUFEndian.LITTLE
    w = GGUFWriter(path, arch, endianess=endian, split_max_tensors=split_max_tensors)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, value, vtype, sub_type in kv:
        w.add_key_value(key, value, vtype, sub_type)
    for name, shape, qtype in tensors:
        data = tensor_bytes(shape, qtype)
        raw = None if data.dtype != np.uint8 else qtype
        w.add_tensor(name, data, raw_dtype=raw, tensor_endianess=endian)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    written = w.format_shard_names(path)
    if version != 3:
        for p in written:
            with p.open("r+b") as f:
                f.seek(4)
                f.write(struct.pack(">I" if big_endian else "<I", version))
    return written


def gguf_via_writer(**kwargs: Any) -> bytes:
    """``write_gguf`` into a temporary file, returning its bytes (one file, no split)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.gguf"
        write_gguf(path, **kwargs)
        return path.read_bytes()


# -- raw encoder ----------------------------------------------------------------------------


def enc_str(value: str | bytes, order: str = "<") -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack(order + "Q", len(raw)) + raw


def enc_value(vtype: int, value: Any, order: str = "<") -> bytes:
    """A value without its type tag; an array value is ``(item_type, items)``."""
    if vtype in SCALAR_CODES:
        return struct.pack(order + SCALAR_CODES[vtype], value)
    if vtype == STRING:
        return enc_str(value, order)
    if vtype == ARRAY:
        etype, items = value
        body = b"".join(enc_value(etype, v, order) for v in items)
        return struct.pack(order + "IQ", etype, len(items)) + body
    raise ValueError(vtype)


def raw_gguf(
    kv: Sequence[tuple[str, int, Any]] = (),
    tensors: Sequence[tuple[str, Sequence[int], int, int]] = (),
    *,
    version: int = 3,
    order: str = "<",
    alignment: int = 32,
    data: bytes = b"",
    tensor_count: int | None = None,
    kv_count: int | None = None,
) -> bytes:
    """A GGUF from parts, trusting nothing: counts, lengths and offsets are whatever is given.
    ``tensors`` are (name, ggml-order dims, ggml type, offset); ``data`` follows the padding."""
    out = bytearray(b"GGUF")
    out += struct.pack(order + "I", version)
    out += struct.pack(order + "QQ", _or(tensor_count, len(tensors)), _or(kv_count, len(kv)))
    for key, vtype, value in kv:
        out += (
            enc_str(key, order) + struct.pack(order + "I", vtype) + enc_value(vtype, value, order)
        )
    for name, dims, qtype, offset in tensors:
        out += enc_str(name, order) + struct.pack(order + "I", len(dims))
        out += b"".join(struct.pack(order + "Q", d) for d in dims)
        out += struct.pack(order + "IQ", qtype, offset)
    out += bytes(-len(out) % alignment)
    return bytes(out + data)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def vocab_gguf(n_tokens: int, *, n_merges: int | None = None) -> bytes:
    """A header with a big vocabulary (tokens, merges, scores, types) and two F32 tensors."""
    n_merges = n_tokens if n_merges is None else n_merges
    tokens = [f"tok{i}" for i in range(n_tokens)]
    merges = [f"m{i} x{i}" for i in range(n_merges)]
    kv: list[tuple[str, int, Any]] = [
        ("general.architecture", STRING, "llama"),
        ("llama.context_length", 4, 8192),
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
        ("tokenizer.ggml.scores", ARRAY, (6, [0.0] * n_tokens)),
        ("tokenizer.ggml.token_type", ARRAY, (5, [1] * n_tokens)),
    ]
    tensors = [("token_embd.weight", (8, 4), 0, 0), ("output_norm.weight", (8,), 0, 128)]
    return raw_gguf(kv, tensors, data=bytes(128 + 32))
