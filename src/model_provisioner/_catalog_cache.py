"""``<home>/catalog.cache``: checked manifests remembered between processes.

``list`` over 10,000 entries spent half its time opening, parsing and checking manifests that
had not changed since the last ``list``. This file holds, for each manifest a full check
accepted, its stat key (inode, mtime in ns, size) and the entry it read as. An entry is used only
while its manifest's stat key is unchanged (manifests are replaced by rename, so a rewrite has a
new inode), so a replaced, added or corrupted manifest is always read and checked again.

The file itself is trusted only when it is ours: owned by this user, writable by nobody else, of
this format and home, and its sha256 (the first line) matches the rest; anything else is ignored
and rebuilt. Each entry's fields are checked for type and its model path for place (the store's
string check); the forms of names and hashes are those a full check accepted when written.
Writing it is best effort (a read-only or full home simply has none). A manifest whose mtime is
within ``_RACY_NS`` of the moment the cache is written is not remembered: an in-place edit in
the same clock tick, of the same size, would otherwise go unseen (git's "racy" rule).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import DiskSpaceError
from ._fsutil import atomic_write
from ._models import ModelFile, ModelInfo, ModelMetadata

_FORMAT = 1
_RACY_NS = 2_000_000_000

StatKey = tuple[int, int, int]


@dataclass
class CatalogCache:
    """Entries by manifest path (text); ``changed`` once anything should be written back."""

    file: Path
    home: Path
    entries: dict[str, tuple[StatKey, ModelInfo]]
    changed: bool = False

    def get(self, path: str, key: StatKey) -> ModelInfo | None:
        found = self.entries.get(path)
        return found[1] if found is not None and found[0] == key else None

    def put(self, path: str, key: StatKey, info: ModelInfo) -> None:
        self.entries[path] = (key, info)
        self.changed = True

    def keep_only(self, paths: set[str]) -> None:
        """Forget manifests no longer listed (removed since the cache was written)."""
        gone = self.entries.keys() - paths
        for path in gone:
            del self.entries[path]
        self.changed = self.changed or bool(gone)


def load(file: Path, home: Path, locate: Callable[[str], Path]) -> CatalogCache:
    """The cache in ``file`` (the store names it), or an empty one when absent, foreign or
    damaged; ``locate`` (the store's) turns a home-relative model path into a path."""
    empty = CatalogCache(file, home, {})
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return empty
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
                return empty
            raw = f.read()
    except OSError:
        return empty
    digest, _, body = raw.partition(b"\n")
    if digest != hashlib.sha256(body).hexdigest().encode():
        return empty
    try:
        data = json.loads(body)
        if data["format"] != _FORMAT or data["home"] != str(home):
            return empty
        entries = {
            path: ((ino, mtime, size), _decode(item, locate))
            for path, ino, mtime, size, item in data["entries"]
        }
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return empty
    return CatalogCache(file, home, entries)


def save(cache: CatalogCache) -> None:
    """Write the cache atomically if it changed; never fails (best effort)."""
    if not cache.changed:
        return
    racy = time.time_ns() - _RACY_NS
    rows = [
        [path, *key, _encode(info, cache.home)]
        for path, (key, info) in sorted(cache.entries.items())
        if key[1] < racy
    ]
    body = json.dumps({"format": _FORMAT, "home": str(cache.home), "entries": rows}).encode()
    digest = hashlib.sha256(body).hexdigest().encode()
    with contextlib.suppress(OSError, DiskSpaceError):
        atomic_write(cache.file, digest + b"\n" + body)
        cache.changed = False


def _encode(info: ModelInfo, home: Path) -> list[Any]:
    return [
        info.reference,
        info.repo,
        info.revision,
        info.selector,
        info.commit,
        info.format,
        info.model_path.relative_to(home).as_posix(),
        [[f.path, f.size, f.sha256, f.git_sha1, f.lfs, f.hash_source] for f in info.files],
        info.downloaded_at,
        info.verified_at,
        {k: v for k, v in info.metadata.to_dict().items() if v is not None},  # None: default
        info.provider,
        info.endpoint,
        info.imported_from,
    ]


def _decode(item: list[Any], locate: Callable[[str], Path]) -> ModelInfo:
    (ref, repo, rev, sel, commit, fmt, model_path, files, down, ver, meta, prov, ep, imp) = item
    texts = (ref, repo, rev, commit, fmt, model_path, down, prov)
    if not all(type(v) is str for v in texts) or not all(
        v is None or type(v) is str for v in (sel, ver, ep, imp)
    ):
        raise TypeError("an entry field has the wrong type")
    if type(meta) is not dict or type(files) is not list or not all(map(_file_row, files)):
        raise TypeError("an entry's files or metadata have the wrong type")
    return ModelInfo(
        reference=ref,
        repo=repo,
        revision=rev,
        selector=sel,
        commit=commit,
        format=fmt,
        model_path=locate(model_path),
        files=[ModelFile(*f) for f in files],
        downloaded_at=down,
        verified_at=ver,
        metadata=ModelMetadata.from_dict(meta),
        provider=prov,
        endpoint=ep,
        imported_from=imp,
    )


def _file_row(row: object) -> bool:
    """``[path, size, sha256, git_sha1, lfs, hash_source]`` with their types."""
    if type(row) is not list or len(row) != 6:
        return False
    path, size, sha256, git_sha1, lfs, source = row
    return (
        type(path) is str
        and type(size) is int
        and size >= 0
        and type(sha256) is str
        and (git_sha1 is None or type(git_sha1) is str)
        and type(lfs) is bool
        and type(source) is str
    )
