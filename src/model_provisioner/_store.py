"""The on-disk store: the one module that knows the layout under the home folder.

blobs/sha256/ab/<sha256>                   verified content, one copy per content
models/hf/<org>/<name>/<commit>/<path>     hard links to blobs: a plain model folder
manifests/hf/<org>/<name>/<key>.json       one catalog entry, written last
partial/                                   downloads in progress and their journals
locks/                                     single-flight locks (never needed for safety)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

from filelock import FileLock

from ._errors import IntegrityError
from ._fsutil import atomic_write, fsync_dir, link_or_copy, prune_empty_dirs
from ._models import ModelInfo
from ._references import ModelReference

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
        self._cache: dict[Path, tuple[tuple[int, int, int], ModelInfo]] = {}

    def ensure(self) -> None:
        for folder in (self.blobs, self.models, self.manifests, self.partial, self.locks):
            folder.mkdir(parents=True, exist_ok=True)

    def blob_path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise IntegrityError(f"not a sha256: {sha256!r}")
        return self.blobs / sha256[:2] / sha256

    def has_blob(self, sha256: str, size: int) -> bool:
        try:
            return self.blob_path(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    def commit_blob(self, verified: Path, sha256: str) -> Path:
        """Name verified bytes by their hash; a racing writer produced the same bytes."""
        blob = self.blob_path(sha256)
        blob.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(verified, 0o444)
        os.replace(verified, blob)
        fsync_dir(blob.parent)
        return blob

    def model_dir(self, provider: str, repo: str, commit: str) -> Path:
        return self.models / provider / repo / commit

    def link_file(self, sha256: str, provider: str, repo: str, commit: str, path: str) -> Path:
        dest = self.model_dir(provider, repo, commit) / safe_relpath(path)
        link_or_copy(self.blob_path(sha256), dest)
        return dest

    def partial_path(self, sha256_or_key: str) -> Path:
        return self.partial / sha256_or_key

    def lock(self, name: str, timeout: float = -1) -> FileLock:
        self.locks.mkdir(parents=True, exist_ok=True)
        safe = quote(name, safe="")
        return FileLock(self.locks / f"{safe}.lock", timeout=timeout)

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
        for org_dir in _children(base):
            if org_dir.name.casefold() != org.casefold():
                continue
            for repo_dir in _children(org_dir):
                if repo_dir.name.casefold() == name.casefold():
                    yield from self._read_all(repo_dir.glob("*.json"))

    def all_manifests(self) -> Iterator[tuple[Path, ModelInfo]]:
        yield from self._read_all(sorted(self.manifests.glob("*/*/*/*.json")))

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
        """Unlink what only this entry used, then drop blobs nothing links any more."""
        folder = self.model_dir(info.provider, info.repo, info.commit)
        for f in info.files:
            if (info.commit, f.path) in still_used:
                continue
            target = folder / safe_relpath(f.path)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            prune_empty_dirs(target.parent, self.models)
            self.collect_blob(f.sha256)

    def collect_blob(self, sha256: str) -> None:
        """A blob whose only link is its own name belongs to no model."""
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


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
