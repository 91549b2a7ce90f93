"""GGML tensor types and llama.cpp file types, as plain tables.

Copied from ggml.h / llama.h (and checked against the ``gguf`` package by the tests) so that
reading a header needs no third-party code.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "FILE_TYPE_NAMES",
    "GGML_TYPES",
    "dominant_type",
    "file_type_label",
    "ggml_type_name",
    "quantization_label",
]

GGML_TYPES: dict[int, tuple[str, int, int]] = {
    # id: (name, elements per block, bytes per block)
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

FILE_TYPE_NAMES: dict[int, str] = {
    # llama_ftype: the label people use for a quantization ("Q4_K_M").
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_1_SOME_F16",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    33: "Q4_0_4_4",
    34: "Q4_0_4_8",
    35: "Q4_0_8_8",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}

_GUESSED = 1024  # llama.cpp ORs this in when the file type was inferred, not chosen


def ggml_type_name(type_id: int) -> str:
    """The GGML name of a tensor type; unknown ids keep their number visible."""
    entry = GGML_TYPES.get(type_id)
    return entry[0] if entry is not None else f"TYPE_{type_id}"


def file_type_label(file_type: int) -> str | None:
    """``general.file_type`` as a quantization label, or None for an unknown value."""
    return FILE_TYPE_NAMES.get(file_type & ~_GUESSED)


def dominant_type(type_elements: Mapping[int, int]) -> str | None:
    """The tensor type holding the most elements (None without tensors)."""
    if not type_elements:
        return None
    return ggml_type_name(max(type_elements.items(), key=lambda item: item[1])[0])


def quantization_label(file_type: int | None, dominant: str | None) -> str | None:
    """A GGUF's quantization: ``general.file_type`` as a label ("Q4_K_M") when it names a
    known one, else the dominant tensor type."""
    label = file_type_label(file_type) if file_type is not None else None
    return label if label is not None else dominant
