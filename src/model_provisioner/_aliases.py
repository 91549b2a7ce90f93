"""Short model names (``tinyllama``) from a user-editable TOML file in the home folder.

The file is written with the seed table the first time a name is looked up (or an alias is
listed, added or removed); after that it is the user's, and an unknown name is an error, never
a default model. It is read only when a reference has no ``/``: ``path org/repo`` never pays for
TOML.

``alias NAME REF`` and ``alias --rm NAME`` edit the file with tomlkit, which keeps every
comment, blank line and spacing the user wrote: only the entry's own line changes. A file that
does not read (broken TOML, not UTF-8, not a regular file) is one UsageError and is never
written; an edit is written only once it reads back as exactly the table intended.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ._errors import InvalidReference, ProvisionerError, UsageError
from ._fsutil import atomic_write, read_user_file
from ._store import alias_file, alias_lock

# The original script's names, pointed at official or widely used Q4_K_M GGUF repos (the
# publisher's own where there is one), not fp16 community fine-tunes. ``qwen-fp16`` asks for
# full precision by name; gpt2 and granite are plain safetensors repos, as in the original.
SEED: dict[str, str] = {
    "tinyllama": "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M",
    "qwen": "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
    "qwen-fp16": "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:FP16",
    "qwen7b": "hf:Qwen/Qwen2.5-7B-Instruct-GGUF:Q4_K_M",
    "phi3": "hf:microsoft/Phi-3-mini-4k-instruct-gguf:Phi-3-mini-4k-instruct-q4.gguf",
    "llama3": "hf:bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M",
    "llama32": "hf:bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
    "llama2": "hf:TheBloke/Llama-2-7B-Chat-GGUF:Q4_K_M",
    "mistral": "hf:TheBloke/Mistral-7B-Instruct-v0.2-GGUF:Q4_K_M",
    "gpt2": "hf:openai-community/gpt2",
    "granite": "hf:ibm-granite/granite-4.0-micro",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
_HEADER = """\
# model-provisioner aliases: short name = "reference".
# Edit freely, or use `provisioner alias NAME REFERENCE` and `provisioner alias --rm NAME`.
# A name that is not here is an error, never a default model.

"""


class AliasFile(Mapping[str, str]):
    """``<home>/aliases.toml`` as a mapping, read (and seeded) on first use only."""

    def __init__(self, home: Path) -> None:
        self.path = alias_file(home)
        self._names: dict[str, str] | None = None

    def __getitem__(self, name: str) -> str:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def _load(self) -> dict[str, str]:
        if self._names is None:
            self._names = load_aliases(self.path.parent)
        return self._names


def load_aliases(home: Path) -> dict[str, str]:
    """The user's table; the seed (written to disk if the home allows it) on first use."""
    path = alias_file(home)
    if not path.exists():
        try:
            _write(path, SEED)
        except (OSError, ProvisionerError):
            return dict(SEED)  # a read-only home still resolves the seeded names
    return _table(_parse(path, _read(path)))


def _read(path: Path) -> str:
    try:
        return read_user_file(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"cannot read alias file {path}: {reason}") from exc


def _parse(path: Path, text: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"cannot read alias file {path}: {exc}") from exc


def _table(data: Mapping[str, Any]) -> dict[str, str]:
    """The aliases in a parsed file: top-level strings, names without case."""
    return {str(k).lower(): v for k, v in data.items() if isinstance(v, str)}


def set_alias(home: Path, name: str, reference: str) -> dict[str, str]:
    """Add or replace one name; the reference must parse (a target is never an alias)."""
    from ._references import parse_reference

    name = name.lower()
    if not _NAME.fullmatch(name):
        raise InvalidReference(f"{name!r} cannot be an alias: lower-case letters, digits, '-._'")
    try:
        target = parse_reference(reference, {})
    except InvalidReference:
        if "/" in reference or ":" in reference:
            raise
        raise InvalidReference(
            f"{reference!r} is not ORG/NAME[@REV][:QUANT|FILE]: an alias names a repository, "
            "never another alias"
        ) from None
    return _edit(home, name, target.canonical)


def remove_alias(home: Path, name: str) -> dict[str, str]:
    return _edit(home, name.lower(), None)


def _edit(home: Path, name: str, reference: str | None) -> dict[str, str]:
    """Set ``name`` to ``reference`` (None: remove it), touching only its own line.

    Under the home's alias lock: the edit reads, changes and renames the whole file, so two at
    once without it would each write their own edit over the other's."""
    try:
        lock = alias_lock(home)
        lock.acquire()
    except OSError as exc:
        raise UsageError(f"cannot lock the alias file in {home}: {exc.strerror or exc}") from exc
    try:
        return _edit_locked(home, name, reference)
    finally:
        lock.release()


def _edit_locked(home: Path, name: str, reference: str | None) -> dict[str, str]:
    import tomlkit

    load_aliases(home)  # seeds a missing file
    path = alias_file(home)
    text = _read(path)
    table = _table(_parse(path, text))
    if reference is None and name not in table:
        from ._references import unknown_alias

        raise unknown_alias(name, table)
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:
        raise UsageError(f"cannot edit alias file {path}: {exc}") from exc
    spellings = [k for k in doc if k.lower() == name]
    if any(not isinstance(doc[k], str) for k in spellings):
        raise UsageError(f'alias file {path}: {name!r} is not a name = "reference" line')
    for stale in spellings[1 if reference is not None else 0 :]:
        del doc[stale]  # the same name in another case: one entry is left, or none
    if reference is not None:
        doc[spellings[0] if spellings else name] = reference
        table[name] = reference
    else:
        del table[name]
    edited = tomlkit.dumps(doc)
    if _table(_parse(path, edited)) != table:
        raise UsageError(f"cannot edit alias file {path} without changing other entries")
    atomic_write(Path(os.path.realpath(path)), edited.encode())  # through a dotfiles symlink
    return table


def _write(path: Path, table: Mapping[str, str]) -> None:
    lines = [f"{name} = {_toml_string(ref)}" for name, ref in sorted(table.items())]
    atomic_write(path, (_HEADER + "\n".join(lines) + "\n").encode())


def _toml_string(text: str) -> str:
    """A basic TOML string; references never hold quotes or backslashes, but be exact."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
