"""Defaults from ``<home>/config.toml``, overridden by environment variables, then by flags.

    budget = "200G"          # store size cap: pulls evict unpinned models, least recently used
    limit_rate = "50M"       # download bandwidth cap in bytes/s, shared by all pulls of a process
    max_connections = 8      # parallel connections per pull
    endpoint = "https://huggingface.co"   # the Hub or mirror
    export_hf_cache = "~/.cache/huggingface/hub"   # keep this hf cache view up to date on pull

Every key has an environment variable (``PROVISIONER_BUDGET``, ``PROVISIONER_LIMIT_RATE``,
``PROVISIONER_MAX_CONNECTIONS``, ``HF_ENDPOINT``, ``PROVISIONER_EXPORT_HF_CACHE``); a flag beats
both. The file is outside data:
an unknown key, a wrong type or an unreadable value is one ``UsageError`` naming the key.
Read only by commands that download or collect (``path`` and ``list`` never parse TOML).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._errors import UsageError
from ._fsutil import read_user_file
from ._store import config_file

MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class Config:
    """The effective defaults; None means "not set" (the built-in default applies)."""

    budget: int | None = None
    limit_rate: int | None = None
    max_connections: int | None = None
    endpoint: str | None = None
    export_hf_cache: str | None = None


def parse_size(value: object) -> int:
    """``200G``, ``50M``, ``1.5T``, ``500MB``, ``2GiB`` or a plain number of bytes (decimal
    units, as the Hub shows sizes)."""
    from ._listing import parse_size as parse_text

    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a size like 200G or 50M")
    number = parse_text(value) if isinstance(value, str) else float(value)
    if not math.isfinite(number) or number < 1 or number > 2**63:
        raise ValueError(f"{value!r} is out of range")
    return int(number)


def _rate(value: object) -> int:
    from ._ratelimit import MIN_RATE

    rate = parse_size(value)
    if rate < MIN_RATE:
        raise ValueError(f"{value!r} is below the smallest cap, {MIN_RATE // 1000}K")
    return rate


def _connections(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONNECTIONS:
        raise ValueError(f"expected a whole number from 1 to {MAX_CONNECTIONS}")
    return value


def _endpoint(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a URL like https://huggingface.co")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.isprintable():
        raise ValueError(f"{value!r} is not an http(s) URL")
    parts.port  # noqa: B018 (raises ValueError for a port out of range)
    return value.strip().rstrip("/")


def _folder(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise ValueError("expected a folder path")
    return str(Path(value.strip()).expanduser())


# key -> (parser, environment variable).
KEYS: dict[str, tuple[Callable[[object], Any], str]] = {
    "budget": (parse_size, "PROVISIONER_BUDGET"),
    "limit_rate": (_rate, "PROVISIONER_LIMIT_RATE"),
    "max_connections": (_connections, "PROVISIONER_MAX_CONNECTIONS"),
    "endpoint": (_endpoint, "HF_ENDPOINT"),
    "export_hf_cache": (_folder, "PROVISIONER_EXPORT_HF_CACHE"),
}


def parse_config(data: Mapping[str, Any], source: str) -> Config:
    """Validate a parsed TOML table; any problem is one line naming ``source`` and the key."""
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in KEYS:
            raise UsageError(f"{source}: unknown key {key!r} (known: {', '.join(KEYS)})")
        values[key] = parse_value(key, raw, f"{source}: {key}")
    return Config(**values)


def parse_value(key: str, raw: object, where: str) -> Any:
    """One value of ``key``; a bad one is a UsageError that starts with ``where``."""
    parser, _ = KEYS[key]
    try:
        return parser(raw)
    except (ValueError, UsageError) as exc:
        reason = exc.message if isinstance(exc, UsageError) else str(exc)
        raise UsageError(f"{where}: {reason}") from None


def read_config(home: Path) -> Config:
    """``<home>/config.toml``, or all defaults when there is none."""
    path = config_file(home)
    try:
        text = read_user_file(path).decode("utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path))


def with_environment(config: Config, env: Mapping[str, str] | None = None) -> Config:
    """Environment variables override the file (an empty variable counts as unset)."""
    env = os.environ if env is None else env
    changes = {
        key: parse_value(key, env[var], f"${var}")
        for key, (_, var) in KEYS.items()
        if env.get(var, "").strip()
    }
    return replace(config, **changes)


def load_config(home: Path, env: Mapping[str, str] | None = None) -> Config:
    """The file, then the environment; flags are applied by the caller."""
    return with_environment(read_config(home), env)
