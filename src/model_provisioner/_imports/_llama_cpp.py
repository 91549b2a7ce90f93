"""llama.cpp's caches as import candidates.

Current llama.cpp (``common/hf-cache.cpp``) downloads ``-hf`` models into a huggingface_hub
cache layout (``models--ORG--NAME/{blobs,snapshots,refs}``, blobs named by LFS sha256 or git
oid) at ``LLAMA_CACHE``, else huggingface_hub's cache: that part is the hf cache importer.

Older llama.cpp wrote a flat folder (``LLAMA_CACHE``, else ``~/.cache/llama.cpp`` on Linux,
``~/Library/Caches/llama.cpp`` on macOS, ``%LOCALAPPDATA%\\llama.cpp`` on Windows) of
``<org>_<repo>_<file>.gguf`` files with a sidecar naming their origin: ``<file>.json``
(``{"url": ".../<org>/<repo>/resolve/<rev>/<path>", "etag": "\\"<sha256>\\""}``), or ``<file>.etag``
plus ``manifest=<org>=<repo>=<tag>.json`` (the Hub's manifest: ``ggufFile``/``mmprojFile`` with
``rfilename`` and ``lfs.sha256``). Such files become ``hf:`` entries checked against the sha256
their sidecar publishes; one without a known origin or hash is reported, not guessed. Their
commit is unknown, so the entry gets a content id; the next online pull moves it to the Hub's
commit without fetching the bytes again.
"""

from __future__ import annotations

import json
import os
import stat
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .._errors import IntegrityError, InvalidReference
from .._names import is_sha256
from .._references import ModelReference, parse_reference
from .._store import safe_relpath
from ._adopt import Candidate, Skipped, SourceFile
from ._entries import plan_entries

_MAX_SIDECAR = 1 << 20


def legacy_candidates(folder: Path) -> tuple[list[Candidate], list[Skipped]]:
    """The flat cache's GGUF files whose origin and sha256 a sidecar tells."""
    if not folder.is_dir():
        return [], []
    manifests = _manifest_origins(folder)
    groups: dict[tuple[str, str], dict[str, SourceFile]] = defaultdict(dict)
    skipped: list[Skipped] = []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(".gguf") or path.name.startswith("."):
            continue
        origin = _sidecar_origin(path) or manifests.get(path.name)
        if origin is None:
            skipped.append(
                Skipped(
                    str(path),
                    "skipped: no sidecar tells its repository and sha256 "
                    "(provisioner import folder --as ORG/NAME adopts it)",
                )
            )
            continue
        repo, revision, rel, sha256 = origin
        groups[(repo, revision)][rel] = SourceFile(rel, path, sha256=sha256)
    candidates = []
    for (repo, revision), files in sorted(groups.items()):
        planned, problems = plan_entries(sorted(files), ModelReference(repo, revision))
        skipped += [Skipped(f"{repo}@{revision}", f"skipped: {p}") for p in problems]
        for entry in planned:
            chosen = tuple(files[p] for p in entry.selection.paths)
            candidates.append(Candidate(entry.ref, entry.selection, chosen, None, str(folder)))
    return candidates, skipped


Origin = tuple[str, str, str, str]  # repo, revision, path in repo, sha256


def _sidecar_origin(path: Path) -> Origin | None:
    data = _read_json(path.with_name(path.name + ".json"))
    if not isinstance(data, dict):
        return None
    url, etag = data.get("url"), data.get("etag")
    if not isinstance(url, str) or not isinstance(etag, str):
        return None
    segments = [unquote(s) for s in urlsplit(url).path.split("/") if s]
    if len(segments) < 5 or segments[2] != "resolve":
        return None
    return _origin(f"{segments[0]}/{segments[1]}", segments[3], "/".join(segments[4:]), etag)


def _manifest_origins(folder: Path) -> dict[str, Origin]:
    """Local file name -> origin, from ``manifest=<org>=<repo>=<tag>.json`` files."""
    found: dict[str, Origin] = {}
    for path in sorted(folder.glob("manifest=*=*=*.json")):
        _, org, name, _tag = path.stem.split("=", 3)
        data = _read_json(path)
        if not isinstance(data, dict):
            continue
        for key in ("ggufFile", "mmprojFile"):
            item = data.get(key)
            if not isinstance(item, dict):
                continue
            rel, lfs = item.get("rfilename"), item.get("lfs")
            sha256 = lfs.get("sha256") if isinstance(lfs, dict) else None
            if isinstance(rel, str) and isinstance(sha256, str):
                origin = _origin(f"{org}/{name}", "main", rel, sha256)
                if origin is not None:
                    local = f"{org}_{name}_{rel.replace('/', '_')}"
                    found[local] = origin
    return found


def _origin(repo: str, revision: str, rel: str, etag: str) -> Origin | None:
    sha256 = etag.removeprefix("W/").strip('"').lower()
    if not is_sha256(sha256):
        return None
    try:
        ref = parse_reference(f"hf:{repo}@{revision}")
        rel = safe_relpath(rel)
    except (InvalidReference, IntegrityError):
        return None
    return ref.repo, ref.revision, rel, sha256


def _read_json(path: Path) -> Any:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_SIDECAR:
            return None
        data = os.read(fd, _MAX_SIDECAR)
    finally:
        os.close(fd)
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
