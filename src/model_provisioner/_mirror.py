"""The store seen as a read-only Hub: commits, file listings and file locations from manifests.

A revision resolves to the commit of the installed entry that asked for it (or to the commit
itself), and a commit's files are the union of what every installed entry of that commit holds
whole (its blob a regular file of the right size): a mirror can only offer what it has. JSON
shapes follow what huggingface_hub reads (``ModelInfo``, ``RepoFile``, ``RepoFolder``); no
network, only manifests and blobs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._digests import git_blob_sha1
from ._errors import EntryNotFound, RepoNotFound, RevisionNotFound
from ._models import ModelFile, ModelInfo
from ._store import Store
from ._usage import record_use

PROVIDER = "hf"


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer a Hub repo stores in git for an LFS file."""
    spec = "https://git-lfs.github.com/spec/v1"
    return f"version {spec}\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class MirrorFile:
    path: str
    size: int
    sha256: str
    git_oid: str
    lfs: bool

    @classmethod
    def of(cls, f: ModelFile, blob: Path) -> MirrorFile:
        if f.lfs:
            oid = git_blob_sha1(lfs_pointer(f.sha256, f.size))
        elif f.git_sha1:
            oid = f.git_sha1
        else:  # a small file recorded without its git id: hash it (it is small)
            oid = git_blob_sha1(blob.read_bytes())
        return cls(f.path, f.size, f.sha256, oid, f.lfs)

    @property
    def etag(self) -> str:
        """The Hub's ETag: sha256 for LFS files, the git blob id for the others."""
        return f'"{self.sha256 if self.lfs else self.git_oid}"'

    def headers(self, commit: str) -> dict[str, str]:
        headers = {
            "ETag": self.etag,
            "X-Repo-Commit": commit,
            "Accept-Ranges": "bytes",
            "Content-Disposition": _content_disposition(self.path),
        }
        if self.lfs:
            headers["X-Linked-Etag"] = f'"{self.sha256}"'
            headers["X-Linked-Size"] = str(self.size)
        return headers

    def listing_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "type": "file",
            "oid": self.git_oid,
            "size": self.size,
            "path": self.path,
        }
        if self.lfs:
            item["lfs"] = self._lfs("oid")
        return item

    def sibling_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"rfilename": self.path, "size": self.size, "blobId": self.git_oid}
        if self.lfs:
            item["lfs"] = self._lfs("sha256")
        return item

    def _lfs(self, key: str) -> dict[str, Any]:
        pointer = len(lfs_pointer(self.sha256, self.size))
        return {key: self.sha256, "size": self.size, "pointerSize": pointer}


@dataclass(frozen=True)
class MirrorSnapshot:
    """One commit of one repo, as far as this store holds it."""

    repo: str
    commit: str
    files: dict[str, MirrorFile]
    last_modified: str
    revisions: tuple[str, ...]

    def file(self, path: str) -> MirrorFile:
        found = self.files.get(path)
        if found is None:
            raise EntryNotFound(f"{self.repo}@{self.commit[:12]} has no file {path!r} here")
        return found

    def folders(self) -> set[str]:
        found: set[str] = set()
        for path in self.files:
            parts = path.split("/")[:-1]
            found.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return found

    def info_json(self) -> dict[str, Any]:
        """The body of ``GET /api/models/{repo}[/revision/{rev}]``."""
        names = list(self.files)
        tags = [t for t in ("gguf", "safetensors") if any(n.endswith("." + t) for n in names)]
        return {
            "_id": hashlib.sha1(self.repo.lower().encode()).hexdigest()[:24],
            "id": self.repo,
            "modelId": self.repo,
            "author": self.repo.split("/")[0],
            "sha": self.commit,
            "lastModified": self.last_modified,
            "createdAt": self.last_modified,
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": tags,
            "usedStorage": sum(f.size for f in self.files.values()),
            "siblings": [self.files[p].sibling_json() for p in sorted(self.files)],
        }

    def tree_json(self, folder: str, *, recursive: bool) -> list[dict[str, Any]]:
        folders = self.folders()
        if folder and folder not in folders:
            raise EntryNotFound(f"{folder!r} does not exist in {self.repo}@{self.commit[:12]}")
        prefix = f"{folder}/" if folder else ""

        def wanted(path: str) -> bool:
            return path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])

        items = [(p, self.files[p].listing_json()) for p in self.files if wanted(p)]
        items += [(d, self._folder_json(d)) for d in folders if wanted(d)]
        return [item for _, item in sorted(items, key=lambda pair: pair[0])]

    def paths_info_json(self, paths: list[str]) -> list[dict[str, Any]]:
        folders = self.folders()
        found = []
        for path in paths:
            path = path.strip("/")
            if path in self.files:
                found.append(self.files[path].listing_json())
            elif path in folders:
                found.append(self._folder_json(path))
        return found

    def _folder_json(self, path: str) -> dict[str, Any]:
        oid = hashlib.sha1(f"{self.commit}:{path}".encode()).hexdigest()
        return {"type": "directory", "oid": oid, "size": 0, "path": path}


class Mirror:
    """Reads manifests on every call: a pull or delete elsewhere is seen at once."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def snapshot(self, repo: str, revision: str) -> MirrorSnapshot:
        infos = [info for _, info in self.store.manifests_of(PROVIDER, repo)]
        if not infos:
            raise RepoNotFound(f"repository {repo} is not in this mirror")
        commit = self._commit(infos, revision)
        if commit is None:
            raise RevisionNotFound(f"revision {revision!r} of {repo} is not in this mirror")
        same = [i for i in infos if i.commit == commit]
        files: dict[str, MirrorFile] = {}
        for info in same:
            for f in info.files:
                if f.path not in files and self.store.has_blob(f.sha256, f.size):
                    files[f.path] = MirrorFile.of(f, self.store.blob_path(f.sha256))
        return MirrorSnapshot(
            repo=same[0].repo,
            commit=commit,
            files=files,
            last_modified=_hub_date(max(i.downloaded_at for i in same)),
            revisions=tuple(sorted({i.revision for i in infos} | {i.commit for i in infos})),
        )

    def split_revision(self, repo: str, rest: str) -> tuple[str, str]:
        """``rev/path`` -> (rev, path), where rev may hold ``/`` (``refs/pr/1``, ``v1/x``).

        The longest revision this repo is installed at wins; otherwise the first segment.
        """
        known = {i.revision for _, i in self.store.manifests_of(PROVIDER, repo)}
        known |= {i.commit for _, i in self.store.manifests_of(PROVIDER, repo)}
        for rev in sorted(known, key=len, reverse=True):
            if rest == rev or rest.startswith(rev + "/"):
                return rev, rest[len(rev) + 1 :]
        rev, _, path = rest.partition("/")
        return rev, path

    def record_use(self, snapshot: MirrorSnapshot, path: str) -> None:
        """A file served to another machine counts as a use of every entry that holds it."""
        for manifest, info in self.store.manifests_of(PROVIDER, snapshot.repo):
            if info.commit == snapshot.commit and any(f.path == path for f in info.files):
                record_use(self.store, manifest)

    def file_path(self, snapshot: MirrorSnapshot, path: str) -> Path:
        """The immutable, verified blob, and only while it is a regular file of its size: a
        blob replaced by a symlink or quarantined is never served (nor is a model-folder link)."""
        f = snapshot.file(path)
        if not self.store.has_blob(f.sha256, f.size):
            raise EntryNotFound(f"{snapshot.repo}@{snapshot.commit[:12]} has no whole {path!r}")
        return self.store.blob_path(f.sha256)

    @staticmethod
    def _commit(infos: list[ModelInfo], revision: str) -> str | None:
        for info in infos:
            if info.commit == revision:
                return info.commit
        named = [i for i in infos if i.revision == revision]
        if not named:
            return None
        return max(named, key=lambda i: i.downloaded_at).commit


def _hub_date(iso: str) -> str:
    """The Hub's timestamp spelling (``...T01:02:03.000Z``), the only one its client parses."""
    try:
        moment = datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError:
        moment = datetime.fromtimestamp(0, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _content_disposition(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "")
    return f"inline; filename*=UTF-8''{quote(name)}; filename=\"{ascii_name}\";"
