"""The forms of names that become paths in the store: repo ids, commits, hashes, repo paths.

Whatever comes from a server or from a manifest on disk is checked here before the store joins it
into a path; a name that fails is an IntegrityError, never a path outside the home.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from . import _references as references
from ._errors import IntegrityError
from ._references import PROVIDERS

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
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


def safe_relpath(path: str) -> str:
    """Refuse a repo path that would land outside its folder: a hostile listing stops here."""
    parts = path.split("/") if isinstance(path, str) else [""]
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
        or re.match(r"^[A-Za-z]:", path)
    ):
        raise IntegrityError(f"the server listed a file outside the repository: {path!r}")
    return path
