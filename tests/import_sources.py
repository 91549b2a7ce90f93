"""Model stores laid out exactly as other tools write them, and a fingerprint of a whole tree.

Ollama (server/images.go, manifest/): ``manifests/<host>/<namespace>/<model>/<tag>`` is the OCI
manifest JSON, ``blobs/sha256-<hex>`` each layer. llama.cpp today (common/hf-cache.cpp):
``models--ORG--NAME/blobs/<oid>``, ``snapshots/<commit>/<path>`` a relative symlink to the blob,
``refs/main`` the commit without a newline. Older llama.cpp: ``<org>_<repo>_<file>`` plus a
``.json`` sidecar with ``url`` and ``etag``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

OLLAMA_HOST = "registry.ollama.ai"
MODEL_MEDIA = "application/vnd.ollama.image.model"
PROJECTOR_MEDIA = "application/vnd.ollama.image.projector"
TEMPLATE_MEDIA = "application/vnd.ollama.image.template"
PARAMS_MEDIA = "application/vnd.ollama.image.params"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_sha1_of(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _blob(models: Path, data: bytes) -> dict[str, Any]:
    digest = sha256_of(data)
    path = models / "blobs" / f"sha256-{digest}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_ollama_model(
    models: Path,
    model: str,
    tag: str,
    layers: list[tuple[str, bytes]],
    *,
    namespace: str = "library",
    host: str = OLLAMA_HOST,
) -> Path:
    """Blobs and the manifest as ``ollama pull`` leaves them; returns the manifest path."""
    config = _blob(models, json.dumps({"model_format": "gguf", "model_family": "llama"}).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config},
        "layers": [{"mediaType": media, **_blob(models, data)} for media, data in layers],
    }
    path = models / "manifests" / host / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    return path


def make_llama_hf_cache(
    cache: Path, repo: str, commit: str, files: dict[str, tuple[bytes, str]]
) -> Path:
    """What llama.cpp's hf-cache.cpp writes for ``-hf``: ``files`` maps path -> (bytes, oid)."""
    root = cache / ("models--" + repo.replace("/", "--"))
    for path, (data, oid) in files.items():
        blob = root / "blobs" / oid
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        final = root / "snapshots" / commit / path
        final.parent.mkdir(parents=True, exist_ok=True)
        final.symlink_to(os.path.relpath(blob, final.parent))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return root


def make_llama_legacy_file(folder: Path, endpoint: str, repo: str, path: str, data: bytes) -> Path:
    """An older llama.cpp download: ``<org>_<repo>_<file>`` and its ``.json`` sidecar."""
    org, name = repo.split("/")
    local = folder / f"{org}_{name}_{path.replace('/', '_')}"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    sidecar = {
        "etag": f'"{sha256_of(data)}"',
        "lastModified": "Mon, 01 Jan 2024 00:00:00 GMT",
        "url": f"{endpoint}/{repo}/resolve/main/{path}",
    }
    local.with_name(local.name + ".json").write_text(json.dumps(sidecar))
    return local


def fingerprint(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root``: kind, mode, mtime, and its bytes' hash or link target."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                detail: Any = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                detail = sha256_of(path.read_bytes())
            else:
                detail = None
            key = str(path.relative_to(root))
            found[key] = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_mtime_ns, st.st_size, detail)
    return found


def inodes(root: Path) -> set[tuple[int, int]]:
    """(device, inode) of every regular file under ``root``."""
    found = set()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            st = (Path(folder) / name).lstat()
            if stat.S_ISREG(st.st_mode):
                found.add((st.st_dev, st.st_ino))
    return found
