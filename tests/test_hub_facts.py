"""The form checks on what a server says: ids, hashes, sizes, paths, agreement of sources."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner import IntegrityError
from model_provisioner._hub_facts import (
    FileFacts,
    check_layout,
    commit_sha,
    etag_hash,
    merge,
    path_of,
    same_repo,
    sha1_of,
    sha256_of,
    size_of,
)

SHA1 = "a" * 40
SHA256 = "b" * 64


def test_commit_is_exactly_40_lowercase_hex() -> None:
    assert commit_sha(SHA1, "x") == SHA1
    for bad in ["A" * 40, "a" * 39, "a" * 41, "../" + "a" * 37, None, 40, ["a" * 40], "g" * 40]:
        with pytest.raises(IntegrityError):
            commit_sha(bad, "x")


def test_repo_must_be_the_one_asked_ignoring_case() -> None:
    assert same_repo("ok/gguf", "OK/GGUF", "x") == "OK/GGUF"
    assert same_repo("ok/gguf", None, "x") == "ok/gguf"
    for bad in ["evil/x", "ok/gguf/../x", "ok/gguf2", 3, ["ok/gguf"]]:
        with pytest.raises(IntegrityError, match="asked for ok/gguf"):
            same_repo("ok/gguf", bad, "x")


@pytest.mark.parametrize("value", [-1, True, False, "12", 1.0, 1 << 60, [1], {"a": 1}])
def test_size_refuses_negative_bool_str_float_huge(value: object) -> None:
    with pytest.raises(IntegrityError, match="invalid size"):
        size_of(value, "x", "f")


def test_size_accepts_ints_and_absence() -> None:
    assert size_of(0, "x", "f") == 0 and size_of(7, "x", "f") == 7
    assert size_of(None, "x", "f") is None


def test_hashes_by_shape() -> None:
    assert sha256_of(SHA256.upper(), "x", "f") == SHA256
    assert sha1_of(SHA1, "x", "f") == SHA1
    for bad in [SHA1, "../x", 5, "z" * 64]:
        with pytest.raises(IntegrityError):
            sha256_of(bad, "x", "f")
    for bad in [SHA256, "../../../x", 5, ""]:
        with pytest.raises(IntegrityError):
            sha1_of(bad, "x", "f")


@pytest.mark.parametrize(
    ("etag", "expected"),
    [
        (f'"{SHA256}"', (SHA256, None)),
        (f'W/"{SHA256}"', (SHA256, None)),
        (f'W/"{SHA1}"', (None, SHA1)),
        (SHA1, (None, SHA1)),
        ('"5f3a-1b2c"', (None, None)),
        ('"' + "c" * 32 + '"', (None, None)),  # an md5 from S3 publishes nothing we check
        (None, (None, None)),
        ("", (None, None)),
    ],
)
def test_etag_counts_only_when_hash_shaped(
    etag: str | None, expected: tuple[str | None, str | None]
) -> None:
    assert etag_hash(etag) == expected


def test_layout_refuses_duplicates_and_file_folder_clash() -> None:
    check_layout(["a/b.json", "a/c.json", "b"], "x")
    with pytest.raises(IntegrityError, match="twice"):
        check_layout(["a", "a"], "x")
    with pytest.raises(IntegrityError, match="both a file and a folder"):
        check_layout(["a", "a/b.json"], "x")
    with pytest.raises(IntegrityError, match="both a file and a folder"):
        check_layout(["x/y/z", "x/y"], "x")


def test_merge_takes_the_union_and_refuses_disagreement() -> None:
    merged = merge("f", [("a", FileFacts("f", 3)), ("b", FileFacts("f", 3, SHA256))])
    assert merged == FileFacts("f", 3, SHA256, None)
    with pytest.raises(IntegrityError, match=r"disagrees.*size"):
        merge("f", [("a", FileFacts("f", 3)), ("b", FileFacts("f", 4))])
    with pytest.raises(IntegrityError, match="sha256"):
        merge("f", [("a", FileFacts("f", None, SHA256)), ("b", FileFacts("f", None, "c" * 64))])


hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=80),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@given(hostile_values)
def test_any_value_is_accepted_only_in_form(value: object) -> None:
    """Every check either returns a value of the right form or raises IntegrityError."""
    for check in (
        lambda v: size_of(v, "x", "f"),
        lambda v: sha1_of(v, "x", "f"),
        lambda v: sha256_of(v, "x", "f"),
        lambda v: commit_sha(v, "x"),
        lambda v: path_of(v, "x"),
    ):
        try:
            result = check(value)
        except IntegrityError:
            continue
        assert result is None or isinstance(result, int | str)
        if isinstance(result, int):
            assert not isinstance(result, bool) and result >= 0


@given(st.text(max_size=60))
def test_a_path_that_passes_stays_inside(path: str) -> None:
    try:
        checked = path_of(path, "x")
    except IntegrityError:
        return
    parts = checked.split("/")
    assert ".." not in parts and "" not in parts and not checked.startswith("/")
    assert "\\" not in checked and not any(ord(c) < 32 for c in checked)
