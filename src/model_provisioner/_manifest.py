"""Reading a manifest back: every field checked for type and form before anything uses it.

A manifest is our own file, but the disk is outside data: a torn copy, a hand edit, a file from
another version or another machine. One that does not check out raises ManifestProblem (the
store reports it as a DamagedManifest) and never stops the others from being read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._errors import IntegrityError, InvalidReference
from ._models import (
    HASH_FIRST_SEEN,
    HASH_PUBLISHED,
    MANIFEST_SCHEMA,
    ModelFile,
    ModelInfo,
    ModelMetadata,
)
from ._names import is_git_sha1, is_repo_id, is_sha256, safe_relpath
from ._references import (
    DEFAULT_REVISION,
    PROVIDERS,
    ModelReference,
    SelectorKind,
    classify_selector,
    parse_reference,
)

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


class ManifestProblem(ValueError):
    """What is wrong with one manifest, in a few words."""


def parse_manifest(raw: bytes, locate: Callable[[str], Path]) -> ModelInfo:
    """The ModelInfo a manifest's bytes describe, or ManifestProblem; ``locate`` (the store's)
    turns the home-relative model path into a path."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ManifestProblem("not valid JSON") from exc
    if not isinstance(data, dict):
        raise ManifestProblem("not a JSON object")
    schema = data.get("schema", MANIFEST_SCHEMA)
    if type(schema) is not int or schema != MANIFEST_SCHEMA:
        raise ManifestProblem(f"unknown schema {schema!r}")
    provider = _opt_str(data, "provider") or "hf"
    if provider not in PROVIDERS:
        raise ManifestProblem(f"unknown provider {provider!r}")
    endpoint, imported_from = _opt_str(data, "endpoint"), _opt_str(data, "imported_from")
    # the store checks that model_path is its own folder or file
    info = model_info(data, "model_path", locate, provider, endpoint, imported_from)
    _check_forms(info)
    return info


def model_info(
    data: Mapping[str, Any],
    path_key: str,
    locate: Callable[[str], Path],
    provider: str,
    endpoint: str | None,
    imported_from: str | None,
) -> ModelInfo:
    """The ModelInfo of the fields a manifest and a model object (``ModelInfo.summary``) share,
    each checked for type: the one builder for both (``catalog.cache`` keeps model objects).
    ``data[path_key]`` is the model path, which ``locate`` turns into a path. The forms of names
    and hashes are ``parse_manifest``'s to check; ManifestProblem if a type is wrong."""
    return ModelInfo(
        repo=_str(data, "repo"),
        reference=_str(data, "reference"),
        revision=_str(data, "revision"),
        selector=_opt_str(data, "selector"),
        commit=_str(data, "commit"),
        files=_files(data.get("files")),
        model_path=locate(_str(data, path_key)),
        metadata=_metadata(data.get("metadata")),
        format=_str(data, "format"),
        downloaded_at=_str(data, "downloaded_at"),
        verified_at=_opt_str(data, "verified_at"),
        provider=provider,
        endpoint=endpoint,
        imported_from=imported_from,
    )


def _metadata(value: object) -> ModelMetadata:
    metadata = value or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise ManifestProblem("metadata is not an object")
    return ModelMetadata.from_dict(metadata)


def _check_forms(info: ModelInfo) -> None:
    if not is_repo_id(info.repo):
        raise ManifestProblem(f"repo {info.repo!r} is not a repository id")
    _check_reference(info.reference, info.provider, info.repo, info.revision, info.selector)
    if not is_git_sha1(info.commit):
        raise ManifestProblem(f"commit {info.commit!r} is not a 40-hex sha")
    for f in info.files:
        _check_file(f)
    paths = [f.path for f in info.files]
    if len(set(paths)) != len(paths):
        raise ManifestProblem("a file is listed twice")
    folders = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    clash = folders & set(paths)
    if clash:
        raise ManifestProblem(f"{sorted(clash)[0]!r} is both a file and a folder")


def _check_reference(
    reference: str, provider: str, repo: str, revision: str, selector: str | None
) -> None:
    if provider == "hf" and _plain(reference, repo, revision, selector):
        return
    try:
        ref = parse_reference(reference)
    except InvalidReference as exc:
        raise ManifestProblem(f"reference {reference!r} does not parse") from exc
    if ref.canonical != reference:
        raise ManifestProblem(f"reference {reference!r} is not canonical")
    if ref.provider != provider:
        raise ManifestProblem(f"reference {reference!r} is not of provider {provider!r}")
    if ref.repo.casefold() != repo.casefold():
        raise ManifestProblem(f"reference {reference!r} names another repo than {repo!r}")
    if (ref.revision, ref.selector) != (revision, selector):
        raise ManifestProblem(f"revision or selector disagree with reference {reference!r}")


def _plain(reference: str, repo: str, revision: str, selector: str | None) -> bool:
    """The common case, without the full parser (a fifth of a cold ``list`` of 10,000): at
    ``main``, a selector of plain characters in its canonical case, spelled canonically. The
    parser would give back exactly these fields (``repo`` is already checked)."""
    if revision != DEFAULT_REVISION:
        return False
    if selector is not None:
        if not _PLAIN.fullmatch(selector) or ".." in selector:
            return False
        if classify_selector(selector) is SelectorKind.QUANT and selector != selector.upper():
            return False
    return reference == ModelReference(repo, revision, selector).canonical


def _files(value: object) -> list[ModelFile]:
    if not isinstance(value, list) or not value:
        raise ManifestProblem("files is not a non-empty list")
    return [_file(item) for item in value]


def _file(item: object) -> ModelFile:
    """One file entry, its types checked (``_check_file`` checks the forms)."""
    if not isinstance(item, dict):
        raise ManifestProblem("a file entry is not an object")
    path = _str(item, "path")
    size = item.get("size")
    if type(size) is not int or size < 0:
        raise ManifestProblem(f"{path}: size {size!r} is not a byte count")
    sha256 = item.get("sha256")
    if type(sha256) is not str:
        raise ManifestProblem(f"{path}: sha256 {sha256!r} is not 64 hex digits")
    git_sha1 = item.get("git_sha1")
    if git_sha1 is not None and type(git_sha1) is not str:
        raise ManifestProblem(f"{path}: git_sha1 {git_sha1!r} is not 40 hex digits")
    lfs = item.get("lfs", False)
    if type(lfs) is not bool:
        raise ManifestProblem(f"{path}: lfs {lfs!r} is not true or false")
    hash_source = item.get("hash_source", HASH_PUBLISHED)
    if type(hash_source) is not str:
        raise ManifestProblem(f"{path}: hash_source {hash_source!r} is unknown")
    return ModelFile(path, size, sha256, git_sha1, lfs, hash_source)


def _check_file(f: ModelFile) -> None:
    try:
        safe_relpath(f.path)
    except IntegrityError as exc:
        raise ManifestProblem(exc.message) from exc
    if not is_sha256(f.sha256):
        raise ManifestProblem(f"{f.path}: sha256 {f.sha256!r} is not 64 hex digits")
    if f.git_sha1 is not None and not is_git_sha1(f.git_sha1):
        raise ManifestProblem(f"{f.path}: git_sha1 {f.git_sha1!r} is not 40 hex digits")
    if f.hash_source not in (HASH_PUBLISHED, HASH_FIRST_SEEN):
        raise ManifestProblem(f"{f.path}: hash_source {f.hash_source!r} is unknown")


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ManifestProblem(f"{key} is missing or not a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ManifestProblem(f"{key} is not a string")
    return value
