"""The on-disk store: the one module that knows the layout under the home folder.

blobs/sha256/ab/<sha256>                   verified content, one copy per content
models/hf/<org>/<name>/<commit>/<path>     hard links to blobs: a plain model folder
manifests/hf/<org>/<name>/<key>.json       one catalog entry, written last
partial/                                   downloads in progress and their journals
locks/                                     single-flight and commit locks

Every name under ``partial/`` and ``locks/`` is built here and nowhere else: the transfer engine,
garbage collection and the pull all ask this module, so they cannot disagree on which lock
guards which file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ._errors import IntegrityError
from ._fsutil import (
    atomic_write,
    durability,
    fsync_dir,
    link_or_copy,
    make_dirs,
    prune_empty_dirs,
)
from ._models import ModelFile, ModelInfo
from ._references import ModelReference
from ._reservations import Reservations

if TYPE_CHECKING:
    from filelock import FileLock

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
PARTIAL_SUFFIX = ".part"
_JOURNAL = ".journal"
_LOCK = ".lock"
_TEMP = ".tmp"


# -- names of the files beside a partial download ---------------------------------------------


def journal_of(partial: Path) -> Path:
    """The range journal of a partial file."""
    return partial.with_name(partial.name + _JOURNAL)


def lock_of(partial: Path) -> Path:
    """The single-flight lock of a partial file (held while it is fetched or collected)."""
    return partial.with_name(partial.name + _LOCK)


def partial_lock(partial: Path, timeout: float = -1) -> FileLock:
    from filelock import FileLock

    partial.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(lock_of(partial), timeout=timeout)


def temp_of(path: Path) -> Path:
    """A private temp name beside ``path`` for this process and thread (renamed over it)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{_TEMP}")


def partial_of(path: Path) -> Path | None:
    """The partial file that a file in ``partial/`` belongs to; None if it is not ours."""
    name = path.name
    if name.startswith(".") and name.endswith(_TEMP):
        head, sep, _ = name[1:].partition(PARTIAL_SUFFIX + ".")
        return path.with_name(head + PARTIAL_SUFFIX) if sep else None
    for suffix in (_JOURNAL, _LOCK):
        name = name.removesuffix(suffix)
    return (
        path.with_name(name) if name.endswith(PARTIAL_SUFFIX) and name != PARTIAL_SUFFIX else None
    )


def safe_relpath(path: str) -> str:
    """Refuse a repo path that would land outside its folder: a hostile listing stops here."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
        or re.match(r"^[A-Za-z]:", path)
    ):
        raise IntegrityError(f"the server listed a file outside the repository: {path!r}")
    return path


class Store:
    def __init__(self, home: Path) -> None:
        self.home = Path(home).expanduser().absolute()
        self.blobs = self.home / "blobs" / "sha256"
        self.models = self.home / "models"
        self.manifests = self.home / "manifests"
        self.partial = self.home / "partial"
        self.locks = self.home / "locks"
        self.reservations = Reservations(self.partial / "reservations")
        self._cache: dict[Path, tuple[tuple[int, int, int], ModelInfo]] = {}

    def ensure(self) -> None:
        for folder in (self.blobs, self.models, self.manifests, self.partial, self.locks):
            folder.mkdir(parents=True, exist_ok=True)

    def blob_path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise IntegrityError(f"not a sha256: {sha256!r}")
        return self.blobs / sha256[:2] / sha256

    def has_blob(self, sha256: str, size: int) -> bool:
        """A regular file of the right size under the blob's name (never a symlink)."""
        return _is_file_of(self.blob_path(sha256), size)

    def is_verified_partial(self, partial: Path, size: int) -> bool:
        """A partial the engine finished: full size, and no journal (dropped once verified)."""
        return _is_file_of(partial, size) and not journal_of(partial).exists()

    def commit_blob(self, verified: Path, sha256: str) -> Path:
        """Name verified bytes by their hash; a racing writer produced the same bytes."""
        blob = self.blob_path(sha256)
        make_dirs(blob.parent)
        os.chmod(verified, 0o444)
        durability.replace(verified, blob)
        fsync_dir(blob.parent)
        return blob

    def model_dir(self, provider: str, repo: str, commit: str) -> Path:
        return self.models / provider / repo / commit

    def link_file(self, sha256: str, provider: str, repo: str, commit: str, path: str) -> Path:
        dest = self.model_dir(provider, repo, commit) / safe_relpath(path)
        link_or_copy(self.blob_path(sha256), dest)
        return dest

    def check_link(self, f: ModelFile, provider: str, repo: str, commit: str) -> None:
        """Before a manifest names ``f``: its blob is whole and its model-folder file is that
        blob (the same inode; a copy of the right size where links are impossible)."""
        blob = self.blob_path(f.sha256)
        dest = self.model_dir(provider, repo, commit) / safe_relpath(f.path)
        try:
            b, d = blob.lstat(), dest.lstat()
        except FileNotFoundError as exc:
            raise IntegrityError(f"{f.path} vanished during the commit") from exc
        whole = stat.S_ISREG(b.st_mode) and stat.S_ISREG(d.st_mode) and b.st_size == f.size
        same = (b.st_dev, b.st_ino) == (d.st_dev, d.st_ino) or (
            b.st_nlink == 1 and d.st_size == f.size
        )
        if not (whole and same):
            raise IntegrityError(f"{f.path} is not its blob after linking")

    def partial_path(
        self, sha256: str | None, git_sha1: str | None, unverified_key: str | None = None
    ) -> Path:
        """Where a file with this content is fetched: one partial per content, whoever asks.

        A file no hash covers (the user allowed it) is named by ``unverified_key`` (its repo,
        commit and path, hashed), so two such files never share a partial.
        """
        if sha256:
            if _SHA256.match(sha256):
                return self.partial / f"{sha256}{PARTIAL_SUFFIX}"
        elif git_sha1 and _SHA1.match(git_sha1):
            return self.partial / f"git-{git_sha1}{PARTIAL_SUFFIX}"
        elif unverified_key and not git_sha1:
            key = hashlib.sha256(unverified_key.encode()).hexdigest()
            return self.partial / f"unverified-{key}{PARTIAL_SUFFIX}"
        raise IntegrityError(f"no valid hash to name a download by: {sha256!r} / {git_sha1!r}")

    def entry_lock(self, ref: ModelReference) -> FileLock:
        """Single flight per catalog entry: a second pull of it waits, then finds it done."""
        return self._lock(f"entry:{ref.provider}/{ref.repo.lower()}/{ref.selection_key}")

    def commit_lock(self, timeout: float = -1) -> FileLock:
        """Held by whatever changes blobs, model folders or manifests: a pull's commit, delete,
        gc, repair. Short sections only; a download in progress never holds it."""
        return self._lock("commit", timeout)

    def _lock(self, name: str, timeout: float = -1) -> FileLock:
        from filelock import FileLock  # it imports asyncio (~40 ms): only commands that write

        self.locks.mkdir(parents=True, exist_ok=True)
        return FileLock(self.locks / f"{quote(name, safe='')}{_LOCK}", timeout=timeout)

    def manifest_path(self, ref: ModelReference, repo: str) -> Path:
        key = quote(ref.selection_key, safe="")
        return self.manifests / ref.provider / repo / f"{key}.json"

    def write_manifest(self, info: ModelInfo, ref: ModelReference) -> Path:
        path = self.manifest_path(ref, info.repo)
        self.save_manifest(path, info)
        return path

    def save_manifest(self, path: Path, info: ModelInfo) -> None:
        body = json.dumps(info.to_json(self.home), indent=2, sort_keys=True).encode()
        atomic_write(path, body + b"\n")

    def manifests_of(self, provider: str, repo: str) -> Iterator[tuple[Path, ModelInfo]]:
        """Entries of one repo, its id compared without case as on the Hub."""
        org, _, name = repo.partition("/")
        base = self.manifests / provider
        for org_name in _named(base, org):
            for repo_name in _named(base / org_name, name):
                yield from self._read_all(sorted((base / org_name / repo_name).glob("*.json")))

    def all_manifests(self) -> Iterator[tuple[Path, ModelInfo]]:
        yield from self._read_all(map(Path, sorted(_manifest_files(str(self.manifests)))))

    def _read_all(self, paths: Iterable[Path]) -> Iterator[tuple[Path, ModelInfo]]:
        for path in paths:
            info = self._read(path)
            if info is not None:
                yield path, info

    def _read(self, path: Path) -> ModelInfo | None:
        """A parsed manifest, cached by its stat: a busy server lists without re-parsing.

        Manifests are replaced by rename, never edited in place, so a changed file always
        has a new inode or mtime.
        """
        try:
            st = path.stat()
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            info = ModelInfo.from_json(json.loads(path.read_bytes()), self.home)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._cache[path] = (key, info)
        return info

    def remove_manifest(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fsync_dir(path.parent)
        prune_empty_dirs(path.parent, self.manifests)

    def release(self, info: ModelInfo, still_used: set[tuple[str, str]]) -> None:
        """Unlink what only this entry used, then drop blobs nothing links any more (and no
        live pull is about to link)."""
        keep = self.reservations.held().blobs
        folder = self.model_dir(info.provider, info.repo, info.commit)
        for f in info.files:
            if (info.commit, f.path) in still_used:
                continue
            target = folder / safe_relpath(f.path)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            prune_empty_dirs(target.parent, self.models)
            self.collect_blob(f.sha256, keep)

    def collect_blob(self, sha256: str, keep: frozenset[str] = frozenset()) -> None:
        """A blob whose only link is its own name belongs to no model."""
        if sha256 in keep:
            return
        blob = self.blob_path(sha256)
        try:
            if blob.stat().st_nlink <= 1:
                blob.unlink()
                prune_empty_dirs(blob.parent, self.blobs)
        except FileNotFoundError:
            pass

    def iter_blobs(self) -> Iterator[Path]:
        for shard in _children(self.blobs):
            yield from _children(shard)


def _is_file_of(path: Path, size: int) -> bool:
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _manifest_files(root: str) -> list[str]:
    """``<provider>/<org>/<name>/*.json`` under ``root`` by scandir: a third of a pathlib glob's
    time with 10,000 entries (benchmarks/catalog.py)."""
    found: list[str] = []
    level = [root]
    for _ in range(3):
        level = [e.path for d in level for e in _scan(d) if e.is_dir(follow_symlinks=False)]
    for folder in level:
        found += [e.path for e in _scan(folder) if e.name.endswith(".json")]
    return found


def _scan(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _named(folder: Path, name: str) -> list[str]:
    """Children called ``name`` without case: names only, so 10,000 repos cost ~5 ms, not 0.3 s."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    wanted = name.casefold()
    return sorted(n for n in names if n.casefold() == wanted and not n.startswith("."))


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
