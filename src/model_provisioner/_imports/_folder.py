"""A plain folder of model files (GGUF, or safetensors with config and tokenizer) as
candidates for ``local:ORG/NAME``, the name the user gives. Nothing publishes a hash here: each
file is hashed as it enters, and the entry's commit is a content id of those hashes."""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import IntegrityError, ModelNotFound, UsageError
from .._references import ModelReference
from .._store import safe_relpath
from ._adopt import Candidate, Skipped, SourceFile
from ._entries import plan_entries


def folder_candidates(folder: Path, ref: ModelReference) -> tuple[list[Candidate], list[Skipped]]:
    if not folder.is_dir():
        raise ModelNotFound(f"no folder at {folder}")
    if ref.selector is not None:
        raise UsageError("--as takes ORG/NAME only: the folder's files decide the entries")
    files: dict[str, SourceFile] = {}
    skipped: list[Skipped] = []
    for root, dirs, names in os.walk(folder):  # never follows a linked folder
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(root) / name
            try:
                rel = safe_relpath(path.relative_to(folder).as_posix())
            except IntegrityError:
                skipped.append(Skipped(str(path), "skipped: not a usable file name"))
                continue
            files[rel] = SourceFile(rel, path)
    planned, problems = plan_entries(sorted(files), ref)
    skipped += [Skipped(str(folder), f"skipped: {p}") for p in problems]
    candidates = [
        Candidate(
            e.ref,
            e.selection,
            tuple(files[p] for p in e.selection.paths),
            None,
            str(folder.absolute()),
        )
        for e in planned
    ]
    return candidates, skipped
