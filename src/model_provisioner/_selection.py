"""Which files of a repo make up the model a reference asks for.

Pure: it sees the repo's file list and the reference, never the network.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import ModelNotFound
from ._references import ModelReference, SelectorKind

DEFAULT_QUANTS = ("Q4_K_M", "Q8_0")
_SPLIT = re.compile(r"^(?P<stem>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")
_DUPLICATE_DIRS = ("onnx/", "openvino/", "coreml/", "flax/", "tf/", "tflite/", "original/")
_TORCH_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")
_SMALL_FILES = (".json", ".txt", ".model", ".tiktoken", ".jinja")


@dataclass(frozen=True)
class Selection:
    """The chosen files, the model's format, and which path a worker loads."""

    paths: tuple[str, ...]
    format: str
    primary: str | None

    @property
    def is_folder(self) -> bool:
        return self.primary is None


def select_files(paths: Sequence[str], ref: ModelReference) -> Selection:
    kind = ref.selector_kind
    if kind is SelectorKind.QUANT:
        assert ref.selector is not None
        return _gguf_selection(_by_quant(paths, ref.selector, ref))
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


def quantization_of(path: str) -> str | None:
    """The quantization tag a GGUF file name carries, as llama.cpp and TheBloke spell them."""
    name = path.rsplit("/", 1)[-1]
    match = re.search(
        r"(?<![A-Za-z0-9])(I?Q[1-8](?:_[0-9A-Za-z]+)*|F16|F32|BF16|FP16)(?![A-Za-z0-9])",
        name,
        re.IGNORECASE,
    )
    return match.group(1).upper() if match else None


def available_quantizations(paths: Sequence[str]) -> list[str]:
    return sorted({q for p in _ggufs(paths) if (q := quantization_of(p))})


def _ggufs(paths: Sequence[str]) -> list[str]:
    return sorted(
        p for p in paths if p.endswith(".gguf") and not p.rsplit("/", 1)[-1].startswith("mmproj")
    )


def _by_quant(paths: Sequence[str], quant: str, ref: ModelReference) -> list[str]:
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?![A-Za-z0-9_])", re.IGNORECASE)
    matched = [p for p in _ggufs(paths) if pattern.search(p)]
    if not matched:
        known = ", ".join(available_quantizations(paths)) or "none"
        raise ModelNotFound(
            f"{ref.repo}@{ref.revision} has no {quant} GGUF file (available: {known})"
        )
    return _complete_split(paths, matched[0])


def _complete_split(paths: Sequence[str], chosen: str) -> list[str]:
    match = _SPLIT.match(chosen)
    if not match:
        return [chosen]
    stem, count = match["stem"], match["count"]
    return sorted(
        p for p in paths if (m := _SPLIT.match(p)) and m["stem"] == stem and m["count"] == count
    )


def _gguf_selection(parts: list[str]) -> Selection:
    return Selection(tuple(parts), "gguf", parts[0])


def _file_selection(paths: Sequence[str], wanted: str, ref: ModelReference) -> Selection:
    if wanted not in paths:
        folded = [p for p in paths if p.casefold() == wanted.casefold()]
        if len(folded) != 1:
            raise ModelNotFound(f"{ref.repo}@{ref.revision} has no file {wanted!r}")
        wanted = folded[0]
    if wanted.endswith(".gguf"):
        return _gguf_selection(_complete_split(paths, wanted))
    return _mixed_selection(paths, [wanted])


def _mixed_selection(paths: Sequence[str], matched: list[str]) -> Selection:
    ggufs = [p for p in matched if p.endswith(".gguf")]
    if ggufs and len(ggufs) == len(matched):
        complete = sorted({part for g in ggufs for part in _complete_split(paths, g)})
        if len({_SPLIT.sub(r"\g<stem>", p) for p in complete}) == 1:
            return _gguf_selection(complete)
        return Selection(tuple(complete), "gguf", None)
    if len(matched) == 1:
        return Selection(tuple(matched), _format_of(matched), matched[0])
    return Selection(tuple(matched), _format_of(matched), None)


def _default_selection(paths: Sequence[str], ref: ModelReference) -> Selection:
    ggufs = _ggufs(paths)
    if ggufs:
        for quant in DEFAULT_QUANTS:
            pattern = re.compile(rf"(?<![A-Za-z0-9]){quant}(?![A-Za-z0-9_])", re.IGNORECASE)
            found = [p for p in ggufs if pattern.search(p)]
            if found:
                return _gguf_selection(_complete_split(paths, found[0]))
        return _gguf_selection(_complete_split(paths, ggufs[0]))
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
    if any(p.endswith(".gguf") for p in paths):
        return "gguf"
    return "other"
