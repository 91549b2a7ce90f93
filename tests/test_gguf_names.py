"""GGUF naming conventions, in one place: every module that reads a name agrees with these."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._gguf_names import (
    FLOATS,
    LADDER,
    has_quant,
    is_projector,
    is_quant_tag,
    model_ggufs,
    preference,
    projectors,
    quant_of,
    split_part,
)
from model_provisioner._metadata._ggml_types import FILE_TYPE_NAMES
from model_provisioner._references import SelectorKind, parse_reference


@pytest.mark.parametrize("tag", ["MXFP4", "MXFP4_MOE", "TQ1_0", "TQ2_0", "FP32", "IQ2_XXS", "Q1_0"])
def test_tags_that_parse_as_selectors_are_recognised_in_file_names(tag: str) -> None:
    assert parse_reference(f"o/r:{tag.lower()}").selector_kind is SelectorKind.QUANT
    assert quant_of(f"gpt-oss-20b-{tag.lower()}.gguf") == tag
    assert has_quant(f"dir/model.{tag}.gguf", tag.lower())


def test_every_label_llama_cpp_writes_in_a_header_is_a_tag() -> None:
    for label in FILE_TYPE_NAMES.values():
        assert is_quant_tag(label), label


def test_every_rung_of_the_ladder_is_a_tag_and_ranks_in_order() -> None:
    for tag in (*LADDER, *FLOATS):
        assert is_quant_tag(tag), tag
    ranks = [preference(t) for t in LADDER]
    assert ranks == sorted(ranks) and LADDER[:2] == ("Q4_K_M", "Q8_0")
    assert preference("Q4_0_4_4") > preference(LADDER[-1])
    assert preference("Q4_0_4_4") < preference("BF16") < preference("F32") < preference(None)


def test_a_longer_tag_is_not_a_shorter_one() -> None:
    assert not has_quant("m.Q4_K_M.gguf", "Q4_K")
    assert has_quant("m.Q4_K.gguf", "Q4_K")
    assert quant_of("unsloth/Q4_K_XL/m-UD-Q4_K_XL-00001-of-00002.gguf") == "Q4_K_XL"
    assert quant_of("README.md") is None and quant_of("qwen2.5-0.5b-instruct.gguf") is None


def test_projectors_by_substring_whatever_their_place_in_the_name() -> None:
    names = ["mmproj-model-f16.gguf", "Model-MMPROJ-f32.gguf", "model.Q4_K_M.gguf", "mmproj.txt"]
    assert [is_projector(n) for n in names] == [True, True, False, False]
    assert model_ggufs(names) == ["model.Q4_K_M.gguf"]
    assert projectors(["mmproj-BF16.gguf", "mmproj-F32.gguf", "mmproj-F16.gguf"])[0] == (
        "mmproj-F16.gguf"
    )


def test_split_parts_of_gguf_and_safetensors() -> None:
    part = split_part("Q4_K_M/model-Q4_K_M-00002-of-00003.gguf")
    assert part is not None and (part["stem"], part["no"], part["count"]) == (
        "model-Q4_K_M",
        "00002",
        "00003",
    )
    assert split_part("model-00001-of-00002.safetensors") is not None
    assert split_part("model-1-of-2.gguf") is None


@given(st.text(max_size=80))
def test_names_from_a_server_never_crash(name: str) -> None:
    tag = quant_of(name)
    assert tag is None or is_quant_tag(tag)
    preference(tag)
    is_projector(name)
    split_part(name)
