"""Short model names (``tinyllama``) from a user-editable TOML file in the home folder.

The file is seeded with the original script's table the first time it is needed; after that it
is the user's, and an unknown name is an error, never a default model.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ._errors import UsageError
from ._fsutil import atomic_write

ALIAS_FILE = "aliases.toml"

SEED: dict[str, str] = {
    "tinyllama": "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
    "qwen": "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf",
    "qwen-fp16": "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-fp16.gguf",
    "phi3": "hf:microsoft/Phi-3-mini-4k-instruct-gguf:Phi-3-mini-4k-instruct-q4.gguf",
    "llama3": "hf:QuantFactory/Meta-Llama-3-8B-Instruct-GGUF:Meta-Llama-3-8B-Instruct.Q4_K_M.gguf",
    "llama32": "hf:tensorblock/Komodo-Llama-3.2-3B-v2-fp16-GGUF:Komodo-Llama-3.2-3B-v2-fp16.gguf",
    "llama2": "hf:TheBloke/Llama-2-7B-GGUF:llama-2-7b.Q8_0.gguf",
    "mistral": "hf:TheBloke/Mistral-7B-Instruct-v0.2-GGUF:mistral-7b-instruct-v0.2.f16.gguf",
    "gpt2": "hf:openai-community/gpt2",
    "granite": "hf:ibm-granite/granite-4.0-micro",
}

_HEADER = """\
# model-provisioner aliases: short name = "reference".
# Edit freely; a name that is not here is an error, never a default model.

"""


def load_aliases(home: Path) -> dict[str, str]:
    path = home / ALIAS_FILE
    if not path.exists():
        return dict(SEED)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read alias file {path}: {exc}") from exc
    return {str(k).lower(): str(v) for k, v in data.items() if isinstance(v, str)}


def seed_aliases(home: Path) -> Path:
    """Write the alias file once, so that the user has something to edit."""
    path = home / ALIAS_FILE
    if not path.exists():
        lines = [f'{name} = "{ref}"' for name, ref in SEED.items()]
        atomic_write(path, (_HEADER + "\n".join(lines) + "\n").encode())
    return path
