"""Building store contents by hand: blobs, linked entries and their manifests (no Hub)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from model_provisioner import ModelFile, ModelInfo, parse_reference
from model_provisioner._store import Store


def put_blob(store: Store, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    store.partial.mkdir(parents=True, exist_ok=True)
    tmp = store.partial / f"{sha}.part"
    tmp.write_bytes(data)
    store.commit_blob(tmp, sha)
    return sha


def entry(store: Store, ref: str, commit: str, files: dict[str, str]) -> ModelInfo:
    """An installed entry whose ``files`` (path -> sha256 of a stored blob) are linked."""
    r = parse_reference(ref)
    folder = store.model_dir("hf", r.repo, commit)
    info = ModelInfo(
        reference=r.canonical,
        repo=r.repo,
        revision=r.revision,
        selector=r.selector,
        commit=commit,
        format="gguf",
        model_path=folder,
        files=[ModelFile(p, store.blob_path(s).stat().st_size, s) for p, s in files.items()],
        downloaded_at="2026-01-01T00:00:00+00:00",
    )
    for p, s in files.items():
        store.link_file(s, "hf", r.repo, commit, p)
    store.write_manifest(info, r)
    return info


def manifest_json(store: Store, info: ModelInfo) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(info.to_json(store.home)))
    return data


def write_raw_manifest(store: Store, repo: str, key: str, raw: bytes) -> Path:
    """A manifest file with exactly these bytes, where the store looks for ``repo``'s entries."""
    path = store.manifests / "hf" / repo / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path
