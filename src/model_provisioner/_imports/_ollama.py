"""An Ollama store as import candidates.

Layout (``OLLAMA_MODELS``, default ``~/.ollama/models``)::

    manifests/<host>/<namespace>/<model>/<tag>    an OCI image manifest (JSON)
    blobs/sha256-<hex>                            each layer, named by its sha256

A manifest's GGUF layer (``application/vnd.ollama.image.model``) becomes the entry
``ollama:<namespace>/<model>@<tag>`` (``ollama:library/llama3@8b`` for ``ollama pull llama3:8b``;
another host's models, e.g. ``hf.co/bartowski/X:Q4_K_M``, keep their namespace), holding
``<model>-<tag>.gguf``, the vision projector as ``mmproj-<model>-<tag>.gguf``, and the small text
layers (template, system, params, license) under their Ollama names. Digests are checked against
the bytes; nothing a manifest says is used as a path.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from .._errors import InvalidReference, ModelNotFound
from .._references import ModelReference, parse_reference
from .._selection import Selection
from ._adopt import Candidate, Skipped, SourceFile

_MAX_MANIFEST = 1 << 20
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_PREFIX = "application/vnd.ollama.image."
_MODEL = _PREFIX + "model"
_PROJECTOR = _PREFIX + "projector"
_TEXT_LAYERS = {
    "template": "template",
    "system": "system",
    "params": "params.json",
    "license": "license",
}


def ollama_candidates(
    models: Path, want: ModelReference | None = None
) -> tuple[list[Candidate], list[Skipped]]:
    """Every tagged model in the store (or only the one ``want`` names)."""
    manifests = models / "manifests"
    if not manifests.is_dir():
        raise ModelNotFound(f"no Ollama store at {models} (no manifests folder)")
    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    for path in _manifest_files(manifests):
        try:
            candidate = _candidate(models, manifests, path)
        except _Refused as exc:
            skipped.append(Skipped(str(path), f"skipped: {exc}"))
            continue
        if want is None or (
            candidate.ref.repo.casefold() == want.repo.casefold()
            and candidate.ref.revision == want.revision
        ):
            candidates.append(candidate)
    return candidates, skipped


def ollama_reference(text: str) -> ModelReference:
    """``llama3``, ``llama3:8b``, ``library/llama3:8b`` (as ``ollama run`` takes them), or
    ``ollama:library/llama3@8b``."""
    if text.startswith("ollama:"):
        return parse_reference(text)
    name, _, tag = text.partition(":")
    if "/" not in name:
        name = f"library/{name}"
    return parse_reference(f"ollama:{name}@{tag}" if tag else f"ollama:{name}")


class _Refused(Exception):
    pass


def _manifest_files(manifests: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(manifests):  # never follows a linked folder
        dirs.sort()
        found += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    return found


def _candidate(models: Path, manifests: Path, path: Path) -> Candidate:
    parts = path.relative_to(manifests).parts
    if len(parts) != 4:
        raise _Refused("not at manifests/<host>/<namespace>/<model>/<tag>")
    _host, namespace, model, tag = parts
    try:
        ref = parse_reference(f"ollama:{namespace}/{model}@{tag}")
    except InvalidReference as exc:
        raise _Refused(f"its name does not make a reference ({exc.message})") from exc
    layers = _layers(_read_manifest(path))
    files: list[SourceFile] = []
    gguf = projector = None
    for media, digest in layers:
        name = _file_name(media, model, tag, {f.path for f in files})
        if name is None:
            continue
        files.append(SourceFile(name, models / "blobs" / f"sha256-{digest}", sha256=digest))
        if media == _MODEL and gguf is None:
            gguf = name
        elif media == _PROJECTOR and projector is None:
            projector = name
    if gguf is None:
        raise _Refused("no GGUF model layer")
    from .._gguf_names import quant_of

    paths = tuple(f.path for f in files)
    selection = Selection(paths, "gguf", gguf, quant_of(gguf), projector=projector)
    return Candidate(ref, selection, tuple(files), None, str(path))


def _read_manifest(path: Path) -> Any:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise _Refused(f"cannot open it ({exc.strerror})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_MANIFEST:
            raise _Refused("not a manifest file")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(_MAX_MANIFEST + 1)
    finally:
        os.close(fd)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _Refused("its JSON does not parse") from exc


def _layers(manifest: Any) -> list[tuple[str, str]]:
    """(media type, sha256) of each layer, each checked in form."""
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list):
        raise _Refused("no layers list")
    found = []
    for layer in layers:
        if not isinstance(layer, dict):
            raise _Refused("a layer is not an object")
        media, digest = layer.get("mediaType"), layer.get("digest")
        if not isinstance(media, str) or not isinstance(digest, str):
            raise _Refused("a layer has no mediaType or digest")
        match = _DIGEST.match(digest)
        if match is None:
            raise _Refused(f"layer digest {digest[:80]!r} is not sha256:<64 hex>")
        found.append((media, match[1]))
    return found


def _file_name(media: str, model: str, tag: str, taken: set[str]) -> str | None:
    if media == _MODEL:
        base = f"{model}-{tag}.gguf"
    elif media == _PROJECTOR:
        base = f"mmproj-{model}-{tag}.gguf"
    elif media.startswith(_PREFIX) and media[len(_PREFIX) :] in _TEXT_LAYERS:
        base = _TEXT_LAYERS[media[len(_PREFIX) :]]
    else:
        return None
    name, n = base, 2
    while name in taken:
        stem, dot, ext = base.rpartition(".")
        name = f"{stem}-{n}.{ext}" if dot and stem else f"{base}-{n}"
        n += 1
    return name
