"""Finding installed models: one lookup used by find, info, verify, delete and pull.

The original module looked models up and deleted them under two naming schemes; here every
operation goes through ``Catalog.find`` so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._errors import ModelNotFound
from ._gguf_names import preference, quant_of
from ._models import ModelInfo
from ._references import ModelReference, SelectorKind, parse_reference
from ._store import Store


@dataclass(frozen=True)
class Entry:
    manifest: Path
    info: ModelInfo
    ref: ModelReference


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def all(self) -> list[ModelInfo]:
        return [info for _, info in self.store.all_manifests()]

    def entries_of(self, ref: ModelReference) -> list[Entry]:
        return [
            Entry(path, info, parse_reference(info.reference))
            for path, info in self.store.manifests_of(ref.provider, ref.repo)
        ]

    def find(self, ref: ModelReference) -> Entry | None:
        """The exact entry, else one that holds what the reference names."""
        entries = [e for e in self.entries_of(ref) if e.ref.revision == ref.revision]
        for entry in entries:
            if entry.ref.matches(ref):
                return entry
        holding = [e for e in entries if _holds(e.info, ref)]
        if not holding:
            return None
        return min(holding, key=_rank)

    def get(self, ref: ModelReference) -> Entry:
        entry = self.find(ref)
        if entry is None:
            raise ModelNotFound(
                f"{ref.canonical} is not installed", hint=f"provisioner pull {ref.canonical}"
            )
        return entry

    def used_files(self, provider: str, repo: str, besides: Path) -> set[tuple[str, str]]:
        """(commit, path) pairs that entries other than ``besides`` still link."""
        return {
            (info.commit, f.path)
            for path, info in self.store.manifests_of(provider, repo)
            if path != besides
            for f in info.files
        }


def _holds(info: ModelInfo, ref: ModelReference) -> bool:
    kind = ref.selector_kind
    if kind is None:
        return True
    if kind is SelectorKind.QUANT:
        ggufs = info.gguf_files
        return bool(ggufs) and all(quant_of(p) == ref.selector for p in ggufs)
    if kind is SelectorKind.FILE:
        return any(f.path == ref.selector for f in info.files)
    return False


def _rank(entry: Entry) -> tuple[int, str]:
    """The ladder that picks a bare ``org/repo``'s file on the Hub picks among installed entries."""
    ggufs = entry.info.gguf_files
    return (preference(quant_of(ggufs[0]) if ggufs else None), entry.manifest.name)
