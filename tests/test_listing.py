"""Short names, ages, and the --filter / --sort expressions of ``provisioner list``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner import ModelFile, ModelInfo, UsageError
from model_provisioner._listing import (
    ListedModel,
    ago,
    compile_filter,
    compile_sort,
    select_rows,
    short_name,
    timestamp,
)

NOW = timestamp("2026-11-30T12:00:00+00:00") or 0.0


def info(repo: str, files: list[tuple[str, int]], **extra: object) -> ModelInfo:
    fields: dict[str, object] = {
        "reference": f"hf:{repo}",
        "repo": repo,
        "revision": "main",
        "selector": None,
        "commit": "a" * 40,
        "format": "gguf",
        "model_path": Path("/m") / files[0][0],
        "files": [ModelFile(p, size, "b" * 64) for p, size in files],
        "downloaded_at": "2026-11-28T12:00:00+00:00",
        **extra,
    }
    return ModelInfo(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "just now"),
        (50, "1 minute ago"),
        (150, "2 minutes ago"),
        (3600 * 5, "5 hours ago"),
        (86400 * 2, "2 days ago"),
        (86400 * 8, "1 week ago"),
        (86400 * 65, "2 months ago"),
        (86400 * 800, "2 years ago"),
        (-30, "just now"),
    ],
)
def test_ages_read_like_ollama_list(seconds: float, said: str) -> None:
    assert ago(NOW - seconds, NOW) == said
    assert ago(None, NOW) == "-"


def test_short_names_say_org_repo_and_quant() -> None:
    assert short_name(info("o/r", [("x.Q4_K_M.gguf", 1)])) == "o/r:Q4_K_M"
    assert short_name(info("o/r", [("x.Q4_K_M.gguf", 1)], revision="v2")) == "o/r@v2:Q4_K_M"
    assert short_name(info("o/r", [("x.gguf", 1)], selector="x.gguf")) == "o/r:x.gguf"
    assert short_name(info("o/r", [("a.Q8_0.gguf", 1)], selector="*.gguf")) == "o/r:*.gguf"
    st_model = info("o/r", [("model.safetensors", 1)], format="safetensors")
    assert short_name(st_model) == "o/r"


def test_filters_and_sorts_as_hf_cache_ls() -> None:
    models = [
        ListedModel.of(info("a/big", [("big.Q8_0.gguf", 3_000_000_000)])),
        ListedModel.of(
            info("b/small", [("s.Q4_K_M.gguf", 200_000_000)], downloaded_at="2026-11-30T11:59:00")
        ),
        ListedModel.of(info("c/mid", [("m.F16.gguf", 900_000_000)], downloaded_at="garbled")),
    ]

    def names(rows: list[ListedModel]) -> list[str]:
        return [r.name for r in rows]

    assert names(select_rows(models, NOW)) == ["a/big:Q8_0", "b/small:Q4_K_M", "c/mid:F16"]
    assert names(select_rows(models, NOW, ["size>1GB"])) == ["a/big:Q8_0"]
    assert names(select_rows(models, NOW, ["size<=900MB", "format=GGUF"])) == [
        "b/small:Q4_K_M",
        "c/mid:F16",
    ]
    assert names(select_rows(models, NOW, ["modified>1d"])) == ["a/big:Q8_0"]
    assert names(select_rows(models, NOW, ["quant!=q8_0", "name=*/s*"])) == ["b/small:Q4_K_M"]
    assert names(select_rows(models, NOW, sort="size")) == [
        "a/big:Q8_0",
        "c/mid:F16",
        "b/small:Q4_K_M",
    ]
    assert names(select_rows(models, NOW, sort="modified", limit=2)) == [
        "b/small:Q4_K_M",
        "a/big:Q8_0",
    ]
    assert names(select_rows(models, NOW, sort="name:desc"))[0] == "c/mid:F16"


@pytest.mark.parametrize(
    "bad", ["size", "size>", "size>lots", "format>gguf", "colour=red", "modified>7x", ""]
)
def test_a_bad_filter_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        compile_filter(bad, NOW)


@given(st.text(max_size=40))
def test_any_filter_or_sort_text_is_parsed_or_refused_cleanly(text: str) -> None:
    for compile_ in (lambda t: compile_filter(t, NOW), compile_sort):
        with contextlib.suppress(UsageError):
            compile_(text)
