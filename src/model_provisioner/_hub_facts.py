"""What a server may say about a repo, checked in form where it enters (pure: no I/O).

A listing is untrusted input: its commit and blob ids become folder and partial-file names, its
paths become file names, its sizes go to ``ftruncate``. Each fact is checked here before anything
else sees it, and the facts one file gets from several sources (model info, tree listing, HEAD
headers) must agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from ._errors import IntegrityError
from ._names import is_git_sha1, safe_relpath

_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_SIZE = 1 << 50  # 1 PiB: larger is a hostile number, not a model file
_T = TypeVar("_T")


@dataclass(frozen=True)
class FileFacts:
    """What one source said about one file; None where it said nothing."""

    path: str
    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None


def commit_sha(value: object, origin: str) -> str:
    """A commit id: exactly 40 lowercase hex (it names a model folder)."""
    if not is_git_sha1(value):
        raise IntegrityError(f"{origin} gave a malformed commit id: {_short(value)}")
    return value


def same_repo(asked: str, answered: object, origin: str) -> str:
    """The server's spelling of the repo asked for; an answer about another repo is refused.

    A pull writes the entry named by this id, so ``evil/x`` answering ``ok/gguf`` (or a
    redirect to another repo) must never reach the store.
    """
    if answered is None:
        return asked
    if not isinstance(answered, str) or answered.casefold() != asked.casefold():
        moved = "; if the repository was renamed, pull it by its new name" if answered else ""
        raise IntegrityError(
            f"{origin} answered for repository {_short(answered)} when asked for {asked}",
            hint=f"a server may only describe the repository that was asked for{moved}",
        )
    return answered


def size_of(value: object, origin: str, path: str) -> int | None:
    """A byte count: a non-negative int (not bool, str or float), or None when absent."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_SIZE:
        raise IntegrityError(f"{origin} gave an invalid size for {path!r}: {_short(value)}")
    return value


def sha256_of(value: object, origin: str, path: str) -> str | None:
    """An LFS sha256: 64 hex, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise IntegrityError(f"{origin} gave a malformed sha256 for {path!r}: {_short(value)}")
    return value.lower()


def sha1_of(value: object, origin: str, path: str) -> str | None:
    """A git blob id: 40 hex, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA1.fullmatch(value):
        raise IntegrityError(f"{origin} gave a malformed blob id for {path!r}: {_short(value)}")
    return value.lower()


def path_of(value: object, origin: str) -> str:
    """A repo path that stays inside the model folder and prints as one line (the rule is
    ``_names.path_problem``, shared with the lockfile, manifests and imports)."""
    if not isinstance(value, str):
        raise IntegrityError(f"{origin} gave a file name that is not a string: {_short(value)}")
    try:
        return safe_relpath(value)
    except IntegrityError as exc:
        raise IntegrityError(f"{origin} listed {exc.message}") from None


def check_layout(paths: Iterable[str], origin: str) -> None:
    """No path twice, and no file that is also a folder of another (``a`` and ``a/b.json``)."""
    seen: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        if path in seen:
            raise IntegrityError(f"{origin} listed {path!r} twice")
        seen.add(path)
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    clash = sorted(seen & folders)
    if clash:
        raise IntegrityError(f"{origin} listed {clash[0]!r} as both a file and a folder")


def etag_hash(value: str | None) -> tuple[str | None, str | None]:
    """(sha256, git sha1) from an ETag when it is hash-shaped, after ``W/`` and quotes.

    Any other ETag (an mtime-size pair from nginx, say) publishes no hash.
    """
    if not value:
        return None, None
    tag = value.strip().removeprefix("W/").strip().strip('"')
    if _SHA256.fullmatch(tag):
        return tag.lower(), None
    if _SHA1.fullmatch(tag):
        return None, tag.lower()
    return None, None


def merge(path: str, sources: Iterable[tuple[str, FileFacts]]) -> FileFacts:
    """One file's facts from every source that spoke; any two that disagree are refused."""
    size: tuple[str, int] | None = None
    sha256: tuple[str, str] | None = None
    sha1: tuple[str, str] | None = None
    for origin, facts in sources:
        size = _agree(path, "size", size, origin, facts.size)
        sha256 = _agree(path, "sha256", sha256, origin, facts.sha256)
        sha1 = _agree(path, "git blob id", sha1, origin, facts.git_sha1)
    return FileFacts(
        path,
        size[1] if size else None,
        sha256[1] if sha256 else None,
        sha1[1] if sha1 else None,
    )


def _agree(
    path: str, what: str, held: tuple[str, _T] | None, origin: str, value: _T | None
) -> tuple[str, _T] | None:
    if value is None:
        return held
    if held is not None and held[1] != value:
        raise IntegrityError(
            f"the server disagrees with itself about {path!r}: {held[0]} says {what} "
            f"{_short(held[1])}, {origin} says {_short(value)}"
        )
    return held or (origin, value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
