"""The Hub's JSON shapes and header rules, as pure functions of fixture data (no I/O, no aiohttp).

Field names follow what huggingface_hub 2.4 reads: ``ModelInfo(**json)``, ``RepoFile(**entry)``,
``RepoFolder(**entry)`` in ``hf_api.py`` and ``get_hf_file_metadata`` in ``file_download.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from .faults import HOSTILE_PATHS
from .repos import FileEntry, Repo

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
JUNK_JSON = '{"id": "x", "sha": '  # what a proxy's truncated or HTML-mangled answer parses as


class RangeNotSatisfiable(Exception):
    """The Range header cannot be served: answer 416."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) for a single ``bytes=`` range, None when there is no header.

    Multiple ranges are not supported and, like unparseable or out-of-file ranges, are 416.
    """
    if header is None:
        return None
    match = _RANGE_RE.match(header.strip().replace(" ", ""))
    if match is None:
        raise RangeNotSatisfiable(header)
    first, last = match.groups()
    if first == "" and last == "":
        raise RangeNotSatisfiable(header)
    if first == "":  # suffix range: the last N bytes
        if int(last) == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable(header)
    return start, end


def content_disposition(path: str) -> str:
    """The Hub's ``Content-Disposition`` for a file (the client shows it in progress bars)."""
    name = path.rsplit("/", 1)[-1]
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "")
    return f"inline; filename*=UTF-8''{quote(name)}; filename=\"{ascii_name}\";"


def file_headers(entry: FileEntry, commit: str | None) -> dict[str, str]:
    """Headers of a resolve answer: ETag is the sha256 for LFS files, the git blob id otherwise."""
    headers = {
        "ETag": f'"{entry.oid}"',
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(entry.path),
        "Content-Type": "application/octet-stream",
    }
    if commit is not None:
        headers["X-Repo-Commit"] = commit
    if entry.lfs:
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
    return headers


def strip_linked_headers(headers: dict[str, str]) -> dict[str, str]:
    """What a dumb mirror sends: no ETag, no X-Linked-*, no Accept-Ranges."""
    dropped = {"etag", "x-linked-etag", "x-linked-size", "accept-ranges"}
    return {k: v for k, v in headers.items() if k.lower() not in dropped}


def lfs_json(entry: FileEntry, *, key: str) -> dict[str, Any]:
    """LFS block: ``oid`` in tree/paths-info, ``sha256`` in model-info siblings."""
    return {key: entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}


def sibling_json(entry: FileEntry, *, blobs: bool) -> dict[str, Any]:
    """One element of ``siblings`` in model info."""
    sibling: dict[str, Any] = {"rfilename": entry.path}
    if blobs:
        sibling["size"] = entry.size
        sibling["blobId"] = entry.git_oid
        if entry.lfs:
            sibling["lfs"] = lfs_json(entry, key="sha256")
    return sibling


def hostile_entries() -> list[FileEntry]:
    """Listing entries that try to escape the download folder."""
    return [FileEntry(p, 4, "0" * 40, "0" * 40, False, "0" * 64) for p in HOSTILE_PATHS]


def model_info_json(
    repo: Repo,
    commit: str,
    entries: Iterable[FileEntry],
    *,
    blobs: bool,
    last_modified: str,
) -> dict[str, Any]:
    """The body of ``GET /api/models/{repo}[/revision/{rev}]``."""
    files = list(entries)
    names = {e.path for e in files}
    tags = [
        t for t, ext in (("gguf", ".gguf"), ("safetensors", ".safetensors")) if _any(names, ext)
    ]
    return {
        "_id": hashlib.sha1(repo.id.lower().encode()).hexdigest()[:24],
        "id": repo.id,
        "modelId": repo.id,
        "author": repo.id.split("/")[0],
        "sha": commit,
        "lastModified": last_modified,
        "createdAt": last_modified,
        "private": repo.private,
        "gated": "manual" if repo.gated else False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "library_name": "gguf" if "gguf" in tags else "sentence-transformers",
        "tags": tags,
        "pipeline_tag": None,
        "usedStorage": sum(e.size for e in files),
        "siblings": [sibling_json(e, blobs=blobs) for e in files],
        "spaces": [],
    }


def select_expand(info: Mapping[str, Any], expand: list[str]) -> dict[str, Any]:
    """``?expand=a&expand=b`` returns only those properties (plus the ids), like the Hub."""
    return {k: v for k, v in info.items() if k in ("_id", "id") or k in expand}


def tree_entry_json(entry: FileEntry, *, expand: bool, commit: str, date: str) -> dict[str, Any]:
    """A file in a tree or paths-info listing."""
    item: dict[str, Any] = {
        "type": "file",
        "oid": entry.git_oid,
        "size": entry.size,
        "path": entry.path,
    }
    if entry.lfs:
        item["lfs"] = lfs_json(entry, key="oid")
    if expand:
        item["lastCommit"] = _last_commit(commit, date)
    return item


def folder_json(path: str, *, expand: bool, commit: str, date: str) -> dict[str, Any]:
    """A directory in a tree or paths-info listing (its oid is a stand-in tree id)."""
    oid = hashlib.sha1(f"{commit}:{path}".encode()).hexdigest()
    item: dict[str, Any] = {"type": "directory", "oid": oid, "size": 0, "path": path}
    if expand:
        item["lastCommit"] = _last_commit(commit, date)
    return item


def directories(paths: Iterable[str]) -> set[str]:
    """Every folder implied by a set of file paths."""
    found: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        found.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return found


def tree_listing(
    entries: Mapping[str, FileEntry], folder: str, *, recursive: bool
) -> list[FileEntry | str] | None:
    """Files (FileEntry) and folders (str) under ``folder``, sorted by path; None if no folder."""
    dirs = directories(entries)
    if folder and folder not in dirs:
        return None
    prefix = f"{folder}/" if folder else ""

    def wanted(path: str) -> bool:
        return path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])

    items: list[FileEntry | str] = [e for p, e in entries.items() if wanted(p)]
    items += [d for d in dirs if wanted(d)]
    return sorted(items, key=lambda item: item if isinstance(item, str) else item.path)


def _last_commit(commit: str, date: str) -> dict[str, str]:
    return {"id": commit, "title": "fixture commit", "date": date}


def _any(names: Iterable[str], ext: str) -> bool:
    return any(n.endswith(ext) for n in names)
