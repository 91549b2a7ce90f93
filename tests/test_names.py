"""Names that become store paths: only the exact forms pass, anything else is an
IntegrityError before a path is joined (hostile listings and manifests stop here)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_provisioner._errors import IntegrityError, UsageError
from model_provisioner._hub_facts import path_of
from model_provisioner._lockfile import parse_lockfile
from model_provisioner._names import (
    check_commit,
    check_provider,
    check_repo_id,
    check_sha256,
    is_git_sha1,
    is_repo_id,
    is_sha256,
    path_problem,
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
    ["/etc/passwd", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "C:x", "a/./b"],
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


# Characters at the edges of the rule: what a terminal shows as itself passes, what it hides
# or turns into a line break does not.
EDGES = (
    "a", "Z", "0", ".", "-", "_", " ", "/", "\\", ":", "é", "模", "😀",
    "\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9b",  # C0, DEL, C1 (NEL, CSI)
    "\u00a0", "\u3000",  # spaces (Zs): pass
    "\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\u00ad",  # format (Cf): refused
    "\u2028", "\u2029",  # line and paragraph separators: refused
    "\ud800", "\udc80",  # lone surrogates (JSON can say them): refused
    "\ue000", "\U000f0000",  # private use: pass
    "\u0378",  # unassigned today: passes, so a newer Unicode cannot turn a lockfile away
)  # fmt: skip
paths = st.lists(st.sampled_from([*EDGES, "..", "./", "C:"]), max_size=8).map("".join)


def _lockfile_with(path: str) -> str:
    entry = {"path": path, "size": 1, "sha256": "a" * 64}
    model = {"reference": "hf:org/repo", "repo": "org/repo", "commit": "b" * 40, "files": [entry]}
    return json.dumps({"schema": 1, "models": [model]})


def _lockfile_refuses(path: str) -> bool:
    try:
        parse_lockfile(_lockfile_with(path))
    except UsageError as exc:
        assert ".files[0].path: " in exc.message, exc.message
        return True
    return False


def _hub_refuses(path: str) -> bool:
    try:
        path_of(path, "https://hub.test")
    except IntegrityError as exc:
        assert exc.message.startswith("https://hub.test listed a file path "), exc.message
        return True
    return False


@settings(max_examples=400)
@given(paths)
def test_the_lockfile_and_the_hub_facts_refuse_exactly_the_same_paths(path: str) -> None:
    """One rule (``path_problem``), two error classes: a server's listing is an integrity
    problem (exit 4), the user's own lockfile a usage problem (exit 2)."""
    # Both read the path out of JSON text, where an escaped surrogate pair is one character.
    received = json.loads(json.dumps(path))
    refused = path_problem(received) is not None
    assert _hub_refuses(received) is refused
    assert _lockfile_refuses(path) is refused


def test_an_escaped_surrogate_pair_is_one_character_to_both() -> None:
    """The pair hypothesis found: two lone surrogates in Python, one astral character once JSON
    text is read, which is all either place ever sees."""
    pair = "\ud800\udc80"
    assert path_problem(pair) == "with control characters"
    assert not _hub_refuses(json.loads(json.dumps(pair)))
    assert not _lockfile_refuses(pair)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("model.Q4_K_M.gguf", None),
        ("sub dir/模型\u00a0v2 😀.gguf", None),
        ("a\u0378\ue000", None),
        ("a\nerror: forged", "with control characters"),
        ("a\x1b[2Jb", "with control characters"),
        ("a\x85b", "with control characters"),
        ("evil\u202egguf.exe", "with control characters"),
        ("a\u200bb", "with control characters"),
        ("a\u2028b", "with control characters"),
        ("a\ud800b", "with control characters"),
        ("../x", "outside the repository"),
        ("", "with no name"),
    ],
)
def test_the_rule(path: str, problem: str | None) -> None:
    assert path_problem(path) == problem
