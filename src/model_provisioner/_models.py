"""The catalog's data: one installed model (ModelInfo) and its files.

A ModelInfo is exactly what a manifest holds, so the JSON round trip here is the manifest format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_type_hints

from ._gguf_names import is_gguf, is_projector, quant_of

MANIFEST_SCHEMA = 1
JSON_SCHEMA = 1  # of every JSON object the CLI prints (docs/json.md), the model object too
HASH_PUBLISHED = "published"
HASH_FIRST_SEEN = "first seen here"  # no server hash covered it; the user allowed it


@dataclass(frozen=True)
class ModelFile:
    """One file of a model; ``sha256`` names its blob, ``git_sha1`` is the Hub id of small ones."""

    path: str
    size: int
    sha256: str
    git_sha1: str | None = None
    lfs: bool = False
    hash_source: str = HASH_PUBLISHED  # or HASH_FIRST_SEEN: computed here, checked against nothing

    @property
    def unverified(self) -> bool:
        return self.hash_source == HASH_FIRST_SEEN


Format = Literal["gguf", "safetensors", "other"]
METADATA_SCHEMA = 1


@dataclass(slots=True)
class ModelMetadata:
    """What a person asks of a model before loading it, read from its headers once at pull
    time and stored in the manifest, so list and info never open a model file."""

    format: Format = "other"
    architecture: str | None = None
    name: str | None = None
    model_type: str | None = None
    parameter_count: int | None = None
    quantization: str | None = None
    dtype: str | None = None
    context_length: int | None = None
    embedding_length: int | None = None
    block_count: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    vocab_size: int | None = None
    has_chat_template: bool = False
    chat_template: str | None = None  # only when asked for: it can be tens of KB
    tensor_count: int | None = None
    split_count: int | None = None
    error: str | None = None  # the headers did not parse (the bytes matched their hashes)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON for the manifest: every field, always, plus a schema number."""
        # Every field is a str, int, bool or None: a flat copy equals asdict (its deep copy
        # was half of ``list --json`` at 10,000 entries, benchmarks/catalog.py).
        return {"schema": METADATA_SCHEMA, **{f: getattr(self, f) for f in _METADATA_KINDS}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMetadata:
        """Tolerant inverse of ``to_dict`` (a manifest is outside data): unknown keys ignored,
        ill-typed values dropped. Manifests written before a field existed read as its default.
        One pass over the keys present: the catalog reads thousands of these."""
        meta = cls()
        for key, value in data.items():
            kind = _METADATA_KINDS.get(key)
            if kind is None:
                continue
            if kind is int:
                ok = type(value) is int
            elif kind is bool:
                ok = type(value) is bool
            elif key == "format":
                ok = value in ("gguf", "safetensors", "other")
            else:
                ok = type(value) is str
            if ok:
                setattr(meta, key, value)
        return meta


def _field_kind(hint: Any) -> type:
    """``int | None`` -> int, ``str | None`` -> str, ``bool`` -> bool (the format: str)."""
    for kind in (bool, int):
        if hint is kind or kind in getattr(hint, "__args__", ()):
            return kind
    return str


_METADATA_HINTS = get_type_hints(ModelMetadata)  # once: each call costs 0.15 ms of every start
_METADATA_KINDS: dict[str, type] = {
    f.name: _field_kind(_METADATA_HINTS[f.name]) for f in fields(ModelMetadata)
}


@dataclass
class ModelInfo:
    """A catalog entry: what was asked for, what was got, and what it is."""

    reference: str
    repo: str
    revision: str
    selector: str | None
    commit: str
    format: str
    model_path: Path
    files: list[ModelFile]
    downloaded_at: str
    verified_at: str | None = None
    metadata: ModelMetadata = field(default_factory=ModelMetadata)
    provider: str = "hf"
    endpoint: str | None = None
    imported_from: str | None = None

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def unverified_files(self) -> list[str]:
        """Files no published hash covered: their sha256 was first seen here."""
        return [f.path for f in self.files if f.unverified]

    @property
    def gguf_files(self) -> list[str]:
        """The model's own GGUF files (all parts if split); a vision projector is not one."""
        return [f.path for f in self.files if is_gguf(f.path) and not is_projector(f.path)]

    @property
    def projector(self) -> str | None:
        """The vision projector (``mmproj-*.gguf``) pulled with the model, if any."""
        return next((f.path for f in self.files if is_projector(f.path)), None)

    @property
    def projector_path(self) -> Path | None:
        """Where the projector lives: beside the model, in the entry's commit folder."""
        if self.projector is None:
            return None
        folder = next((p for p in self.model_path.parents if p.name == self.commit), None)
        return folder / self.projector if folder is not None else None

    @property
    def quantization(self) -> str | None:
        """From the parsed header, else from the file name as llama.cpp's tools spell it."""
        if self.metadata.quantization is not None:
            return self.metadata.quantization
        return quant_of(self.gguf_files[0]) if self.gguf_files else None

    def to_json(self, home: Path) -> dict[str, Any]:
        """The manifest form: paths relative to the store, so a store can be moved."""
        data = asdict(self)
        data["schema"] = MANIFEST_SCHEMA
        data["metadata"] = self.metadata.to_dict()
        data["model_path"] = self.model_path.relative_to(home).as_posix()
        return data

    def summary(self) -> dict[str, Any]:
        """The stable JSON shown by ``list --json`` and the HTTP service."""
        return {
            "reference": self.reference,
            "repo": self.repo,
            "revision": self.revision,
            "selector": self.selector,
            "commit": self.commit,
            "format": self.format,
            "path": str(self.model_path),
            "total_size": self.total_size,
            "file_count": self.file_count,
            "gguf_files": self.gguf_files,
            "projector": str(self.projector_path) if self.projector_path else None,
            "unverified_files": self.unverified_files,
            "quantization": self.quantization,
            "downloaded_at": self.downloaded_at,
            "verified_at": self.verified_at,
            "metadata": self.metadata.to_dict(),
            "files": [dict(vars(f)) for f in self.files],  # flat fields: no deep copy
        }


@dataclass(frozen=True)
class FileCheck:
    path: str
    ok: bool
    problem: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found, file by file."""

    reference: str
    checks: list[FileCheck]
    bytes_checked: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[str]:
        return [f"{c.path}: {c.problem}" for c in self.checks if not c.ok]


@dataclass(frozen=True)
class RepairReport:
    """What ``verify --repair`` found, which entries it fetched again, and the verify after."""

    reference: str
    problems: list[str]
    repaired: list[str]
    report: VerifyReport
