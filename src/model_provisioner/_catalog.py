"""Finding installed models: one lookup used by find, info, verify, delete and pull.

The original module looked models up and deleted them under two naming schemes; here every
operation goes through ``Catalog.find`` so they cannot disagree. A manifest that does not read
back is never skipped silently: a lookup it may answer fails naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ._errors import ModelNotFound
from ._gguf_names import preference, quant_of
from ._models import ModelInfo
from ._references import ModelReference, SelectorKind, parse_reference
from ._store import Store, Unreadable


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

    def damaged(self) -> list[Unreadable]:
        """Manifests that do not read back, for ``list``, ``verify --all`` and ``gc``."""
        return self.store.read_all()[1]

    def entries(self) -> list[Entry]:
        """Every entry with its manifest path (what gc, eviction and sync walk)."""
        return [
            Entry(path, info, parse_reference(info.reference))
            for path, info in self.store.all_manifests()
        ]

    def entries_of(self, ref: ModelReference) -> list[Entry]:
        return self._read(ref)[0]

    def _read(self, ref: ModelReference) -> tuple[list[Entry], list[Unreadable]]:
        good, bad = self.store.read_repo(ref.provider, ref.repo)
        return [Entry(path, info, parse_reference(info.reference)) for path, info in good], bad

    def find(self, ref: ModelReference) -> Entry | None:
        """The exact entry, else one that holds what the reference names.

        Raises DamagedManifest when the reference's own manifest does not read back, or when
        nothing else answers and a damaged manifest of the repo might have.
        """
        entries, damaged = self._read(ref)
        own = f"{quote(ref.selection_key, safe='')}.json"
        for bad in damaged:
            if bad.manifest.name == own:
                raise bad.error(hint=f"provisioner pull {ref.canonical} rewrites it")
        found = _pick([e for e in entries if e.ref.revision == ref.revision], ref)
        if found is None and damaged:
            raise damaged[0].error()
        return found

    def get(self, ref: ModelReference) -> Entry:
        entry = self.find(ref)
        if entry is None:
            raise ModelNotFound(
                f"{ref.canonical} is not installed", hint=f"provisioner pull {ref.canonical}"
            )
        return entry

    def used_files(self, provider: str, repo: str, besides: Path) -> set[tuple[str, str]]:
        """(commit, path) pairs that entries other than ``besides`` still link.

        While a manifest of the repo does not read back, every file of the repo counts as used:
        what it named cannot be known, so nothing of it is released.
        """
        good, damaged = self.store.read_repo(provider, repo)
        used = {(info.commit, f.path) for path, info in good if path != besides for f in info.files}
        for bad in damaged:
            used |= self.store.files_under(provider, bad.org, bad.name)
        return used


def _pick(entries: list[Entry], ref: ModelReference) -> Entry | None:
    for entry in entries:
        if entry.ref.matches(ref):
            return entry
    holding = [e for e in entries if _holds(e.info, ref)]
    if not holding:
        return None
    return min(holding, key=_rank)


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
