"""``<home>/catalog.cache``: checked manifests and manifest folders remembered between processes.

``list`` over 10,000 entries spent its time opening and checking manifests that had not changed
since the last ``list``, listing 20,000 folders that had not changed either, and rendering every
entry as JSON again. This file holds, for each manifest a full check accepted, its stat key
(inode, mtime in ns, size) and the entry as listed (``ListedModel``: its model object already
rendered as JSON, and the fields a list shows); and for each folder of ``manifests/``, its stat
key (inode, mtime in ns) and the names it held. An entry is used only while its manifest's stat
key is unchanged (manifests are replaced by rename, so a rewrite has a new inode), so a
replaced, added or corrupted manifest is always read and checked again; a folder's names only
while its stat key is unchanged (adding, removing or renaming a name in it changes its mtime),
so a manifest added or removed is always seen, and every manifest is still stat-ed each time.

The file itself is trusted only when it is ours: owned by this user, writable by nobody else, of
this format, home and code (``code_key``: entries hold what code derives, so an upgrade or an edit
of the package rebuilds them instead of printing their old rendering), and its sha256 (the first
line) matches the rest; anything else is ignored and rebuilt. Each entry's fields are checked for
type, and the store checks its place; folder names must be plain names (no ``/``, not empty, not
hidden). An entry's JSON text is printed as it is: it is our own rendering of a checked manifest,
trusted on the strength of the file checks (a forged file with a good digest can only come from this
user, who could edit the manifests as well); the ModelInfo built from it is checked for type and
against the entry's checked fields (``ListedModel.info``).
Writing it is best effort (a read-only or full home simply has none). A manifest or folder whose
mtime is within ``_RACY_NS`` of the moment the cache is written is not remembered: a change in
the same clock tick would otherwise go unseen (git's "racy" rule).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import DiskSpaceError
from ._fsutil import atomic_write
from ._listing import ListedModel

_FORMAT = 3
_RACY_NS = 2_000_000_000
# In the names of every folder (each folder's joined by newlines, folders by NUL), what would
# make a name empty, hidden, or a path of several parts.
_NOT_PLAIN = ("/", "\n\n", "\0\n", "\n\0", "\n.", "\0.")
_ROW = 16  # fields of an entry's row before its JSON text (``_encode``)
StatKey = tuple[int, int, int]
FolderKey = tuple[int, int]
_PACKAGE = Path(__file__).parent


@dataclass
class CatalogCache:
    """Rows by manifest path and names by folder path (both relative to ``manifests/``);
    ``changed`` once anything should be written back. Rows are checked when used."""

    file: Path
    home: Path
    entries: dict[str, list[Any]]
    folders: dict[str, list[Any]] = field(default_factory=dict)
    changed: bool = False

    def get(self, path: str, key: StatKey) -> ListedModel | None:
        row = self.entries.get(path)
        if row is None or len(row) != _ROW + 1 or row[0] != key[0] or row[1] != key[1]:
            return None
        return _decode(row) if row[2] == key[2] else None

    def put(self, path: str, key: StatKey, listed: ListedModel) -> None:
        self.entries[path] = [*key, *_encode(listed), listed.json]
        self.changed = True

    def keep_only(self, paths: set[str]) -> None:
        """Forget manifests no longer listed (removed since the cache was written)."""
        gone = self.entries.keys() - paths
        for path in gone:
            del self.entries[path]
        self.changed = self.changed or bool(gone)

    def names(self, folder: str, st: os.stat_result) -> list[str] | None:
        """The names ``folder`` held when it had the stat key (inode, mtime) of ``st``, if
        remembered."""
        row = self.folders.get(folder)
        if row is None or len(row) != 3 or row[0] != st.st_ino or row[1] != st.st_mtime_ns:
            return None
        return row[2].split("\n") if row[2] else []

    def remember(self, folder: str, key: FolderKey, names: list[str]) -> None:
        """Remember a folder's names, unless one holds a newline: stored one per line, it would
        come back as other names, and the manifests under it would go unseen."""
        if any("\n" in name for name in names):
            return
        self.folders[folder] = [*key, "\n".join(names)]
        self.changed = True


def load(file: Path, home: Path) -> CatalogCache:
    """The cache in ``file`` (the store names it), or an empty one when absent, foreign or
    damaged.

    The file: a sha256 line, a JSON line (format, home, entries' rows and folders' names), then
    one line per entry holding its JSON text, in the order of the rows: texts are most of the
    bytes and need no decoding (a JSON string of JSON would escape every quote).
    """
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
    lines = raw.split(b"\n")  # and never a copy of the whole: 18 MB with 10,000 entries
    digest, head, texts = lines[0], lines[1:2], lines[2:]
    if digest != hashlib.sha256(memoryview(raw)[len(digest) + 1 :]).hexdigest().encode():
        return empty
    try:
        data = json.loads(head[0])
        if data["format"] != _FORMAT or data["home"] != str(home) or data["code"] != _code():
            return empty
        entries, folders = data["entries"], data["folders"]
        if type(entries) is not dict or type(folders) is not dict or len(texts) != len(entries):
            return empty
        for row, text in zip(entries.values(), texts, strict=True):
            row.append(text)
        if not _plain_names([row[2] for row in folders.values()]):
            return empty
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        return empty
    return CatalogCache(file, home, entries, folders)


def save(cache: CatalogCache) -> None:
    """Write the cache atomically if it changed; never fails (best effort)."""
    if not cache.changed:
        return
    racy = settled_before()
    rows = {  # a row loaded but never used (its manifest was read in this process) is unchecked
        path: row
        for path, row in cache.entries.items()
        if len(row) == _ROW + 1
        and type(row[1]) is int
        and row[1] < racy
        and type(row[_ROW]) is bytes
    }
    head = json.dumps(
        {
            "format": _FORMAT,
            "home": str(cache.home),
            "code": _code(),
            "entries": {path: row[:_ROW] for path, row in rows.items()},
            "folders": cache.folders,
        }
    )
    body = b"\n".join([head.encode(), *(row[_ROW] for row in rows.values())])
    digest = hashlib.sha256(body).hexdigest().encode()
    with contextlib.suppress(OSError, DiskSpaceError):
        atomic_write(cache.file, digest + b"\n" + body)
        cache.changed = False


def _plain_names(folders: list[str]) -> bool:
    """Every name of every folder is plain: no ``/``, not empty, not hidden (so not ``..``).
    Substring searches over all of them at once: 20,000 folders in about a millisecond."""
    names = "\0".join(folders)  # TypeError unless all are text
    return (
        names.count("\0") == max(len(folders) - 1, 0)  # no name holds a NUL
        and not any(bad in names for bad in _NOT_PLAIN)
        and not names.startswith((".", "\n"))
        and not names.endswith("\n")
    )


def code_key(package: Path = _PACKAGE) -> str:
    """The code that rendered the entries: every module of ``package`` (subpackages included)
    by path, size and mtime. The rendered JSON, quantization, projector and short name are all
    derived by code, and ``__version__`` does not move with each change; about a hundred stat
    calls (a fraction of a millisecond), once per process."""
    root = str(package)
    parts: list[str] = []
    folders = [root]
    for folder in folders:  # grows with the subpackages found
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
            for e in entries:
                if e.name.endswith(".py"):
                    st = e.stat()
                    parts.append(f"{e.path[len(root) :]} {st.st_size} {st.st_mtime_ns}")
                elif e.name != "__pycache__" and e.is_dir(follow_symlinks=False):
                    folders.append(e.path)
        except OSError:
            parts.append(f"{folder} unreadable")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@functools.cache
def _code() -> str:
    return code_key()


def settled_before() -> int:
    """Files and folders whose mtime (ns) is below this may be remembered (the racy rule);
    the store remembers only settled folders, so every remembered one is."""
    return time.time_ns() - _RACY_NS


def _encode(m: ListedModel) -> list[Any]:
    return [
        m.name,
        m.reference,
        m.provider,
        m.repo,
        m.commit,
        m.path,
        m.total_size,
        m.downloaded_at,
        m.format,
        m.quantization,
        m.unverified,
        m.endpoint,
        m.imported_from,
    ]


def _decode(row: list[Any]) -> ListedModel | None:
    """The entry of a row whose types check out, else None (its manifest is read instead).
    Spelled out field by field: a third of the time of any loop or table of types."""
    _, _, _, name, ref, provider, repo, commit, path, size, down, fmt, quant, unverified = row[:14]
    endpoint, imported_from, text = row[14:]
    if (
        type(text) is not bytes
        or type(name) is not str
        or type(ref) is not str
        or type(provider) is not str
        or type(repo) is not str
        or type(commit) is not str
        or type(path) is not str
        or type(size) is not int
        or size < 0
        or type(down) is not str
        or type(fmt) is not str
        or type(unverified) is not bool
        or (quant is not None and type(quant) is not str)
        or (endpoint is not None and type(endpoint) is not str)
        or (imported_from is not None and type(imported_from) is not str)
    ):
        return None
    return ListedModel(
        text,
        name,
        ref,
        provider,
        repo,
        commit,
        path,
        size,
        down,
        fmt,
        quant,
        unverified,
        endpoint,
        imported_from,
    )
