"""The forms of names that become paths in the store: repo ids, commits, hashes, repo paths.

Whatever comes from a server or from a manifest on disk is checked here before the store joins it
into a path; a name that fails is an IntegrityError, never a path outside the home.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TypeGuard

from . import _references as references
from ._errors import IntegrityError
from ._references import PROVIDERS

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNPRINTED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_DRIVE = re.compile(r"[A-Za-z]:")
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def is_sha256(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def is_git_sha1(value: object) -> TypeGuard[str]:
    """A git object id: a commit sha or a blob id (40 lowercase hex)."""
    return isinstance(value, str) and _GIT_SHA1.fullmatch(value) is not None


def is_repo_id(value: object) -> bool:
    """``ORG/NAME`` under the Hub's rules, and nothing else (no revision, selector or alias)."""
    return isinstance(value, str) and references.is_repo_id(value)


def check_sha256(value: str) -> str:
    if not is_sha256(value):
        raise IntegrityError(f"not a sha256: {value!r}")
    return value


def check_commit(value: str) -> str:
    if not is_git_sha1(value):
        raise IntegrityError(f"not a commit sha: {value!r}")
    return value


def check_repo_id(value: str) -> str:
    if not is_repo_id(value):
        raise IntegrityError(f"not a repository id: {value!r}")
    return value


def check_provider(value: str) -> str:
    if value not in PROVIDERS:
        raise IntegrityError(f"unknown provider: {value!r}")
    return value


def path_problem(path: object) -> str | None:
    """Why ``path`` cannot be a file of a repo folder, or None: the one rule for every path
    that comes from outside (a server's listing, a lockfile, a manifest, an imported folder).

    It must stay below its folder, and print as itself on one line: no control (Cc), format
    (Cf: bidi overrides, zero-width marks), surrogate (Cs) or line/paragraph separator
    (Zl, Zp) characters, so a name can neither forge lines of output nor hide what it is. Not
    ``str.isprintable``: that also refuses spaces such as NBSP, and every code point this
    Python's Unicode tables do not know, so a lockfile written under one Python could be
    refused under another.
    """
    if not isinstance(path, str) or not path:
        return "with no name"
    if (
        _ASCII_CONTROL.search(path)
        if path.isascii()
        else any(unicodedata.category(c) in _UNPRINTED for c in path)
    ):
        return "with control characters"
    parts = path.split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or any(p in ("", ".", "..") for p in parts)
        or _DRIVE.match(path)
    ):
        return "outside the repository"
    return None


def safe_relpath(path: str) -> str:
    """``path`` if it passes ``path_problem``; else an IntegrityError (a caller reading a user's
    own file, the lockfile, says it as a UsageError)."""
    problem = path_problem(path)
    if problem is not None:
        shown = repr(path)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise IntegrityError(f"a file path {problem}: {shown}")
    return path
