"""What a GGUF repo offers: every quantization, its size, the default, and what a worker needs.

Pure: it sees the repo's file list, one header summary (the architecture is the same for every
quantization of a repo) and the free disk. The memory estimate is the weights, plus the KV cache
at the context a worker runs with (f16 K and V: 2 x layers x context x KV heads x head size x
2 bytes), plus a tenth of the weights for llama.cpp's compute buffers; and never less than the
original hive's rule, which refused a worker whose RAM was under 1.2 x the model's size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._gguf_names import model_ggufs, preference, quant_of, split_part
from ._models import ModelMetadata
from ._selection import complete_split, default_gguf

if TYPE_CHECKING:
    from ._remote import RemoteInspection

DEFAULT_CONTEXT = 4096  # what llama.cpp and Ollama start a worker with unless told otherwise
HIVE_FACTOR = 1.2
_BUFFERS = 0.10
_KV_BYTES = 2  # f16 cache, llama.cpp's default


@dataclass(frozen=True)
class Offer:
    """One quantization of the repo (all parts of a split file counted)."""

    quant: str
    files: tuple[str, ...]
    size: int
    default: bool
    fits: bool
    memory: int
    bits_per_weight: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "quant": self.quant,
            "files": list(self.files),
            "size": self.size,
            "default": self.default,
            "fits_disk": self.fits,
            "memory_estimate": self.memory,
            "bits_per_weight": self.bits_per_weight,
        }


def kv_cache_bytes(metadata: ModelMetadata, context: int) -> int:
    """f16 K and V for ``context`` tokens; 0 when the header lacks what it takes."""
    layers = _positive(metadata.block_count)
    embedding = _positive(metadata.embedding_length)
    heads = _positive(metadata.head_count)
    kv_heads = _positive(metadata.head_count_kv) or heads
    if not (layers and embedding and heads and kv_heads):
        return 0
    return 2 * layers * context * kv_heads * (embedding // heads) * _KV_BYTES


def worker_memory(weights: int, metadata: ModelMetadata, context: int) -> int:
    estimate = weights + kv_cache_bytes(metadata, context) + int(weights * _BUFFERS)
    return max(estimate, int(weights * HIVE_FACTOR))


def offers_of(
    files: Mapping[str, int],
    metadata: ModelMetadata,
    free: int,
    context: int = DEFAULT_CONTEXT,
    chosen: str | None = None,
) -> list[Offer]:
    """Every quantization in ``files`` (path -> size), best on the ladder first; the default
    is the one holding ``chosen`` (what the reference pulls), else the ladder's pick."""
    groups: dict[str, list[str]] = {}
    for path in model_ggufs(files):
        part = split_part(path)
        if part is not None and part["no"] != "00001":
            continue
        tag = quant_of(path) or path
        groups.setdefault(tag, []).extend(complete_split(list(files), path))
    chosen = chosen or default_gguf(list(files))
    params = _positive(metadata.parameter_count)
    offers = []
    for tag, paths in groups.items():
        size = sum(files[p] for p in paths)
        offers.append(
            Offer(
                quant=tag,
                files=tuple(sorted(paths)),
                size=size,
                default=chosen in paths,
                fits=size <= free,
                memory=worker_memory(size, metadata, context),
                bits_per_weight=round(size * 8 / params, 2) if params else None,
            )
        )
    return sorted(offers, key=lambda o: (preference(quant_of(o.files[0])), o.quant))


def _positive(value: int | None) -> int:
    """A header number from a server: a positive int, else 0 (unknown)."""
    return value if value is not None and value > 0 else 0


@dataclass(frozen=True)
class RemoteOffers:
    """``info --remote``: the headers read (``inspection``) and every quantization on offer."""

    inspection: RemoteInspection
    offers: list[Offer]
    context: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.inspection.to_dict(),
            "memory_context": self.context,
            "offers": [o.to_dict() for o in self.offers],
        }


def remote_offers(inspection: RemoteInspection, context: int = DEFAULT_CONTEXT) -> RemoteOffers:
    plan = inspection.plan
    files = {f.path: f.size or 0 for f in plan.snapshot.files}
    metadata = inspection.metadata or ModelMetadata()
    offers = offers_of(files, metadata, plan.free, context, chosen=plan.selection.primary)
    return RemoteOffers(inspection, offers, context)
