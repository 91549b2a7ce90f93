"""Which files of a repo make up the model a reference asks for.

Pure: it sees the repo's file list and the reference, never the network.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import ModelNotFound
from ._gguf_names import (
    has_quant,
    is_default_quant,
    is_gguf,
    is_projector,
    model_ggufs,
    preference,
    projectors,
    quant_of,
    split_part,
)
from ._references import ModelReference, SelectorKind

_DUPLICATE_DIRS = ("onnx/", "openvino/", "coreml/", "flax/", "tf/", "tflite/", "original/")
_TORCH_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")
_SMALL_FILES = (".json", ".txt", ".model", ".tiktoken", ".jinja")


@dataclass(frozen=True)
class Selection:
    """The chosen files, the model's format, and which path a worker loads.

    ``quant`` is the quantization picked for a GGUF model; ``fallback`` says the ladder went
    past Q4_K_M and Q8_0 (the CLI says so); ``projector`` is the vision projector that came along.
    """

    paths: tuple[str, ...]
    format: str
    primary: str | None
    quant: str | None = None
    fallback: bool = False
    projector: str | None = None


def select_files(paths: Sequence[str], ref: ModelReference) -> Selection:
    kind = ref.selector_kind
    if kind is SelectorKind.QUANT:
        assert ref.selector is not None
        return _gguf_selection(paths, _by_quant(paths, ref.selector, ref))
    if kind is SelectorKind.FILE:
        assert ref.selector is not None
        return _file_selection(paths, ref.selector, ref)
    if kind is SelectorKind.GLOB:
        assert ref.selector is not None
        matched = sorted(p for p in paths if fnmatch.fnmatchcase(p, ref.selector))
        if not matched:
            raise ModelNotFound(f"no file in {ref.repo} matches {ref.selector!r}")
        return _mixed_selection(paths, matched)
    return _default_selection(paths, ref)


def available_quantizations(paths: Sequence[str]) -> list[str]:
    """Every quantization a repo offers, in ladder order (the default first)."""
    tags = {q for p in model_ggufs(paths) if (q := quant_of(p))}
    return sorted(tags, key=lambda q: (preference(q), q))


def default_gguf(paths: Sequence[str]) -> str | None:
    """The GGUF a bare ``org/repo`` means: the best rung of the ladder, first by name."""
    ggufs = model_ggufs(paths)
    if not ggufs:
        return None
    return min(ggufs, key=lambda p: (preference(quant_of(p)), p.count("/"), p))


def _by_quant(paths: Sequence[str], quant: str, ref: ModelReference) -> list[str]:
    matched = [p for p in model_ggufs(paths) if has_quant(p, quant)]
    if not matched:
        known = ", ".join(available_quantizations(paths)) or "none"
        raise ModelNotFound(
            f"{ref.repo}@{ref.revision} has no {quant} GGUF file (available: {known})"
        )
    return complete_split(paths, matched[0])


def complete_split(paths: Sequence[str], chosen: str) -> list[str]:
    """All parts of a split GGUF (one folder, one stem, one count), or the file alone."""
    match = split_part(chosen)
    if not match:
        return [chosen]
    folder = posixpath.dirname(chosen)
    return sorted(
        p
        for p in paths
        if (m := split_part(p))
        and posixpath.dirname(p) == folder
        and m["stem"] == match["stem"]
        and m["count"] == match["count"]
    )


def _gguf_selection(paths: Sequence[str], parts: list[str], *, fallback: bool = False) -> Selection:
    """The model's parts, and the repo's vision projector when there is one (as llama.cpp)."""
    found = projectors(paths)
    projector = found[0] if found and not is_projector(parts[0]) else None
    chosen = tuple(parts) + ((projector,) if projector else ())
    return Selection(chosen, "gguf", parts[0], quant_of(parts[0]), fallback, projector)


def _file_selection(paths: Sequence[str], wanted: str, ref: ModelReference) -> Selection:
    if wanted not in paths:
        folded = [p for p in paths if p.casefold() == wanted.casefold()]
        if len(folded) != 1:
            raise ModelNotFound(f"{ref.repo}@{ref.revision} has no file {wanted!r}")
        wanted = folded[0]
    if is_gguf(wanted):
        return _gguf_selection(paths, complete_split(paths, wanted))
    return _mixed_selection(paths, [wanted])


def _mixed_selection(paths: Sequence[str], matched: list[str]) -> Selection:
    ggufs = [p for p in matched if is_gguf(p)]
    if ggufs and len(ggufs) == len(matched):
        complete = sorted({part for g in ggufs for part in complete_split(paths, g)})
        stems = {posixpath.join(posixpath.dirname(p), m["stem"]) if (m := split_part(p)) else p
                 for p in complete}  # fmt: skip
        if len(stems) == 1:
            return Selection(tuple(complete), "gguf", complete[0], quant_of(complete[0]))
        return Selection(tuple(complete), "gguf", None)
    if len(matched) == 1:
        return Selection(tuple(matched), _format_of(matched), matched[0])
    return Selection(tuple(matched), _format_of(matched), None)


def _default_selection(paths: Sequence[str], ref: ModelReference) -> Selection:
    chosen_gguf = default_gguf(paths)
    if chosen_gguf is not None:
        fallback = not is_default_quant(quant_of(chosen_gguf))
        return _gguf_selection(paths, complete_split(paths, chosen_gguf), fallback=fallback)
    chosen = _transformers_files(paths)
    if not chosen:
        if not paths:
            raise ModelNotFound(f"{ref.repo}@{ref.revision} has no files")
        return Selection(tuple(sorted(paths)), "other", None)
    return Selection(tuple(chosen), _format_of(chosen), None)


def _transformers_files(paths: Sequence[str]) -> list[str]:
    """Weights, config and tokenizer, in one weight format: safetensors if the repo has it."""
    kept = [p for p in paths if not p.startswith(_DUPLICATE_DIRS)]
    has_safetensors = any(p.endswith(".safetensors") for p in kept)
    chosen = []
    for p in kept:
        if p.endswith(".safetensors") or p.endswith(_SMALL_FILES):
            if has_safetensors and p.endswith(".bin.index.json"):
                continue
            chosen.append(p)
        elif p.endswith(_TORCH_WEIGHTS) and not has_safetensors:
            chosen.append(p)
    if not any(p.endswith((".safetensors", *_TORCH_WEIGHTS)) for p in chosen):
        return []
    return sorted(chosen)


def _format_of(paths: Sequence[str]) -> str:
    if any(p.endswith(".safetensors") for p in paths):
        return "safetensors"
    if any(is_gguf(p) for p in paths):
        return "gguf"
    return "other"
