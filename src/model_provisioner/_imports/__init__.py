"""``provisioner import``: adopt models already on this machine without downloading them.

Each source layout (huggingface_hub cache, llama.cpp cache, Ollama store, plain folder) only
turns what it finds into candidates; ``_adopt`` checks every file and enters it in the store.
"""

from __future__ import annotations

from pathlib import Path

from .._errors import ModelNotFound
from .._progress import ProgressCallback
from .._references import ModelReference
from .._store import Store
from ._adopt import Adopter, Candidate, ImportReport, Skipped
from ._locations import hf_hub_cache, llama_cpp_hf_cache, llama_cpp_legacy_cache, ollama_models

__all__ = [
    "ImportReport",
    "Skipped",
    "hf_hub_cache",
    "import_folder",
    "import_hf_cache",
    "import_llama_cpp",
    "import_ollama",
]


def import_hf_cache(
    store: Store,
    cache: Path | None,
    want: ModelReference | None,
    progress: ProgressCallback | None,
) -> ImportReport:
    from ._hf_cache import hf_cache_candidates

    candidates, skipped = hf_cache_candidates(cache or hf_hub_cache(), want)
    return _adopt(store, "import:hf-cache", candidates, skipped, progress)


def import_llama_cpp(
    store: Store, cache: Path | None, progress: ProgressCallback | None
) -> ImportReport:
    """Both of llama.cpp's layouts: the hf-style cache it writes today and its older flat one."""
    from ._hf_cache import hf_cache_candidates
    from ._llama_cpp import legacy_candidates

    hf_dir, flat_dir = (cache, cache) if cache else (llama_cpp_hf_cache(), llama_cpp_legacy_cache())
    if not hf_dir.is_dir() and not flat_dir.is_dir():
        where = hf_dir if hf_dir == flat_dir else f"{hf_dir} or {flat_dir}"
        raise ModelNotFound(f"no llama.cpp cache at {where}")
    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    if any(hf_dir.glob("models--*")):
        candidates, skipped = hf_cache_candidates(hf_dir, None)
    flat, flat_skipped = legacy_candidates(flat_dir)
    return _adopt(store, "import:llama.cpp", candidates + flat, skipped + flat_skipped, progress)


def import_ollama(
    store: Store,
    models: Path | None,
    want: ModelReference | None,
    progress: ProgressCallback | None,
) -> ImportReport:
    from ._ollama import ollama_candidates

    candidates, skipped = ollama_candidates(models or ollama_models(), want)
    return _adopt(store, "import:ollama", candidates, skipped, progress)


def import_folder(
    store: Store, folder: Path, ref: ModelReference, progress: ProgressCallback | None
) -> ImportReport:
    from ._folder import folder_candidates

    candidates, skipped = folder_candidates(folder, ref)
    return _adopt(store, "import:folder", candidates, skipped, progress)


def _adopt(
    store: Store,
    label: str,
    candidates: list[Candidate],
    skipped: list[Skipped],
    progress: ProgressCallback | None,
) -> ImportReport:
    return Adopter(store, label, progress).run(candidates, skipped)
