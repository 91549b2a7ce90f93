"""One summary of a model from its selected files, and the structural checks ``verify`` runs.

The caller passes (repo-relative path, ByteSource) pairs, so the same code summarises a model
in the store and one on the Hub (sources backed by Range requests): only headers are read.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from .._errors import MetadataError
from .._gguf_names import is_projector, split_part
from .._models import ModelMetadata
from ._config import (
    MAX_TOKENIZER,
    read_chat_template_file,
    read_model_config,
    read_tokenizer_config,
    tokenizer_vocab_size,
)
from ._ggml_types import GGML_TYPES, dominant_type, quantization_label
from ._gguf import GGUFHeader, read_gguf_header
from ._safetensors import index_shards, read_safetensors_header
from ._source import ByteSource, FileSource

__all__ = [
    "ModelMetadata",
    "read_local_metadata",
    "read_model_metadata",
    "split_problems",
    "structural_problems",
]

MAX_PROBLEMS = 20


def read_model_metadata(
    files: Sequence[tuple[str, ByteSource]], *, want_chat_template: bool = False
) -> ModelMetadata:
    """Summarise a model from its selected files: a GGUF (or its split parts), or a
    safetensors folder with its config and tokenizer files. Raises MetadataError."""
    by_path = {posixpath.normpath(p): s for p, s in files}
    ggufs = [p for p in by_path if p.lower().endswith(".gguf")]
    if ggufs:
        return _gguf_metadata(_main_gguf_parts(ggufs), by_path, want_chat_template)
    return _transformers_metadata(by_path, want_chat_template)


def read_local_metadata(
    root: Path, paths: Sequence[str], *, want_chat_template: bool = False
) -> ModelMetadata:
    """``read_model_metadata`` for files under a local folder."""
    with ExitStack() as stack:
        files = [(p, stack.enter_context(FileSource(root / p))) for p in paths]
        return read_model_metadata(files, want_chat_template=want_chat_template)


def _main_gguf_parts(paths: list[str]) -> list[str]:
    """The model's own GGUF (all parts if split): not a vision projector beside it."""
    main = [p for p in paths if not is_projector(p)] or paths
    main.sort(key=lambda p: (p.count("/"), p))
    first = split_part(main[0])
    if first is None:
        return main[:1]
    prefix = posixpath.join(posixpath.dirname(main[0]), first["stem"])
    return [p for p in main if (m := split_part(p)) and
            posixpath.join(posixpath.dirname(p), m["stem"]) == prefix and
            m["count"] == first["count"]]  # fmt: skip


def _gguf_metadata(
    parts: list[str], by_path: Mapping[str, ByteSource], want_chat_template: bool
) -> ModelMetadata:
    headers = [
        read_gguf_header(by_path[p], want_chat_template=want_chat_template and i == 0)
        for i, p in enumerate(parts)
    ]
    h = headers[0]
    dtypes: Counter[int] = Counter()
    for part in headers:
        dtypes.update(part.dtype_elements)
    dominant = dominant_type(dtypes)
    declared = h.kv.get("split.tensors.count")
    tensor_count = sum(x.tensor_count for x in headers)
    return ModelMetadata(
        format="gguf",
        architecture=h.architecture,
        name=h.name,
        model_type=None,
        parameter_count=sum(x.parameter_count for x in headers),
        quantization=quantization_label(h.file_type, dominant),
        dtype=dominant,
        context_length=h.context_length,
        embedding_length=h.embedding_length,
        block_count=h.block_count,
        head_count=h.head_count,
        head_count_kv=h.head_count_kv,
        vocab_size=h.vocab_size,
        has_chat_template=h.has_chat_template,
        chat_template=h.chat_template if want_chat_template else None,
        tensor_count=declared if isinstance(declared, int) and len(parts) > 1 else tensor_count,
        split_count=h.split_count,
    )


def _shallowest(by_path: Mapping[str, ByteSource], name: str) -> ByteSource | None:
    found = sorted((p.count("/"), p) for p in by_path if posixpath.basename(p) == name)
    return by_path[found[0][1]] if found else None


def _transformers_metadata(
    by_path: Mapping[str, ByteSource], want_chat_template: bool
) -> ModelMetadata:
    weights = _safetensors_weights(by_path)
    meta = ModelMetadata(format="safetensors" if weights else "other")
    if weights:
        params = 0
        dtypes: Counter[str] = Counter()
        tensors = 0
        for p in weights:
            st = read_safetensors_header(by_path[p])
            params += st.parameter_count
            dtypes.update(st.dtype_elements)
            tensors += len(st.tensors)
        meta.parameter_count = params
        meta.tensor_count = tensors
        meta.dtype = dtypes.most_common(1)[0][0] if dtypes else None
        meta.split_count = len(weights) if len(weights) > 1 else None
    if (src := _shallowest(by_path, "config.json")) is not None:
        cfg = read_model_config(src)
        meta.architecture = cfg.architectures[0] if cfg.architectures else cfg.model_type
        meta.model_type = cfg.model_type
        meta.name = cfg.name_or_path
        meta.quantization = cfg.quant_method
        meta.context_length = cfg.max_position_embeddings
        meta.embedding_length = cfg.hidden_size
        meta.block_count = cfg.num_hidden_layers
        meta.head_count = cfg.num_attention_heads
        meta.head_count_kv = cfg.num_key_value_heads
        meta.vocab_size = cfg.vocab_size
        if meta.dtype is None and cfg.dtype is not None:
            meta.dtype = cfg.dtype
    if meta.vocab_size is None and (src := _shallowest(by_path, "tokenizer.json")) is not None:
        meta.vocab_size = tokenizer_vocab_size(src)
    template: str | None = None
    if (src := _shallowest(by_path, "tokenizer_config.json")) is not None:
        template = read_tokenizer_config(src).chat_template
    if template is None and (src := _shallowest(by_path, "chat_template.jinja")) is not None:
        template = read_chat_template_file(src)
    meta.has_chat_template = template is not None
    meta.chat_template = template if want_chat_template else None
    return meta


def _safetensors_weights(by_path: Mapping[str, ByteSource]) -> list[str]:
    """The weight files: the shards an index names if there is one (a repo may also carry
    e.g. ``consolidated.safetensors``, the same weights again), else every .safetensors."""
    for p in sorted(by_path, key=lambda p: (p.count("/"), p)):
        if p.endswith(".safetensors.index.json"):
            folder = posixpath.dirname(p)
            named = [
                posixpath.normpath(posixpath.join(folder, s)) for s in index_shards(by_path[p])
            ]
            return [s for s in named if s in by_path]
    return sorted(p for p in by_path if p.endswith(".safetensors"))


def structural_problems(path: str, source: ByteSource) -> list[str]:
    """What is wrong with a file's structure, judged from its header; empty if nothing.

    GGUF: magic, version, tensor extents inside the file, aligned and where llama.cpp expects
    them. safetensors: tensors contiguous from the data section to exactly the end of the file.
    Other files: nothing to check. Catches a truncated file even where no hash is known.
    """
    lower = path.lower()
    try:
        if lower.endswith(".gguf"):
            return _gguf_problems(read_gguf_header(source), source.size)
        if lower.endswith(".safetensors"):
            return read_safetensors_header(source).layout_problems(source.size)
        if lower.endswith(".safetensors.index.json"):
            index_shards(source)
        elif posixpath.basename(lower) == "config.json":
            read_model_config(source)
        elif posixpath.basename(lower) == "tokenizer_config.json":
            read_tokenizer_config(source)
        elif posixpath.basename(lower) == "tokenizer.json" and source.size <= MAX_TOKENIZER:
            tokenizer_vocab_size(source)
    except MetadataError as exc:
        return [exc.message]
    return []


def _gguf_problems(h: GGUFHeader, size: int) -> list[str]:
    problems: list[str] = []
    if h.tensor_count and h.data_offset > size:
        problems.append(f"file ends at {size}, before the tensor data at {h.data_offset}")
    expected = 0
    for t in h.tensors:
        entry = GGML_TYPES.get(t.dtype)
        if entry is None:
            problems.append(f"tensor {t.name!r} has unknown type {t.dtype}")
            break  # later offsets cannot be predicted
        nbytes = t.n_bytes
        if nbytes is None:
            problems.append(f"tensor {t.name!r}: shape {t.shape} does not fit {entry[0]} blocks")
            break
        if t.offset % h.alignment:
            problems.append(f"tensor {t.name!r} at {t.offset} is not {h.alignment}-aligned")
        elif t.offset != expected:
            problems.append(f"tensor {t.name!r} at offset {t.offset}, expected {expected}")
        end = h.data_offset + t.offset + nbytes
        if end > size:
            problems.append(f"tensor {t.name!r} ends at {end}, past the end of the file ({size})")
        expected += -(-nbytes // h.alignment) * h.alignment  # as llama.cpp lays them out
        if len(problems) > MAX_PROBLEMS:
            problems[MAX_PROBLEMS:] = ["... and more"]
            break
    return problems


def split_problems(
    paths: Sequence[str], sources: Mapping[str, ByteSource] | None = None
) -> list[str]:
    """Missing parts of split files (``-00001-of-00003.gguf``, ``.safetensors`` likewise), and,
    for each ``*.safetensors.index.json`` given a source, shards it names that are absent."""
    present = {posixpath.normpath(p) for p in paths}
    groups: dict[tuple[str, str, str], set[int]] = {}
    for p in present:
        m = split_part(p)
        if m:
            key = (posixpath.join(posixpath.dirname(p), m["stem"]), m["count"], m["ext"])
            groups.setdefault(key, set()).add(int(m["no"]))
    problems: list[str] = []
    for (stem, count, ext), numbers in sorted(groups.items()):
        missing = [n for n in range(1, int(count) + 1) if n not in numbers]
        for n in missing[:MAX_PROBLEMS]:
            problems.append(f"missing split part {stem}-{n:05d}-of-{count}.{ext}")
        if len(missing) > MAX_PROBLEMS:
            problems.append(f"... and {len(missing) - MAX_PROBLEMS} more parts of {stem}")
    for p, source in sorted((sources or {}).items()):
        if not p.endswith(".safetensors.index.json"):
            continue
        try:
            shards = index_shards(source)
        except MetadataError as exc:
            problems.append(f"{p}: {exc.message}")
            continue
        folder = posixpath.dirname(posixpath.normpath(p))
        for shard in shards:
            if posixpath.normpath(posixpath.join(folder, shard)) not in present:
                problems.append(f"missing shard {shard} named in {p}")
    return problems
