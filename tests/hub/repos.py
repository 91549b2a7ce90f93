"""Fixture repos on disk, laid out so the fixture server never rehashes a byte.

Layout under ``root`` (directory names lower-cased, because Hub repo ids are case-insensitive;
``repo.json`` keeps the spelling the repo was created with)::

    <org>/<name>/repo.json                     {"id": "Org/Name", "gated": false, "private": false}
    <org>/<name>/refs.json                     {"branches": {"main": sha}, "tags": {"v1": sha}}
    <org>/<name>/commits/<sha>/commit.json     {"parent": sha | null, "date": iso}
    <org>/<name>/commits/<sha>/files.json      [FileEntry, ...]
    <org>/<name>/commits/<sha>/tree/<path>     the bytes (hard links shared between commits)

Each commit holds the full tree: ``add_commit`` overlays its files on the branch head.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".onnx", ".h5", ".msgpack", ".pt", ".pth")
_CHUNK = 1 << 20
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit, with every hash the Hub protocol needs precomputed."""

    path: str
    size: int
    oid: str  # the ETag: sha256 for LFS files, git blob sha1 otherwise
    git_oid: str  # git blob sha1 of what git stores: the pointer file for LFS
    lfs: bool
    sha256: str
    pointer_size: int = 0


@dataclass(frozen=True)
class Repo:
    """A repo as the server sees it: stored spelling, directory and access flags."""

    id: str
    dir: Path
    gated: bool
    private: bool


def git_blob_sha1(data: bytes) -> str:
    """Git's object id for a blob: what the Hub reports as ``oid`` for non-LFS files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer text git stores in place of an LFS file."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def is_commit(rev: str) -> bool:
    """True for a full 40-hex commit sha."""
    return bool(_COMMIT_RE.match(rev))


class FixtureHub:
    """Model repos stored on disk; writers are tests, the reader is the fixture server."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- writing -------------------------------------------------------------------------------

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | Path],
        *,
        branch: str = "main",
        gated: bool = False,
        private: bool = False,
        lfs_threshold: int = 10_000,
        delete: Iterable[str] = (),
    ) -> str:
        """Commit ``files`` on top of ``branch`` (creating the repo) and return the commit sha.

        Path sources are hard-linked (copied across devices), never read into memory except to
        hash them in 1 MiB chunks, so a 1 GiB file costs one streaming hash.
        """
        repo_dir = self._create_repo(repo_id, gated=gated, private=private)
        refs = self._read_refs(repo_dir)
        parent = refs["branches"].get(branch)
        entries = dict(self._parent_entries(repo_dir, parent))
        for path in delete:
            entries.pop(path, None)
        staged = repo_dir / "staging"
        shutil.rmtree(staged, ignore_errors=True)
        (staged / "tree").mkdir(parents=True)
        for path, source in files.items():
            _check_path(path)
            target = staged / "tree" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            entries[path] = _store_file(source, target, path, lfs_threshold)
        commit = _commit_sha(entries.values(), parent)
        commit_dir = repo_dir / "commits" / commit
        if not commit_dir.exists():
            self._link_parent_files(repo_dir, parent, entries, files, staged / "tree")
            _write_json(
                staged / "files.json", [asdict(e) for e in sorted(entries.values(), key=_key)]
            )
            date = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", ".000Z")
            _write_json(staged / "commit.json", {"parent": parent, "date": date})
            staged.rename(commit_dir)
        shutil.rmtree(staged, ignore_errors=True)
        refs["branches"][branch] = commit
        _write_json(repo_dir / "refs.json", refs)
        return commit

    def add_tag(self, repo_id: str, tag: str, commit: str) -> None:
        """Point ``tag`` at an existing commit."""
        self._set_ref(repo_id, "tags", tag, commit)

    def set_branch(self, repo_id: str, branch: str, commit: str) -> None:
        """Move (or create) ``branch`` to an existing commit: simulates a force-push."""
        self._set_ref(repo_id, "branches", branch, commit)

    def set_flags(
        self, repo_id: str, *, gated: bool | None = None, private: bool | None = None
    ) -> None:
        """Change access flags of an existing repo."""
        repo = self._require(repo_id)
        info = json.loads((repo.dir / "repo.json").read_text())
        if gated is not None:
            info["gated"] = gated
        if private is not None:
            info["private"] = private
        _write_json(repo.dir / "repo.json", info)

    # -- reading (used by the server, handy in tests) -------------------------------------------

    def find_repo(self, repo_id: str) -> Repo | None:
        """The repo whatever the case of ``repo_id``, or None."""
        if not _REPO_ID_RE.match(repo_id):
            return None
        repo_dir = self.root / repo_id.lower()
        try:
            info = json.loads((repo_dir / "repo.json").read_text())
        except FileNotFoundError:
            return None
        return Repo(info["id"], repo_dir, bool(info.get("gated")), bool(info.get("private")))

    def resolve(self, repo: Repo, rev: str) -> str | None:
        """Commit sha for a branch, tag or commit (full sha or unique 7+ hex prefix)."""
        refs = self._read_refs(repo.dir)
        for kind in ("branches", "tags"):
            name = rev.removeprefix(f"refs/{'heads' if kind == 'branches' else 'tags'}/")
            if name in refs[kind]:
                return str(refs[kind][name])
        if re.fullmatch(r"[0-9a-f]{7,40}", rev):
            found = [c.name for c in (repo.dir / "commits").iterdir() if c.name.startswith(rev)]
            if len(found) == 1:
                return found[0]
        return None

    def entries(self, repo: Repo | str, commit: str) -> dict[str, FileEntry]:
        """All files of ``commit`` by path (immutable, so cached)."""
        repo_dir = repo.dir if isinstance(repo, Repo) else self._require(repo).dir
        return dict(_load_entries(repo_dir / "commits" / commit / "files.json"))

    def file_path(self, repo: Repo | str, commit: str, path: str) -> Path:
        """Where the bytes of ``path`` at ``commit`` live."""
        repo_dir = repo.dir if isinstance(repo, Repo) else self._require(repo).dir
        return repo_dir / "commits" / commit / "tree" / path

    def commit_date(self, repo: Repo, commit: str) -> str:
        """ISO date the commit was made (the Hub's ``lastModified``)."""
        info = json.loads((repo.dir / "commits" / commit / "commit.json").read_text())
        return str(info["date"])

    def repos(self) -> list[Repo]:
        """Every repo stored, for listings and debugging."""
        found = (
            self.find_repo(json.loads(p.read_text())["id"]) for p in self.root.glob("*/*/repo.json")
        )
        return [r for r in found if r is not None]

    # -- internals -------------------------------------------------------------------------------

    def _create_repo(self, repo_id: str, *, gated: bool, private: bool) -> Path:
        if not _REPO_ID_RE.match(repo_id):
            raise ValueError(f"not a repo id: {repo_id!r}")
        repo_dir = self.root / repo_id.lower()
        if not (repo_dir / "repo.json").exists():
            (repo_dir / "commits").mkdir(parents=True, exist_ok=True)
            _write_json(repo_dir / "repo.json", {"id": repo_id, "gated": gated, "private": private})
            _write_json(repo_dir / "refs.json", {"branches": {}, "tags": {}})
        elif gated or private:
            self.set_flags(repo_id, gated=gated or None, private=private or None)
        return repo_dir

    def _require(self, repo_id: str) -> Repo:
        repo = self.find_repo(repo_id)
        if repo is None:
            raise KeyError(f"no fixture repo {repo_id!r}")
        return repo

    def _set_ref(self, repo_id: str, kind: str, name: str, commit: str) -> None:
        repo = self._require(repo_id)
        if not (repo.dir / "commits" / commit).is_dir():
            raise KeyError(f"no commit {commit} in {repo_id}")
        refs = self._read_refs(repo.dir)
        refs[kind][name] = commit
        _write_json(repo.dir / "refs.json", refs)

    @staticmethod
    def _read_refs(repo_dir: Path) -> dict[str, dict[str, str]]:
        refs: dict[str, dict[str, str]] = json.loads((repo_dir / "refs.json").read_text())
        return refs

    @staticmethod
    def _parent_entries(repo_dir: Path, parent: str | None) -> dict[str, FileEntry]:
        if parent is None:
            return {}
        return dict(_load_entries(repo_dir / "commits" / parent / "files.json"))

    @staticmethod
    def _link_parent_files(
        repo_dir: Path,
        parent: str | None,
        entries: Mapping[str, FileEntry],
        new: Mapping[str, object],
        tree: Path,
    ) -> None:
        """Carry unchanged files over from the parent commit as hard links."""
        if parent is None:
            return
        for path in entries:
            if path not in new:
                target = tree / path
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(repo_dir / "commits" / parent / "tree" / path, target)


@lru_cache(maxsize=256)
def _load_entries_cached(files_json: str, mtime_ns: int) -> tuple[tuple[str, FileEntry], ...]:
    rows = json.loads(Path(files_json).read_text())
    return tuple((row["path"], FileEntry(**row)) for row in rows)


def _load_entries(files_json: Path) -> tuple[tuple[str, FileEntry], ...]:
    return _load_entries_cached(str(files_json), files_json.stat().st_mtime_ns)


def _store_file(source: bytes | Path, target: Path, path: str, lfs_threshold: int) -> FileEntry:
    """Place the bytes at ``target`` and compute the entry's hashes."""
    if isinstance(source, bytes | bytearray):
        target.write_bytes(source)
        size = len(source)
    else:
        _link_or_copy(Path(source), target)
        size = target.stat().st_size
    lfs = size > lfs_threshold or path.endswith(LFS_SUFFIXES)
    sha256 = _sha256_file(target)
    if lfs:
        pointer = lfs_pointer(sha256, size)
        return FileEntry(path, size, sha256, git_blob_sha1(pointer), True, sha256, len(pointer))
    blob = git_blob_sha1(target.read_bytes())
    return FileEntry(path, size, blob, blob, False, sha256)


_SHA256_CACHE: dict[tuple[int, int, int, int], str] = {}


def _sha256_file(path: Path) -> str:
    """Streaming sha256, remembered per inode: hard-linked sources are hashed once per process."""
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _SHA256_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        _SHA256_CACHE[key] = digest.hexdigest()
    return _SHA256_CACHE[key]


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _commit_sha(entries: Iterable[FileEntry], parent: str | None) -> str:
    listing = sorted((e.path, e.oid) for e in entries)
    return hashlib.sha1(json.dumps([listing, parent]).encode()).hexdigest()


def _check_path(path: str) -> None:
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad repo path: {path!r}")


def _key(entry: FileEntry) -> str:
    return entry.path


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
