"""The store as a read-only Hugging Face Hub, so other machines pull from this one.

``HF_ENDPOINT=http://host:port hf download org/repo`` and ``provisioner --endpoint ... pull``
use these: model info at a revision, tree, paths-info, and HEAD/GET resolve with Range, ETag,
X-Repo-Commit and, for LFS files, X-Linked-Etag / X-Linked-Size. Errors carry the Hub's
X-Error-Code so huggingface_hub raises its usual types. Bodies come straight from the blob file.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from .._errors import InvalidReference
from .._mirror import Mirror
from ._deps import Provisioner

router = APIRouter(tags=["hub mirror (read-only)"])


async def _mirror(provisioner: Provisioner) -> Mirror:
    return provisioner.mirror


async def _repo(org: str, name: str, provisioner: Provisioner) -> str:
    """``org/name`` under the Hub's repo-id rules (no revision, selector or alias sneaks in)."""
    repo = f"{org}/{name}"
    if provisioner.parse(repo).canonical != f"hf:{repo}":
        raise InvalidReference(f"{repo!r} is not a repository id")
    return repo


MirrorDep = Annotated[Mirror, Depends(_mirror)]
RepoId = Annotated[str, Depends(_repo)]


class BlobResponse(FileResponse):
    """A file body in 1 MiB reads (Starlette's default 64 KiB costs a thread hop per piece)."""

    chunk_size = 1 << 20


@router.get("/api/models/{org}/{name}")
def hub_model_info(repo: RepoId, mirror: MirrorDep) -> dict[str, Any]:
    """Model info at ``main``: commit and siblings (what this store holds of it)."""
    return mirror.snapshot(repo, "main").info_json()


@router.get("/api/models/{org}/{name}/revision/{revision:path}")
def hub_model_info_at(repo: RepoId, revision: str, mirror: MirrorDep) -> dict[str, Any]:
    """Model info at a branch, tag or commit this store has it at."""
    return mirror.snapshot(repo, revision).info_json()


@router.get("/api/models/{org}/{name}/tree/{rest:path}")
def hub_tree(
    repo: RepoId,
    rest: str,
    mirror: MirrorDep,
    recursive: Annotated[bool, Query()] = False,
    expand: Annotated[bool, Query()] = False,
) -> list[dict[str, Any]]:
    """Files and folders under a path at a revision (one page: a mirror's trees are small)."""
    revision, folder = mirror.split_revision(repo, rest)
    return mirror.snapshot(repo, revision).tree_json(folder.strip("/"), recursive=recursive)


@router.post("/api/models/{org}/{name}/paths-info/{revision:path}")
async def hub_paths_info(
    repo: RepoId, revision: str, request: Request, mirror: MirrorDep
) -> JSONResponse:
    """Entries for the given paths (form ``paths=...&paths=...``, as huggingface_hub sends)."""
    paths = _form_paths(await request.body(), request.headers.get("content-type", ""))
    snapshot = mirror.snapshot(repo, revision)
    return JSONResponse(snapshot.paths_info_json(paths))


@router.get("/{org}/{name}/resolve/{rest:path}", operation_id="hub_resolve")
@router.head("/{org}/{name}/resolve/{rest:path}", operation_id="hub_resolve_head")
def hub_resolve(repo: RepoId, rest: str, mirror: MirrorDep) -> FileResponse:
    """A file's bytes (Range, If-Range, HEAD), with the Hub's metadata headers."""
    revision, path = mirror.split_revision(repo, rest)
    snapshot = mirror.snapshot(repo, revision)
    entry = snapshot.file(path)
    mirror.record_use(snapshot, path)
    return BlobResponse(
        mirror.file_path(snapshot, path),
        headers=entry.headers(snapshot.commit),
        media_type="application/octet-stream",
    )


def _form_paths(body: bytes, content_type: str) -> list[str]:
    if "json" in content_type:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return []
        paths = data.get("paths") if isinstance(data, dict) else None
        return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=False)
    return form.get("paths", []) + form.get("paths[]", [])
