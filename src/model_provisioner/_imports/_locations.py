"""Where each tool keeps its models, read from the environment at call time (as each tool does)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _first(names: tuple[tuple[str, str], ...]) -> Path | None:
    for var, tail in names:
        value = os.environ.get(var)
        if value:
            return Path(value) / tail if tail else Path(value)
    return None


def hf_hub_cache() -> Path:
    """huggingface_hub's cache: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG, ~/.cache."""
    found = _first(
        (
            ("HF_HUB_CACHE", ""),
            ("HUGGINGFACE_HUB_CACHE", ""),
            ("HF_HOME", "hub"),
            ("XDG_CACHE_HOME", "huggingface/hub"),
        )
    )
    return found or Path.home() / ".cache" / "huggingface" / "hub"


def llama_cpp_hf_cache() -> Path:
    """Where current llama.cpp (common/hf-cache.cpp) writes ``-hf`` downloads: the same layout
    as huggingface_hub's cache, at LLAMA_CACHE first, then huggingface_hub's own places."""
    return _first((("LLAMA_CACHE", ""),)) or hf_hub_cache()


def llama_cpp_legacy_cache() -> Path:
    """Where llama.cpp wrote ``<org>_<repo>_<file>.gguf`` files before it took the hf layout
    (fs_get_cache_directory), and still writes ``-dr`` Docker models."""
    found = _first((("LLAMA_CACHE", ""),))
    if found:
        return found
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "llama.cpp"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "llama.cpp"
    return _first((("XDG_CACHE_HOME", "llama.cpp"),)) or Path.home() / ".cache" / "llama.cpp"


def ollama_models() -> Path:
    """OLLAMA_MODELS, else ``~/.ollama/models``."""
    return _first((("OLLAMA_MODELS", ""),)) or Path.home() / ".ollama" / "models"
