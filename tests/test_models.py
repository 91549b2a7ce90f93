"""The data the catalog holds: derived facts of an entry, its manifest and summary forms, and
the tolerant typed read of metadata (a manifest is outside data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._models import (
    HASH_FIRST_SEEN,
    ModelFile,
    ModelInfo,
    ModelMetadata,
)

_COMMIT = "a" * 40


def _info(home: Path) -> ModelInfo:
    folder = home / "models" / "hf" / "org" / "m" / _COMMIT
    return ModelInfo(
        reference="hf:org/m:Q4_K_M",
        repo="org/m",
        revision="main",
        selector="Q4_K_M",
        commit=_COMMIT,
        format="gguf",
        model_path=folder / "m-Q4_K_M-00001-of-00002.gguf",
        files=[
            ModelFile("m-Q4_K_M-00001-of-00002.gguf", 10, "1" * 64),
            ModelFile("m-Q4_K_M-00002-of-00002.gguf", 20, "2" * 64),
            ModelFile("mmproj-m-f16.gguf", 5, "3" * 64, hash_source=HASH_FIRST_SEEN),
            ModelFile("README.md", 1, "4" * 64, git_sha1="5" * 40),
        ],
        downloaded_at="2026-01-01T00:00:00+00:00",
    )


def test_derived_facts_of_an_entry(tmp_path: Path) -> None:
    info = _info(tmp_path)
    assert info.total_size == 36
    assert info.file_count == 4
    assert info.gguf_files == ["m-Q4_K_M-00001-of-00002.gguf", "m-Q4_K_M-00002-of-00002.gguf"]
    assert info.projector == "mmproj-m-f16.gguf"
    assert info.projector_path == info.model_path.parent / "mmproj-m-f16.gguf"
    assert info.unverified_files == ["mmproj-m-f16.gguf"]
    assert info.quantization == "Q4_K_M"  # from the name until a header says otherwise
    info.metadata.quantization = "Q5_0"
    assert info.quantization == "Q5_0"


def test_manifest_form_is_relative_to_the_home_and_the_summary_absolute(tmp_path: Path) -> None:
    info = _info(tmp_path)
    data = info.to_json(tmp_path)
    assert data["model_path"] == f"models/hf/org/m/{_COMMIT}/m-Q4_K_M-00001-of-00002.gguf"
    assert data["metadata"]["schema"] == 1
    summary = info.summary()
    assert summary["path"] == str(info.model_path)
    assert summary["projector"] == str(info.projector_path)
    assert summary["total_size"] == 36 and summary["file_count"] == 4
    assert summary["files"][3] == {
        "path": "README.md",
        "size": 1,
        "sha256": "4" * 64,
        "git_sha1": "5" * 40,
        "lfs": False,
        "hash_source": "published",
    }


def test_metadata_round_trips_and_drops_what_is_ill_typed() -> None:
    meta = ModelMetadata(format="gguf", architecture="llama", parameter_count=7, vocab_size=3)
    assert ModelMetadata.from_dict(meta.to_dict()) == meta
    odd = ModelMetadata.from_dict(
        {"format": "exe", "parameter_count": True, "name": 5, "has_chat_template": 1, "x": 1}
    )
    assert odd == ModelMetadata()


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.floats())


@given(st.dictionaries(st.sampled_from([*ModelMetadata().to_dict(), "other"]), _VALUES))
def test_metadata_from_any_dict_is_well_typed(data: dict[str, Any]) -> None:
    meta = ModelMetadata.from_dict(data)
    for key, value in meta.to_dict().items():
        if key in ("schema", "format"):
            continue
        default = getattr(ModelMetadata(), key)
        assert value == default or value == data.get(key)
        assert type(value) in (type(default), str, int) or value is None
    assert meta.format in ("gguf", "safetensors", "other")


def test_the_services_model_schema_is_the_summary_field_for_field(tmp_path: Path) -> None:
    """``server/_schemas.ModelOut`` repeats the summary's field list for the OpenAPI schema:
    this keeps the two from drifting apart (a key added to one only fails here)."""
    from model_provisioner.server._schemas import ModelOut

    info = _info(tmp_path)
    summary = info.summary()
    assert set(ModelOut.model_fields) == set(summary)
    assert ModelOut.of(info).model_dump() == summary
