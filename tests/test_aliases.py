"""The alias file: seeded once, then the user's; names checked, targets canonical, TOML exact."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._aliases import (
    SEED,
    AliasFile,
    _toml_string,
    load_aliases,
    remove_alias,
    set_alias,
)
from model_provisioner._errors import InvalidReference, UsageError
from model_provisioner._store import alias_file


def test_first_use_writes_the_seed_and_later_edits_are_kept(tmp_path: Path) -> None:
    assert load_aliases(tmp_path) == SEED
    path = alias_file(tmp_path)
    assert path.read_text().startswith("# model-provisioner aliases")
    table = set_alias(tmp_path, "Mine", "org/Repo:q4_k_m")
    assert table["mine"] == "hf:org/Repo:Q4_K_M"
    remove_alias(tmp_path, "tinyllama")
    assert load_aliases(tmp_path) == {**{k: v for k, v in SEED.items() if k != "tinyllama"},
                                      "mine": "hf:org/Repo:Q4_K_M"}  # fmt: skip
    with pytest.raises(InvalidReference, match="tinyllama"):
        remove_alias(tmp_path, "tinyllama")


def test_names_and_targets_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidReference, match="cannot be an alias"):
        set_alias(tmp_path, "no spaces", "org/repo")
    with pytest.raises(InvalidReference):
        set_alias(tmp_path, "ok", "not a reference!")
    with pytest.raises(InvalidReference):
        set_alias(tmp_path, "ok", "tinyllama")  # a target is never another alias


def test_a_broken_file_is_a_usage_error(tmp_path: Path) -> None:
    (alias_file(tmp_path)).write_text("x = [unclosed\n")
    with pytest.raises(UsageError, match="cannot read alias file"):
        load_aliases(tmp_path)


def test_a_read_only_home_still_resolves_the_seed(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a read-only folder is writable")
        assert dict(AliasFile(locked)) == SEED and not alias_file(locked).exists()
    finally:
        locked.chmod(0o755)


@given(st.text(max_size=40))
def test_toml_strings_read_back_exactly(text: str) -> None:
    try:
        line = f"k = {_toml_string(text)}"
        parsed = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        # control characters are not allowed in basic strings; references never hold them
        assert any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in text)
        return
    assert parsed == {"k": text}
