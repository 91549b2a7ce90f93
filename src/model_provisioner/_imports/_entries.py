"""Which catalog entries a folder of files makes, by the same rules a pull selects by.

A huggingface_hub snapshot or a plain folder holds whatever its owner fetched: one GGUF, three
quantizations, a whole transformers repo. Each GGUF model (a file, or all parts of a split one)
becomes an entry selected by its file path, so ``path org/repo:Q4_K_M`` and a later pull of it
find it; a folder without GGUF files becomes one entry of what a bare ``org/repo`` would pull.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ModelNotFound
from .._gguf_names import model_ggufs, split_part
from .._references import ModelReference
from .._selection import Selection, complete_split, select_files


@dataclass(frozen=True)
class PlannedEntry:
    ref: ModelReference
    selection: Selection


def plan_entries(
    paths: Sequence[str], base: ModelReference
) -> tuple[list[PlannedEntry], list[str]]:
    """Entries for ``paths`` (files of one commit), and why some files make none."""
    units: dict[str, list[str]] = {}
    for gguf in model_ggufs(paths):
        parts = complete_split(paths, gguf)
        units.setdefault(parts[0], parts)
    problems = [
        f"{first}: only {len(parts)} of its split parts are here"
        for first, parts in units.items()
        if not _whole(parts)
    ]
    entries = []
    for first, parts in sorted(units.items()):
        if _whole(parts):
            ref = ModelReference(base.repo, base.revision, first, base.provider)
            entries.append(PlannedEntry(ref, select_files(paths, ref)))
    if not units:
        try:
            entries.append(PlannedEntry(base, select_files(paths, base)))
        except ModelNotFound as exc:
            problems.append(exc.message)
    return entries, problems


def _whole(parts: list[str]) -> bool:
    match = split_part(parts[0])
    return match is None or len(parts) == int(match["count"])
