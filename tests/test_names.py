"""Names that become store paths: only the exact forms pass, anything else is an
IntegrityError before a path is joined (hostile listings and manifests stop here)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._errors import IntegrityError
from model_provisioner._names import (
    check_commit,
    check_provider,
    check_repo_id,
    check_sha256,
    is_git_sha1,
    is_repo_id,
    is_sha256,
    safe_relpath,
)


def test_the_forms_that_pass() -> None:
    assert check_sha256("a" * 64) == "a" * 64
    assert check_commit("0" * 40) == "0" * 40
    assert check_repo_id("org/name") == "org/name"
    assert check_provider("hf") == "hf"
    assert safe_relpath("sub/dir/model.gguf") == "sub/dir/model.gguf"
    assert is_git_sha1("f" * 40) and not is_git_sha1("f" * 64)


@pytest.mark.parametrize(
    "bad", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, " " + "a" * 63, "a" * 64 + "\n", None, 7]
)
def test_a_sha256_is_64_lowercase_hex_only(bad: object) -> None:
    assert not is_sha256(bad)
    with pytest.raises(IntegrityError):
        check_sha256(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", ["org", "org/name/x", "../x", "org/..", "/org/name", "", "a/b@c", "org/name\n"]
)
def test_repo_ids_are_org_slash_name(bad: str) -> None:
    assert not is_repo_id(bad)
    with pytest.raises(IntegrityError):
        check_repo_id(bad)


@pytest.mark.parametrize("bad", ["nope", "", "HF", "../hf"])
def test_unknown_providers_are_refused(bad: str) -> None:
    with pytest.raises(IntegrityError, match="unknown provider"):
        check_provider(bad)


@pytest.mark.parametrize(
    "bad",
    ["", "/etc/passwd", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "C:x", "a\x00b", "a/./b"],
)
def test_a_repo_path_never_leaves_its_folder(bad: str) -> None:
    with pytest.raises(IntegrityError, match="outside the repository"):
        safe_relpath(bad)


@given(st.text(max_size=40))
def test_what_safe_relpath_passes_stays_below_its_folder(path: str) -> None:
    try:
        safe_relpath(path)
    except IntegrityError:
        return
    parts = path.split("/")
    assert not path.startswith("/") and ".." not in parts and "" not in parts
    assert "\x00" not in path and "\\" not in path
