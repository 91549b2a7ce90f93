"""The two content hashes the store and the Hub speak: sha256 of a file and git's blob sha1.

One home for both, so the engine, ``verify`` and the mirror agree on what a hash covers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    """sha256 of a whole file, read in chunks (never the whole file in memory)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def git_blob_hasher(size: int) -> Any:
    """A sha1 primed with git's ``blob <size>\\0`` header: feed it the content to get the
    blob id git (and the Hub) gives a non-LFS file."""
    return hashlib.sha1(b"blob %d\0" % size)


def git_blob_sha1(data: bytes) -> str:
    hasher = git_blob_hasher(len(data))
    hasher.update(data)
    return str(hasher.hexdigest())


def lfs_pointer_sha1(sha256: str, size: int) -> str:
    """The git blob id of the git-lfs pointer for content of ``sha256`` and ``size``: what git
    (and a tree listing's ``oid``) names an LFS file by."""
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    return git_blob_sha1(pointer.encode())
