"""Transformers-style JSON files: config.json, generation_config.json, tokenizer.json,
tokenizer_config.json (and chat_template.jinja).

Models spell the same fact several ways (``n_positions``, ``max_position_embeddings``...) and
multimodal ones nest the language model under ``text_config``; the lookups below try the usual
spellings in order. Every file is size-capped before it is read: these come from the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._errors import MetadataError
from ._source import ByteSource

__all__ = [
    "ModelConfig",
    "TokenizerConfig",
    "read_chat_template_file",
    "read_json",
    "read_model_config",
    "read_tokenizer_config",
    "tokenizer_vocab_size",
]

MAX_CONFIG = 16 << 20
MAX_TOKENIZER = 128 << 20  # big vocabularies (Gemma: ~33 MB) and their merges

_CONTEXT: tuple[str, ...] = ("max_position_embeddings", "n_positions", "max_sequence_length")
_CONTEXT += ("seq_length", "n_ctx", "max_seq_len")
_HIDDEN = ("hidden_size", "n_embd", "d_model", "dim")
_LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_HEADS = ("num_attention_heads", "n_head", "num_heads", "n_heads")
_KV_HEADS = ("num_key_value_heads", "n_head_kv", "num_kv_heads", "n_kv_heads")


def read_json(source: ByteSource, *, cap: int = MAX_CONFIG, what: str = "JSON file") -> Any:
    """Load a JSON document of at most ``cap`` bytes; anything else is a MetadataError."""
    if source.size > cap:
        raise MetadataError(f"{what} of {source.size} bytes is over the {cap} byte limit")
    raw = source.read(0, source.size)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MetadataError(f"{what} is not valid JSON: {str(exc)[:80]}") from exc


def _object(source: ByteSource, cap: int, what: str) -> dict[str, Any]:
    data = read_json(source, cap=cap, what=what)
    if not isinstance(data, dict):
        raise MetadataError(f"{what} is not a JSON object")
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_int(tables: list[dict[str, Any]], keys: tuple[str, ...]) -> int | None:
    for table in tables:
        for key in keys:
            value = _int(table.get(key))
            if value is not None:
                return value
    return None


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The facts config.json gives about a model."""

    architectures: tuple[str, ...] = ()
    model_type: str | None = None
    name_or_path: str | None = None
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    max_position_embeddings: int | None = None
    vocab_size: int | None = None
    dtype: str | None = None
    quant_method: str | None = None


def read_model_config(source: ByteSource) -> ModelConfig:
    """Parse config.json (falling back to ``text_config`` for multimodal models)."""
    cfg = _object(source, MAX_CONFIG, "config.json")
    tables = [cfg]
    for nested in ("text_config", "llm_config", "language_config"):
        if isinstance(cfg.get(nested), dict):
            tables.append(cfg[nested])
    archs = cfg.get("architectures")
    dtype = next(
        (t[k] for t in tables for k in ("torch_dtype", "dtype") if isinstance(t.get(k), str)),
        None,
    )
    quant = cfg.get("quantization_config")
    quant_method = quant.get("quant_method") if isinstance(quant, dict) else None
    model_type, name = cfg.get("model_type"), cfg.get("_name_or_path")
    return ModelConfig(
        architectures=tuple(a for a in archs if isinstance(a, str))
        if isinstance(archs, list)
        else (),
        model_type=model_type if isinstance(model_type, str) else None,
        name_or_path=name if isinstance(name, str) and name else None,
        hidden_size=_first_int(tables, _HIDDEN),
        num_hidden_layers=_first_int(tables, _LAYERS),
        num_attention_heads=_first_int(tables, _HEADS),
        num_key_value_heads=_first_int(tables, _KV_HEADS),
        max_position_embeddings=_first_int(tables, _CONTEXT),
        vocab_size=_first_int(tables, ("vocab_size", "padded_vocab_size")),
        dtype=dtype,
        quant_method=quant_method if isinstance(quant_method, str) else None,
    )


def tokenizer_vocab_size(source: ByteSource) -> int | None:
    """Tokens in tokenizer.json: the model's vocabulary plus added tokens not already in it."""
    tok = _object(source, MAX_TOKENIZER, "tokenizer.json")
    model = tok.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    added = tok.get("added_tokens")
    added = [a for a in added if isinstance(a, dict)] if isinstance(added, list) else []
    if isinstance(vocab, dict):  # BPE, WordPiece, WordLevel: token -> id
        extra = sum(1 for a in added if a.get("content") not in vocab)
        return len(vocab) + extra
    if isinstance(vocab, list):  # Unigram: [token, score] pairs, id = position
        ids = {_int(a.get("id")) for a in added}
        return len(vocab) + sum(1 for i in ids if i is not None and i >= len(vocab))
    return len(added) or None


@dataclass(frozen=True, slots=True)
class TokenizerConfig:
    """tokenizer_config.json: whether a chat template ships, and its text."""

    has_chat_template: bool = False
    chat_template: str | None = None
    model_max_length: int | None = None


def read_tokenizer_config(source: ByteSource) -> TokenizerConfig:
    cfg = _object(source, MAX_TOKENIZER, "tokenizer_config.json")
    template = cfg.get("chat_template")
    text: str | None = None
    if isinstance(template, str):
        text = template
    elif isinstance(template, list):  # [{"name": "default", "template": "..."}, ...]
        named = {
            t.get("name"): t.get("template")
            for t in template
            if isinstance(t, dict) and isinstance(t.get("template"), str)
        }
        text = named.get("default") or next(iter(named.values()), None)
    max_len = _int(cfg.get("model_max_length"))
    return TokenizerConfig(
        has_chat_template=text is not None,
        chat_template=text,
        model_max_length=max_len if max_len is not None and max_len < 1 << 40 else None,
    )


def read_chat_template_file(source: ByteSource) -> str:
    """chat_template.jinja, which newer transformers write beside tokenizer_config.json."""
    if source.size > MAX_CONFIG:
        raise MetadataError(f"chat template of {source.size} bytes is too large")
    return source.read(0, source.size).decode("utf-8", "replace")
