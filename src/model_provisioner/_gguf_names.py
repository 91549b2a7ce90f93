"""What GGUF file names mean: quantization tags, split parts, vision projectors, the ladder.

The one place these conventions live: references (is ``:Q4_K_M`` a tag or a file?), selection
(which file a bare ``org/repo`` means), the catalog (which installed entry it means), metadata
(which file is the model, which a projector) and the listing all ask here, so they cannot
disagree. Names follow llama.cpp's ``llama-quantize`` and what TheBloke, bartowski, unsloth and
ggml-org publish.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

# Every tag llama.cpp can write, in the spellings repos use: k-quants with size suffixes
# (Q4_K_M, Q3_K_XL), legacy (Q4_0, Q5_1), i-quants (IQ2_XXS, IQ4_NL), ternary (TQ1_0),
# MXFP4 (gpt-oss), NVFP4, and the unquantized float types.
_TAG = r"I?Q[1-8](?:_[0-9A-Z]+)*|TQ[12]_0|MXFP4(?:_MOE)?|NVFP4|BF16|FP16|FP32|F16|F32"
_TAG_ONLY = re.compile(rf"^(?:{_TAG})$", re.IGNORECASE)
_TAG_IN_NAME = re.compile(rf"(?<![A-Za-z0-9])({_TAG})(?![A-Za-z0-9])", re.IGNORECASE)
SPLIT_PART = re.compile(
    r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.(?P<ext>gguf|safetensors)$"
)
_PROJECTOR = "mmproj"

# The default for a bare ``org/repo``, best first. Q4_K_M then Q8_0 (Ollama's and llama.cpp's
# defaults); after them the other ~4-5 bit quants (the size/quality sweet spot), then more bits
# (Q5, Q6), then fewer (Q3, Q2, 1-bit), and full precision last: a silent F16 pull of a 7B model
# is 14 GB nobody asked for. A tag not listed ranks after the listed quants, before the floats.
LADDER: tuple[str, ...] = (
    "Q4_K_M",
    "Q8_0",
    "Q4_K_S",
    "Q4_K_L",
    "Q4_K_XL",
    "IQ4_XS",
    "IQ4_NL",
    "Q4_0",
    "Q4_1",
    "Q5_K_M",
    "Q5_K_S",
    "Q5_K_L",
    "Q5_K_XL",
    "Q5_0",
    "Q5_1",
    "Q6_K",
    "Q6_K_L",
    "Q6_K_XL",
    "MXFP4",
    "MXFP4_MOE",
    "NVFP4",
    "Q3_K_L",
    "Q3_K_XL",
    "Q3_K_M",
    "IQ3_M",
    "Q3_K_S",
    "IQ3_S",
    "IQ3_XS",
    "IQ3_XXS",
    "Q2_K_L",
    "Q2_K_XL",
    "Q2_K",
    "Q2_K_S",
    "IQ2_M",
    "IQ2_S",
    "IQ2_XS",
    "IQ2_XXS",
    "IQ1_M",
    "IQ1_S",
    "Q1_0",
    "TQ2_0",
    "TQ1_0",
)
FLOATS: tuple[str, ...] = ("BF16", "F16", "FP16", "F32", "FP32")
_RANK = {tag: i for i, tag in enumerate(LADDER)}


def is_quant_tag(text: str) -> bool:
    """``Q4_K_M``, ``iq2_xxs``, ``MXFP4``, ``F16``...: a selector that names a quantization."""
    return _TAG_ONLY.match(text) is not None


def quant_of(path: str) -> str | None:
    """The quantization tag a file name carries (upper case), or None."""
    match = _TAG_IN_NAME.search(posixpath.basename(path))
    return match.group(1).upper() if match else None


def has_quant(path: str, tag: str) -> bool:
    """Whether the file's name carries exactly ``tag`` (``Q4_K`` is not ``Q4_K_M``)."""
    return any(m.upper() == tag.upper() for m in _TAG_IN_NAME.findall(posixpath.basename(path)))


def is_gguf(path: str) -> bool:
    return path.lower().endswith(".gguf")


def is_projector(path: str) -> bool:
    """A vision projector (``mmproj-*.gguf``, ``*-mmproj-f16.gguf``): not a model on its own."""
    return is_gguf(path) and _PROJECTOR in posixpath.basename(path).lower()


def model_ggufs(paths: Iterable[str]) -> list[str]:
    """The GGUF files that are models (projectors left out), sorted."""
    return sorted(p for p in paths if is_gguf(p) and not is_projector(p))


def projectors(paths: Iterable[str]) -> list[str]:
    """Projector files, the one to take first: F16 as llama.cpp converts them, then by name."""
    found = [p for p in paths if is_projector(p)]
    order = {"F16": 0, "BF16": 1, "F32": 2, "Q8_0": 3}
    return sorted(found, key=lambda p: (order.get(quant_of(p) or "", 9), p))


def split_part(path: str) -> re.Match[str] | None:
    """``name-00001-of-00003.gguf`` (or ``.safetensors``): stem, part number, part count."""
    return SPLIT_PART.match(posixpath.basename(path))


def is_default_quant(tag: str | None) -> bool:
    """Q4_K_M or Q8_0: what a bare reference takes without having to say so."""
    return tag in LADDER[:2]


def preference(tag: str | None) -> int:
    """Rank of a quantization on the ladder; lower is preferred."""
    if tag is None:
        return len(LADDER) + len(FLOATS) + 1
    if tag in _RANK:
        return _RANK[tag]
    if tag in FLOATS:
        return len(LADDER) + 1 + FLOATS.index(tag)
    return len(LADDER)
