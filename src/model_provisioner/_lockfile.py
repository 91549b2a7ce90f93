"""Lockfiles: the exact installed set, written by ``lock`` and read back by ``sync``.

A lockfile is JSON with sorted keys, one file per line, so a diff shows which file of which
model changed:

    {
      "models": [
        {
          "commit": "<40 hex>",
          "files": [
            {"lfs": true, "path": "model.Q4_K_M.gguf", "sha256": "<64 hex>", "size": 668788096}
          ],
          "reference": "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M",
          "repo": "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"
        }
      ],
      "schema": 1
    }

The hashes in it are the trust anchor of ``sync``: the bytes a server sends must match them.
Reading one is reading outside data: every field is checked in form (references, repo ids,
commits, hashes, paths that stay inside the model folder, sizes), unknown keys are refused,
and any problem is one UsageError naming the model and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._errors import ProvisionerError, UsageError
from ._models import ModelFile, ModelInfo
from ._names import is_git_sha1, is_sha256, safe_relpath
from ._references import ModelReference, parse_reference

LOCK_SCHEMA = 1
MAX_LOCKFILE = 64 << 20  # bytes: a lockfile of 100,000 files is ~20 MB
_MODEL_KEYS = {"reference", "repo", "commit", "files"}
_FILE_KEYS = {"path", "size", "sha256", "git_sha1", "lfs"}
_MAX_SIZE = 1 << 53  # larger than any disk; also where JSON numbers stop being exact


@dataclass(frozen=True)
class LockedModel:
    """One catalog entry as locked: what was asked, the commit, every file with its hash."""

    reference: str
    repo: str
    commit: str
    files: tuple[ModelFile, ...]

    @property
    def ref(self) -> ModelReference:
        return parse_reference(self.reference)

    @classmethod
    def of(cls, info: ModelInfo) -> LockedModel:
        files = tuple(
            ModelFile(f.path, f.size, f.sha256, f.git_sha1, f.lfs)
            for f in sorted(info.files, key=lambda f: f.path)
        )
        return cls(info.reference, info.repo, info.commit, files)


@dataclass(frozen=True)
class Lockfile:
    models: tuple[LockedModel, ...]

    @classmethod
    def of(cls, infos: Iterable[ModelInfo]) -> Lockfile:
        return cls(tuple(sorted((LockedModel.of(i) for i in infos), key=lambda m: m.reference)))


def dump_lockfile(lock: Lockfile) -> str:
    """Sorted keys, two-space indent, one file per line, newline at the end."""
    out = ['{\n  "models": [']
    for i, model in enumerate(lock.models):
        files = ",\n".join(
            "        " + json.dumps(_file_json(f), sort_keys=True) for f in model.files
        )
        out.append(
            ("," if i else "")
            + "\n    {\n"
            + f'      "commit": {json.dumps(model.commit)},\n'
            + f'      "files": [\n{files}\n      ],\n'
            + f'      "reference": {json.dumps(model.reference)},\n'
            + f'      "repo": {json.dumps(model.repo)}\n'
            + "    }"
        )
    out.append(("\n  " if lock.models else "") + f'],\n  "schema": {LOCK_SCHEMA}\n}}\n')
    return "".join(out)


def _file_json(f: ModelFile) -> dict[str, Any]:
    data: dict[str, Any] = {"path": f.path, "size": f.size, "sha256": f.sha256, "lfs": f.lfs}
    if f.git_sha1 is not None:
        data["git_sha1"] = f.git_sha1
    return data


def parse_lockfile(text: str | bytes, source: str = "lockfile") -> Lockfile:
    """A validated lockfile, or one UsageError that says where it is wrong."""
    if len(text) > MAX_LOCKFILE:
        raise UsageError(f"{source}: larger than {MAX_LOCKFILE >> 20} MiB; not a lockfile")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{source}: not valid JSON: {_one_line(exc)}") from None
    if not isinstance(data, dict) or set(data) != {"schema", "models"}:
        raise UsageError(f"{source}: expected an object with exactly 'schema' and 'models'")
    if type(data["schema"]) is not int or data["schema"] != LOCK_SCHEMA:
        raise UsageError(
            f"{source}: schema {data['schema']!r} is not supported (this version reads "
            f"{LOCK_SCHEMA})"
        )
    if not isinstance(data["models"], list):
        raise UsageError(f"{source}: 'models' must be a list")
    models = tuple(_model(m, f"{source}: models[{i}]") for i, m in enumerate(data["models"]))
    seen: set[tuple[str, str, str]] = set()
    for model in models:
        ref = model.ref
        key = (ref.provider, ref.repo.casefold(), ref.selection_key)
        if key in seen:
            raise UsageError(f"{source}: {model.reference} is listed twice")
        seen.add(key)
    return Lockfile(models)


def _model(data: object, where: str) -> LockedModel:
    if not isinstance(data, dict) or set(data) != _MODEL_KEYS:
        raise UsageError(f"{where}: expected exactly {', '.join(sorted(_MODEL_KEYS))}")
    reference, repo, commit, files = (data[k] for k in ("reference", "repo", "commit", "files"))
    try:
        ref = parse_reference(_text(reference, f"{where}.reference"))
        if "/" not in ref.repo:
            raise UsageError(f"{where}.reference: not an org/name reference")
        repo_ref = parse_reference(_text(repo, f"{where}.repo"))
    except ProvisionerError as exc:
        raise UsageError(f"{where}: {exc.message}") from None
    if repo_ref.repo != repo or repo.casefold() != ref.repo.casefold():
        raise UsageError(f"{where}.repo: {repo!r} is not the repository of {ref.canonical}")
    if not is_git_sha1(commit):
        raise UsageError(f"{where}.commit: expected 40 lowercase hex digits")
    if not isinstance(files, list) or not files:
        raise UsageError(f"{where}.files: expected a non-empty list")
    parsed = tuple(_file(f, f"{where}.files[{i}]") for i, f in enumerate(files))
    if len({f.path for f in parsed}) != len(parsed):
        raise UsageError(f"{where}.files: a path is listed twice")
    return LockedModel(ref.canonical, repo, commit, parsed)


def _file(data: object, where: str) -> ModelFile:
    if not isinstance(data, dict) or not {"path", "size", "sha256"} <= set(data) <= _FILE_KEYS:
        raise UsageError(f"{where}: expected path, size, sha256 (and git_sha1, lfs)")
    path = _text(data["path"], f"{where}.path")
    try:
        safe_relpath(path)  # the rule a server's listing meets; here the user's file is wrong
    except ProvisionerError as exc:
        raise UsageError(f"{where}.path: {exc.message}") from None
    size = data["size"]
    if type(size) is not int or not 0 <= size < _MAX_SIZE:
        raise UsageError(f"{where}.size: expected a whole number of bytes")
    sha256 = data["sha256"]
    if not is_sha256(sha256):
        raise UsageError(f"{where}.sha256: expected 64 lowercase hex digits")
    git_sha1 = data.get("git_sha1")
    if git_sha1 is not None and not is_git_sha1(git_sha1):
        raise UsageError(f"{where}.git_sha1: expected 40 lowercase hex digits")
    lfs = data.get("lfs", git_sha1 is None)
    if not isinstance(lfs, bool):
        raise UsageError(f"{where}.lfs: expected true or false")
    return ModelFile(path, size, sha256, git_sha1, lfs)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise UsageError(f"{where}: expected a non-empty string")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
