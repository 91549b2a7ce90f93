"""Which files a reference selects from a repo listing."""

from __future__ import annotations

import pytest

from model_provisioner import ModelNotFound, parse_reference
from model_provisioner._gguf_names import quant_of
from model_provisioner._selection import available_quantizations, select_files

THEBLOKE = [
    ".gitattributes",
    "README.md",
    "config.json",
    "tinyllama-1.1b-chat-v1.0.Q2_K.gguf",
    "tinyllama-1.1b-chat-v1.0.Q4_K.gguf",
    "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
    "tinyllama-1.1b-chat-v1.0.Q4_K_S.gguf",
    "tinyllama-1.1b-chat-v1.0.Q8_0.gguf",
]
SPLIT = [
    "README.md",
    "Q4_K_M/model-Q4_K_M-00001-of-00003.gguf",
    "Q4_K_M/model-Q4_K_M-00002-of-00003.gguf",
    "Q4_K_M/model-Q4_K_M-00003-of-00003.gguf",
    "Q8_0/model-Q8_0-00001-of-00002.gguf",
    "Q8_0/model-Q8_0-00002-of-00002.gguf",
]
SAFETENSORS = [
    ".gitattributes",
    "1_Pooling/config.json",
    "README.md",
    "config.json",
    "config_sentence_transformers.json",
    "flax_model.msgpack",
    "model.safetensors",
    "modules.json",
    "onnx/model.onnx",
    "onnx/config.json",
    "pytorch_model.bin",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tf_model.h5",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
]


def select(paths: list[str], ref: str) -> tuple[tuple[str, ...], str, str | None]:
    s = select_files(paths, parse_reference(ref))
    return s.paths, s.format, s.primary


def test_default_gguf_prefers_q4_k_m_not_q4_k() -> None:
    paths, fmt, primary = select(THEBLOKE, "o/r")
    assert paths == ("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",) and fmt == "gguf"
    assert primary == paths[0]


def test_default_falls_back_to_q8_0_then_down_the_ladder() -> None:
    no_q4 = [p for p in THEBLOKE if "Q4_K_M" not in p]
    chosen = select_files(no_q4, parse_reference("o/r"))
    assert chosen.paths == ("tinyllama-1.1b-chat-v1.0.Q8_0.gguf",)
    assert (chosen.quant, chosen.fallback) == ("Q8_0", False)
    only_odd = ["b.Q5_K_S.gguf", "a.Q3_K_L.gguf", "c.F16.gguf", "d.BF16.gguf"]
    chosen = select_files(only_odd, parse_reference("o/r"))
    assert chosen.paths == ("b.Q5_K_S.gguf",)
    assert (chosen.quant, chosen.fallback) == ("Q5_K_S", True)
    floats = select_files(["x.F32.gguf", "x.F16.gguf", "x.BF16.gguf"], parse_reference("o/r"))
    assert floats.quant == "BF16" and floats.fallback


def test_unknown_tag_ranks_after_the_ladder_before_floats_and_untagged() -> None:
    paths = ["m.f16.gguf", "m.gguf", "m.Q4_0_4_4.gguf"]
    assert select(paths, "o/r")[0] == ("m.Q4_0_4_4.gguf",)
    assert select(["m.gguf", "m.f16.gguf"], "o/r")[0] == ("m.f16.gguf",)


def test_vision_repo_brings_its_projector_and_loads_the_model() -> None:
    paths = [
        "Qwen2-VL-7B-Q4_K_M.gguf",
        "Qwen2-VL-7B-Q8_0.gguf",
        "mmproj-Qwen2-VL-7B-f32.gguf",
        "mmproj-Qwen2-VL-7B-f16.gguf",
    ]
    for ref in ("o/r", "o/r:Q8_0", "o/r:Qwen2-VL-7B-Q8_0.gguf"):
        chosen = select_files(paths, parse_reference(ref))
        assert chosen.projector == "mmproj-Qwen2-VL-7B-f16.gguf", ref
        assert chosen.primary == chosen.paths[0] != chosen.projector
        assert chosen.paths[-1] == chosen.projector and len(chosen.paths) == 2
    assert select_files(paths, parse_reference("o/r")).quant == "Q4_K_M"
    alone = select_files(paths, parse_reference("o/r:mmproj-Qwen2-VL-7B-f32.gguf"))
    assert alone.paths == ("mmproj-Qwen2-VL-7B-f32.gguf",) and alone.projector is None


@pytest.mark.parametrize("tag", ["Q4_K_S", "q4_k_s", "Q4_K", "Q2_K"])
def test_quant_selector_matches_the_exact_tag(tag: str) -> None:
    (path,) = select(THEBLOKE, f"o/r:{tag}")[0]
    assert quant_of(path) == tag.upper()


def test_split_gguf_selects_all_parts_and_loads_the_first() -> None:
    paths, fmt, primary = select(SPLIT, "o/r")
    assert paths == tuple(SPLIT[1:4]) and primary == SPLIT[1] and fmt == "gguf"
    paths, _, primary = select(SPLIT, "o/r:Q8_0/model-Q8_0-00002-of-00002.gguf")
    assert paths == tuple(SPLIT[4:]) and primary == SPLIT[4]


def test_file_selector_exact_and_case_insensitive() -> None:
    assert select(THEBLOKE, "o/r:tinyllama-1.1b-chat-v1.0.Q8_0.gguf")[0] == (THEBLOKE[7],)
    assert select(THEBLOKE, "o/r:TINYLLAMA-1.1B-CHAT-V1.0.Q8_0.GGUF")[0] == (THEBLOKE[7],)


def test_glob_selector() -> None:
    paths, _, primary = select(THEBLOKE, "o/r:*Q4_K*")
    assert len(paths) == 3 and primary is None


def test_safetensors_default_skips_duplicate_formats() -> None:
    paths, fmt, primary = select(SAFETENSORS, "o/r")
    assert fmt == "safetensors" and primary is None
    assert "model.safetensors" in paths and "1_Pooling/config.json" in paths
    assert "tokenizer.json" in paths and "vocab.txt" in paths
    for dup in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "onnx/model.onnx"):
        assert dup not in paths
    assert "onnx/config.json" not in paths


def test_pytorch_only_repo_keeps_bin() -> None:
    paths, _, _ = select(["config.json", "pytorch_model.bin", "tokenizer.json"], "o/r")
    assert "pytorch_model.bin" in paths


def test_missing_quant_names_the_available_ones() -> None:
    available = r"\(available: Q4_K_M, Q8_0, Q4_K_S, Q2_K, Q4_K\)"
    with pytest.raises(ModelNotFound, match=r"no Q6_K GGUF file " + available):
        select(THEBLOKE, "o/r:Q6_K")
    with pytest.raises(ModelNotFound):
        select(THEBLOKE, "o/r:nothing.gguf")
    with pytest.raises(ModelNotFound):
        select([], "o/r")


def test_available_quantizations() -> None:
    assert available_quantizations(THEBLOKE) == ["Q4_K_M", "Q8_0", "Q4_K_S", "Q2_K", "Q4_K"]
