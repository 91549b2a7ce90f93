"""The one lookup from a reference to an installed entry, and what entries still use."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_provisioner._catalog import Catalog
from model_provisioner._errors import DamagedManifest, ModelNotFound
from model_provisioner._references import parse_reference
from model_provisioner._store import Store
from tests.store_builders import entry, put_blob, write_raw_manifest

C1, C2 = "1" * 40, "2" * 40


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "home")
    s.ensure()
    return s


def test_exact_entry_first_then_one_holding_the_quant_best_on_the_ladder(store: Store) -> None:
    q8, q4 = put_blob(store, b"q8"), put_blob(store, b"q4")
    entry(store, "org/repo:Q8_0", C1, {"m.Q8_0.gguf": q8})
    entry(store, "org/repo:Q4_K_M", C1, {"m.Q4_K_M.gguf": q4})
    catalog = Catalog(store)
    found = catalog.find(parse_reference("org/repo:Q8_0"))
    assert found is not None and found.info.selector == "Q8_0"
    bare = catalog.find(parse_reference("org/repo"))
    assert bare is not None and bare.info.selector == "Q4_K_M"  # the ladder prefers Q4_K_M
    assert catalog.find(parse_reference("org/repo:Q5_K_M")) is None
    assert catalog.find(parse_reference("org/other")) is None
    with pytest.raises(ModelNotFound, match="org/other"):
        catalog.get(parse_reference("org/other"))
    assert sorted(i.selector or "" for i in catalog.all()) == ["Q4_K_M", "Q8_0"]


def test_a_file_selector_is_answered_by_an_entry_holding_that_file(store: Store) -> None:
    blob = put_blob(store, b"weights")
    entry(store, "org/repo:Q8_0", C1, {"m.Q8_0.gguf": blob})
    found = Catalog(store).find(parse_reference("org/repo:m.Q8_0.gguf"))
    assert found is not None and found.info.selector == "Q8_0"


def test_used_files_are_the_other_entries_and_all_while_one_is_damaged(store: Store) -> None:
    a, b = put_blob(store, b"a"), put_blob(store, b"b")
    entry(store, "org/repo:Q8_0", C1, {"m.Q8_0.gguf": a})
    entry(store, "org/repo:Q4_K_M", C2, {"m.Q4_K_M.gguf": b})
    catalog = Catalog(store)
    own = catalog.get(parse_reference("org/repo:Q8_0")).manifest
    assert catalog.used_files("hf", "org/repo", besides=own) == {(C2, "m.Q4_K_M.gguf")}
    write_raw_manifest(store, "org/repo", "Q2_K", b"{not json")
    used = catalog.used_files("hf", "org/repo", besides=own)
    assert {(C1, "m.Q8_0.gguf"), (C2, "m.Q4_K_M.gguf")} <= used  # nothing of the repo released
    assert [d.manifest.name for d in catalog.damaged()] == ["Q2_K.json"]


def test_a_damaged_own_manifest_fails_naming_it(store: Store) -> None:
    write_raw_manifest(store, "org/repo", "Q8_0", b"[]")
    with pytest.raises(DamagedManifest):
        Catalog(store).find(parse_reference("org/repo:Q8_0"))
