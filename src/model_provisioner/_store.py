"""The on-disk store: the one module that knows the layout under the home folder.

blobs/sha256/ab/<sha256>                   verified content, one copy per content
models/hf/<org>/<name>/<commit>/<path>     hard links to blobs: a plain model folder
manifests/hf/<org>/<name>/<key>.json       one catalog entry, written last
quarantine/<sha256>.<ns>                   content found damaged, moved aside, never linked again
partial/                                   downloads in progress and their journals
locks/                                     single-flight, commit and alias-edit locks
usage/hf/<org>/<name>/<key>                empty; its mtime is the entry's last use
pins/hf/<org>/<name>/<key>                 exists while the entry is pinned
copied                                     marker: hard links failed once, files were copied
aliases.toml, config.toml                  the user's files (``alias_file``, ``config_file``)
catalog.cache                              checked manifests remembered between processes

Every name under ``partial/`` and ``locks/`` is built here and nowhere else: the transfer engine,
garbage collection and the pull all ask this module, so they cannot disagree on which lock
guards which file. Every name joined into a path is checked for its form first (``_names``),
and every path built is checked, resolved, to stay under its top folder: a symlink planted
inside the store cannot redirect a write either.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from . import _catalog_cache
from ._errors import DamagedManifest, IntegrityError
from ._fsutil import (
    atomic_write,
    durability,
    fsync_dir,
    link_or_copy,
    make_dirs,
    prune_empty_dirs,
)
from ._listing import ListedModel
from ._manifest import ManifestProblem, parse_manifest
from ._models import ModelFile, ModelInfo
from ._names import (
    check_commit,
    check_provider,
    check_repo_id,
    check_sha256,
    is_git_sha1,
    is_sha256,
)
from ._names import safe_relpath as safe_relpath  # where the hub still looks for it
from ._references import ModelReference
from ._reservations import Reservations

if TYPE_CHECKING:
    from filelock import FileLock

PARTIAL_SUFFIX = ".part"
_JOURNAL = ".journal"
_LOCK = ".lock"
_TEMP = ".tmp"
_HEX64 = re.compile(rb"[0-9a-f]{64}")
_MANIFEST = ".json"


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


@dataclass(frozen=True)
class Unreadable:
    """A manifest that does not read back: where, why, and which blobs it may still name."""

    manifest: Path
    problem: str
    provider: str
    org: str
    name: str
    hashes: frozenset[str] | None  # every 64-hex string in its bytes; None: bytes unreadable

    def error(self, hint: str | None = None) -> DamagedManifest:
        return DamagedManifest(self.manifest, self.problem, hint=hint)


def alias_file(home: Path) -> Path:
    """``<home>/aliases.toml``: read by the reference parser, which needs no Store."""
    return Path(home) / "aliases.toml"


def alias_lock(home: Path) -> FileLock:
    """``<home>/locks/aliases.lock``: held around an alias edit's read-modify-write, so two
    ``provisioner alias`` commands at once cannot lose one edit (last rename wins)."""
    from filelock import FileLock

    locks = Path(home) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(locks / f"aliases{_LOCK}")


def config_file(home: Path) -> Path:
    """``<home>/config.toml``."""
    return Path(home) / "config.toml"


class Store:
    def __init__(self, home: Path) -> None:
        self.home = Path(home).expanduser().absolute()
        self.blobs = self.home / "blobs" / "sha256"
        self.models = self.home / "models"
        self.manifests = self.home / "manifests"
        self.quarantine = self.home / "quarantine"
        self.partial = self.home / "partial"
        self.locks = self.home / "locks"
        self.usage = self.home / "usage"
        self.pins = self.home / "pins"
        self.copied = self.home / "copied"  # exists once links failed and a file was copied
        self.catalog_cache_file = self.home / "catalog.cache"
        self.reservations = Reservations(self.partial / "reservations")
        self._cache: dict[str, tuple[_catalog_cache.StatKey, ListedModel | Unreadable]] = {}
        self._disk_cache: _catalog_cache.CatalogCache | None = None  # only ``_listing`` uses it
        self._listing_lock = threading.Lock()
        self._models_text = str(self.models)
        self._manifests_text = str(self.manifests)

    def ensure(self) -> None:
        for folder in (self.blobs, self.models, self.manifests, self.partial, self.locks):
            folder.mkdir(parents=True, exist_ok=True)

    # -- blobs ----------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / check_sha256(sha256)[:2] / sha256

    def blob_stat(self, sha256: str) -> os.stat_result | None:
        """The blob's own inode, if it is a regular file (a symlink or folder is damage)."""
        try:
            st = os.lstat(self.blob_path(sha256))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def has_blob(self, sha256: str, size: int) -> bool:
        """Present, a regular file, of the right size; quarantined content is gone from here."""
        st = self.blob_stat(sha256)
        return st is not None and st.st_size == size

    def is_verified_partial(self, partial: Path, size: int) -> bool:
        """A partial the engine finished: full size, and no journal (dropped once verified)."""
        try:
            st = partial.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == size and not journal_of(partial).exists()

    def commit_blob(self, verified: Path, sha256: str, *, read_only: bool = True) -> Path:
        """Name verified bytes by their hash; a racing writer produced the same bytes.

        ``read_only=False`` for a hard link to a foreign file (import): its inode is the
        source's, whose mode is not ours to change.
        """
        blob = self._inside(self.blob_path(sha256), self.blobs)
        make_dirs(blob.parent)
        if read_only:
            os.chmod(verified, 0o444)
        self._clear(blob)
        durability.replace(verified, blob)
        fsync_dir(blob.parent)
        return blob

    def quarantine_blob(self, sha256: str, inode: tuple[int, int] | None = None) -> Path | None:
        """Move damaged content aside: no pull sees it again, so the next one fetches it anew,
        and every model-folder link to the old inode now reads as damaged. ``inode``: only if
        the blob is still that (device, inode). Under the commit lock, so never in the middle
        of a commit that links it. Best effort: None when nothing was moved."""
        blob = self.blob_path(sha256)
        try:
            with self.commit_lock():
                if inode is not None:
                    st = os.lstat(blob)
                    if (st.st_dev, st.st_ino) != inode:
                        return None
                return self._move_aside(blob, sha256)
        except OSError:
            return None

    def iter_blobs(self) -> Iterator[Path]:
        for shard in _children(self.blobs):
            yield from _children(shard)

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

    # -- model folders --------------------------------------------------------------------------

    def model_dir(self, provider: str, repo: str, commit: str) -> Path:
        return self._inside(self._model_dir(provider, repo, commit), self.models)

    def _model_dir(self, provider: str, repo: str, commit: str) -> Path:
        return self.models / check_provider(provider) / check_repo_id(repo) / check_commit(commit)

    def model_path(self, provider: str, repo: str, commit: str, primary: str | None) -> Path:
        """What a worker loads: the primary file of the model folder, else the folder itself."""
        folder = self.model_dir(provider, repo, commit)
        return folder / safe_relpath(primary) if primary else folder

    def located(self, relative: str) -> Path:
        """Where a manifest's home-relative ``model_path`` points (``_check_place`` checks it)."""
        return self.home / relative

    def model_file(self, info: ModelInfo, f: ModelFile) -> Path:
        return self.model_dir(info.provider, info.repo, info.commit) / safe_relpath(f.path)

    def entry_problems(self, info: ModelInfo) -> list[str]:
        """``path: problem`` for each file that is not its verified blob (stat calls only)."""
        folder = self.model_dir(info.provider, info.repo, info.commit)
        found = ((f, self.file_problem(folder / safe_relpath(f.path), f)) for f in info.files)
        return [f"{f.path}: {problem}" for f, problem in found if problem is not None]

    def link_file(self, sha256: str, provider: str, repo: str, commit: str, path: str) -> Path:
        folder = self.model_dir(provider, repo, commit)
        dest = self._inside(folder / safe_relpath(path), self.models)
        self._clear(dest)
        try:
            linked = link_or_copy(self.blob_path(sha256), dest)
        except (FileExistsError, NotADirectoryError):
            self._clear_parents(dest)
            linked = link_or_copy(self.blob_path(sha256), dest)
        if not linked:
            self.copied.touch()
        return dest

    def _clear_parents(self, dest: Path) -> None:
        """A file where one of ``dest``'s folders belongs (damage) is moved aside."""
        for parent in reversed(dest.relative_to(self.models).parents[:-1]):
            with contextlib.suppress(OSError):
                if not stat.S_ISDIR(os.lstat(self.models / parent).st_mode):
                    self._move_aside(self.models / parent, parent.name)

    def check_link(self, f: ModelFile, provider: str, repo: str, commit: str) -> None:
        """Before a manifest names ``f``: its blob is whole and its model-folder file is that
        blob (the same inode; a copy of the right size where links are impossible)."""
        link = self.model_dir(provider, repo, commit) / safe_relpath(f.path)
        problem = self.file_problem(link, f)
        if problem == "missing" or problem == "its blob is missing or quarantined":
            raise IntegrityError(f"{f.path} vanished during the commit")
        if problem is not None:
            raise IntegrityError(f"{f.path} is not its blob after linking ({problem})")

    def file_problem(self, link: Path, f: ModelFile) -> str | None:
        """Why a model-folder file is not its verified blob, from stat calls only (``path``
        stays fast): missing, not a regular file, wrong size, or another inode than the blob
        (whose name is gone once quarantined)."""
        try:
            st = os.lstat(link)
        except (FileNotFoundError, NotADirectoryError):
            return "missing"
        except OSError as exc:
            return f"unreadable ({exc.strerror})"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size != f.size:
            return f"size {st.st_size}, expected {f.size}"
        blob = self.blob_stat(f.sha256)
        if blob is None:
            return "its blob is missing or quarantined"
        if blob.st_size != f.size:
            return f"its blob has size {blob.st_size}, expected {f.size}"
        # Where links are impossible (another device, a filesystem without hard links) the
        # folder holds a copy and the blob keeps its one link: there the size is all stat tells.
        # Only in a store that ever had to copy: elsewhere a lone blob beside another inode is
        # a file left on content since quarantined (seen racing repair against rm).
        if (st.st_dev, st.st_ino) != (blob.st_dev, blob.st_ino) and (
            blob.st_nlink > 1 or not self.copied.exists()
        ):
            return "not the stored blob"
        return None

    # -- manifests ------------------------------------------------------------------------------

    def manifest_path(self, ref: ModelReference, repo: str) -> Path:
        key = quote(ref.selection_key, safe="")
        folder = self.manifests / check_provider(ref.provider) / check_repo_id(repo)
        return self._inside(folder / f"{key}.json", self.manifests)

    def write_manifest(self, info: ModelInfo, ref: ModelReference) -> Path:
        path = self.manifest_path(ref, info.repo)
        self.save_manifest(path, info)
        return path

    def save_manifest(self, path: Path, info: ModelInfo) -> None:
        body = json.dumps(info.to_json(self.home), indent=2, sort_keys=True).encode()
        atomic_write(self._inside(path, self.manifests), body + b"\n")

    def read_manifest(self, path: Path) -> ModelInfo | None:
        """The entry ``path`` holds now; None if it is gone or does not read back."""
        found = self._entry(path.relative_to(self.manifests).as_posix())
        return found if isinstance(found, ModelInfo) else None

    def read_repo(
        self, provider: str, repo: str
    ) -> tuple[list[tuple[Path, ModelInfo]], list[Unreadable]]:
        """Entries of one repo (its id compared without case, as on the Hub), and the
        manifests in its folder that do not read back."""
        org, _, name = repo.partition("/")
        base = self.manifests / provider
        paths: list[Path] = []
        for org_name in _named(base, org):
            for repo_name in _named(base / org_name, name):
                paths += sorted((base / org_name / repo_name).glob("*.json"))
        good: list[tuple[Path, ModelInfo]] = []
        bad: list[Unreadable] = []
        for path in paths:
            found = self._entry(
                f"{provider}/{path.parent.parent.name}/{path.parent.name}/{path.name}"
            )
            if isinstance(found, ModelInfo):
                good.append((path, found))
            elif found is not None:
                bad.append(found)
        return good, bad

    def manifests_of(self, provider: str, repo: str) -> Iterator[tuple[Path, ModelInfo]]:
        yield from self.read_repo(provider, repo)[0]

    def listing(self) -> tuple[list[tuple[str, ListedModel]], list[Unreadable]]:
        """Every manifest (its path relative to ``manifests/``) as listed, each checked unless
        ``catalog.cache`` holds it under the same stat key, and those that do not read back;
        the cache is brought up to date, best effort (``_catalog_cache``)."""
        with self._listing_lock:  # the service lists from many threads; one walks at a time
            return self._listing()

    def _listing(self) -> tuple[list[tuple[str, ListedModel]], list[Unreadable]]:
        if self._disk_cache is None:
            self._disk_cache = _catalog_cache.load(self.catalog_cache_file, self.home)
        disk = self._disk_cache
        good: list[tuple[str, ListedModel]] = []
        bad: list[Unreadable] = []
        names: list[str] = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            top = os.open(self.manifests, os.O_RDONLY | os.O_DIRECTORY)
            try:
                names = self._manifest_files(disk, top)
                for path in names:
                    found = self._listed(path, disk, top)
                    if isinstance(found, ListedModel):
                        good.append((path, found))
                    elif found is not None:
                        bad.append(found)
            finally:
                os.close(top)
        disk.keep_only(set(names))
        _catalog_cache.save(disk)
        return good, bad

    def read_all(self) -> tuple[list[tuple[Path, ModelInfo]], list[Unreadable]]:
        """Every manifest's entry (``listing``, each ModelInfo built from its listed form),
        and the manifests that do not read back."""
        listed, bad = self.listing()
        good: list[tuple[Path, ModelInfo]] = []
        for path, item in listed:
            found = self._info_of(path, item)
            if isinstance(found, ModelInfo):
                good.append((self.manifests / path, found))
            elif found is not None:
                bad.append(found)
        return good, bad

    def all_manifests(self) -> Iterator[tuple[Path, ModelInfo]]:
        yield from self.read_all()[0]

    def _entry(self, path: str) -> ModelInfo | Unreadable | None:
        found = self._listed(path)
        return self._info_of(path, found) if isinstance(found, ListedModel) else found

    def _info_of(self, path: str, listed: ListedModel) -> ModelInfo | Unreadable | None:
        """The ModelInfo of a listed entry. One from ``catalog.cache`` whose model object does
        not check (``ListedModel.info``: a forged cache) is dropped, its manifest read instead."""
        try:
            return listed.info
        except ManifestProblem:
            found = self._listed(path, reuse=False)
            return found.info if isinstance(found, ListedModel) else found

    def _listed(
        self,
        path: str,
        disk: _catalog_cache.CatalogCache | None = None,
        top: int | None = None,
        reuse: bool = True,
    ) -> ListedModel | Unreadable | None:
        """A checked manifest (``path`` relative to ``manifests/``, or to the folder ``top``
        has open), cached by its stat: a busy server lists without re-parsing.

        Manifests are replaced by rename, never edited in place, so a changed file always
        has a new inode or mtime. None: it vanished since the folder was listed.
        """
        try:
            if top is None:
                st = os.lstat(f"{self._manifests_text}/{path}")
            else:
                st = os.lstat(path, dir_fd=top)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._unreadable(path, f"cannot be read ({exc.strerror})", None)
        if not stat.S_ISREG(st.st_mode):
            return self._unreadable(path, "not a regular file", None)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if reuse and cached is not None and cached[0] == key:
            return cached[1]
        remembered = disk.get(path, key) if disk is not None and reuse else None
        found: ListedModel | Unreadable | None
        if remembered is not None and self._place_problem(path, remembered) is None:
            found = remembered
        else:
            found = self._parse(path)
            if found is None:
                return None
            if disk is not None and isinstance(found, ListedModel):
                disk.put(path, key, found)
        self._cache[path] = (key, found)
        return found

    def _parse(self, path: str) -> ListedModel | Unreadable | None:
        """The manifest read and checked in full: fields, then place."""
        try:
            with open(f"{self._manifests_text}/{path}", "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._unreadable(path, f"cannot be read ({exc.strerror})", None)
        try:
            info = parse_manifest(raw, self.located)
            self._check_place(path, info)
        except (ManifestProblem, IntegrityError) as exc:
            hashes = frozenset(h.decode() for h in _HEX64.findall(raw))
            return self._unreadable(path, str(exc), hashes)
        return ListedModel.of(info)

    def _check_place(self, path: str, info: ModelInfo) -> None:
        """A manifest speaks only for the repo whose folder holds it, and points into it.

        String work only (its fields are already checked): this runs for every manifest a
        cold ``list`` reads, 10,000 of them in a big store.
        """
        problem = self._place_problem(path, info)
        folder = self._model_folder(info)
        target = str(info.model_path)
        if (
            problem is None
            and target != folder
            and target[len(folder) + 1 :] not in {f.path for f in info.files}
        ):
            problem = f"model_path {target!r} is not its own"
        if problem is not None:
            raise ManifestProblem(problem)

    def _place_problem(self, path: str, entry: ModelInfo | ListedModel) -> str | None:
        """Why an entry may not speak for the manifest folder it sits in, if it may not: another
        repo, or a model path outside its own commit folder (which file: ``_check_place``)."""
        own = f"{entry.provider}/{entry.repo}/"  # the common case: spelled as its folder
        if not path.startswith(own) or "/" in path[len(own) :]:
            provider, org, name = self._folder_of(path)
            if (provider, f"{org}/{name}".casefold()) != (entry.provider, entry.repo.casefold()):
                return f"names {entry.repo!r} but sits in {org}/{name}"
        if not is_git_sha1(entry.commit):
            return f"commit {entry.commit!r} is not a 40-hex sha"
        folder = self._model_folder(entry)
        target = str(entry.model_path) if isinstance(entry, ModelInfo) else entry.path
        if target != folder and not target.startswith(folder + "/"):
            return f"model_path {target!r} is not its own"
        return None

    def _model_folder(self, entry: ModelInfo | ListedModel) -> str:
        return f"{self._models_text}/{entry.provider}/{entry.repo}/{entry.commit}"

    def _folder_of(self, manifest: str) -> tuple[str, str, str]:
        """``(provider, org, name)`` of the folder a manifest (relative to ``manifests/``)
        sits in; empty if misplaced."""
        parts = manifest.split("/")
        return (parts[0], parts[1], parts[2]) if len(parts) == 4 else ("", "", "")

    def _unreadable(self, path: str, problem: str, hashes: frozenset[str] | None) -> Unreadable:
        return Unreadable(self.manifests / path, problem, *self._folder_of(path), hashes)

    def _manifest_files(self, disk: _catalog_cache.CatalogCache, top: int) -> list[str]:
        """``<provider>/<org>/<name>/*.json`` in the folder ``top`` has open (``manifests/``).
        Each folder is stat-ed and listed again only when its stat key changed since
        ``catalog.cache`` remembered its names: with 10,000 entries, 20,000 stat calls instead
        of 20,000 folder listings (benchmarks/catalog.py)."""
        walk = _Walk(self._manifests_text, top, disk, _catalog_cache.settled_before())
        level = [""]
        for depth in range(4):
            level = [
                f"{folder}/{name}" if folder else name
                for folder in level
                for name in walk.names_in(folder, depth)
            ]
        disk.changed = disk.changed or walk.seen != disk.folders.keys()
        disk.folders = {folder: row for folder, row in disk.folders.items() if folder in walk.seen}
        return sorted(level)

    def remove_manifest(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._inside(path, self.manifests).unlink()
        fsync_dir(path.parent)
        prune_empty_dirs(path.parent, self.manifests)

    def release(self, info: ModelInfo, still_used: set[tuple[str, str]]) -> None:
        """Unlink what only this entry used, then drop blobs nothing links any more (and no
        live pull is about to link)."""
        keep = self.reservations.held().blobs
        for f in info.files:
            if (info.commit, f.path) in still_used:
                continue
            target = self.model_file(info, f)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            prune_empty_dirs(target.parent, self.models)
            self.collect_blob(f.sha256, keep)

    def files_under(self, provider: str, org: str, name: str) -> set[tuple[str, str]]:
        """(commit, path) of every file in a repo's model folders, its name without case."""
        found: set[tuple[str, str]] = set()
        for org_dir in _children(self.models / provider):
            if org_dir.name.casefold() != org.casefold():
                continue
            for repo_dir in _children(org_dir):
                if repo_dir.name.casefold() != name.casefold():
                    continue
                for commit_dir in _children(repo_dir):
                    for root, _dirs, names in os.walk(commit_dir):
                        for leaf in names:
                            rel = Path(root, leaf).relative_to(commit_dir).as_posix()
                            found.add((commit_dir.name, rel))
        return found

    # -- partials and locks ---------------------------------------------------------------------

    def partial_path(
        self, sha256: str | None, git_sha1: str | None, unverified_key: str | None = None
    ) -> Path:
        """Where a file with this content is fetched: one partial per content, whoever asks.

        A file no hash covers (the user allowed it) is named by ``unverified_key`` (its repo,
        commit and path, hashed), so two such files never share a partial.
        """
        if sha256:
            if is_sha256(sha256):
                return self.partial / f"{sha256}{PARTIAL_SUFFIX}"
        elif git_sha1 and is_git_sha1(git_sha1):
            return self.partial / f"git-{git_sha1}{PARTIAL_SUFFIX}"
        elif unverified_key and not git_sha1:
            key = hashlib.sha256(unverified_key.encode()).hexdigest()
            return self.partial / f"unverified-{key}{PARTIAL_SUFFIX}"
        raise IntegrityError(f"no valid hash to name a download by: {sha256!r} / {git_sha1!r}")

    def import_partial(self) -> Path:
        """A fresh partial name for a file being imported: placed, then hashed, then a blob."""
        return self.partial / f"import-{os.urandom(16).hex()}{PARTIAL_SUFFIX}"

    def entry_lock(self, ref: ModelReference) -> FileLock:
        """Single flight per catalog entry: a second pull of it waits, then finds it done."""
        return self._lock(f"entry:{ref.provider}/{ref.repo.lower()}/{ref.selection_key}")

    def commit_lock(self) -> FileLock:
        """Held by whatever changes blobs, model folders or manifests: a pull's commit, delete,
        gc, quarantine, the verified stamp. Short sections only; a download in progress never
        holds it. Re-entrant in one thread (a quarantine inside a commit); threads of one
        process exclude each other as processes do."""
        return self._lock("commit")

    def _lock(self, name: str) -> FileLock:
        from filelock import FileLock  # it imports asyncio (~40 ms): only commands that write

        self.locks.mkdir(parents=True, exist_ok=True)
        return FileLock(self.locks / f"{quote(name, safe='')}{_LOCK}", is_singleton=True)

    def usage_marker(self, manifest: Path) -> Path:
        """The file whose mtime says when the entry of ``manifest`` was last used."""
        return self._marker(self.usage, manifest)

    def pin_marker(self, manifest: Path) -> Path:
        """The file that exists while the entry of ``manifest`` is pinned."""
        return self._marker(self.pins, manifest)

    def manifest_of_marker(self, marker: Path) -> Path:
        """The manifest a usage or pin marker belongs to."""
        for top in (self.usage, self.pins):
            if top in marker.parents:
                return self.manifests / f"{marker.relative_to(top)}{_MANIFEST}"
        raise ValueError(f"{marker} is not a marker")

    def _marker(self, top: Path, manifest: Path) -> Path:
        return top / str(manifest.relative_to(self.manifests)).removesuffix(_MANIFEST)

    # -- helpers --------------------------------------------------------------------------------

    def _inside(self, path: Path, top: Path) -> Path:
        """The last line of defence: ``path``'s folder, resolved, stays under ``top`` (resolved
        too, so a home or top folder that is itself a symlink to a bigger disk still works).
        The last name is not followed: writes replace it by rename, never write through it."""
        real_top = os.path.realpath(top)
        real = os.path.join(os.path.realpath(path.parent), path.name)
        if real != real_top and not real.startswith(real_top.rstrip(os.sep) + os.sep):
            raise IntegrityError(f"refusing a path that leaves the store: {path}")
        return path

    def _clear(self, dest: Path) -> None:
        """A folder where a file belongs (damage, or a hostile listing) is moved aside."""
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(dest).st_mode):
                self._move_aside(dest, dest.name)

    def _move_aside(self, path: Path, label: str) -> Path | None:
        dest = self.quarantine / f"{label}.{time.time_ns()}"
        try:
            self.quarantine.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        except OSError:
            return None
        fsync_dir(path.parent)
        return dest


@dataclass
class _Walk:
    """One walk of ``manifests/`` (open as ``top``) with the folders ``catalog.cache`` holds."""

    root: str
    top: int
    disk: _catalog_cache.CatalogCache
    settled: int
    seen: set[str] = field(default_factory=set)

    def names_in(self, folder: str, depth: int) -> list[str]:
        """The folders (``depth`` < 3) or manifests in ``folder``: remembered while its stat key
        is unchanged, else listed again. Remembered only once settled: a name added within the
        same clock tick as the listing would leave the mtime as it was."""
        try:
            st = os.lstat(folder, dir_fd=self.top) if folder else os.fstat(self.top)
        except (FileNotFoundError, NotADirectoryError):
            return []
        if not stat.S_ISDIR(st.st_mode):
            return []
        names = self.disk.names(folder, st)
        if names is None:
            entries = _scan(f"{self.root}/{folder}" if folder else self.root)
            if depth < 3:
                names = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
            else:
                names = sorted(e.name for e in entries if e.name.endswith(_MANIFEST))
            if st.st_mtime_ns >= self.settled:
                return names
            self.disk.remember(folder, (st.st_ino, st.st_mtime_ns), names)
        self.seen.add(folder)
        return names


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
