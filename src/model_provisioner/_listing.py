"""The catalog as people and scripts read it: listed models, short names, ages, ``--filter``
and ``--sort``.

Filter and sort expressions follow ``hf cache ls``: ``size>1GB``, ``modified>7d`` (older than a
week), ``format=gguf``, ``quant=Q4_K_M``, ``name=bartowski/*``; ``--sort size`` (biggest first),
``name`` (A to Z), ``modified`` (newest first), each with ``:asc`` or ``:desc``. Pure: the caller
passes the entries and the clock.
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._errors import DamagedManifest, UsageError
from ._gguf_names import quant_of
from ._manifest import ManifestProblem, model_info
from ._models import JSON_SCHEMA, ModelInfo
from ._references import DEFAULT_REVISION, SelectorKind, classify_selector

_FILTER = re.compile(r"^\s*(?P<key>[a-z_]+)\s*(?P<op>==|!=|>=|<=|=|>|<)\s*(?P<value>.+?)\s*$")
_NUMBER = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9}
_SIZE_UNITS |= {"gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}
_AGE_UNITS |= {"y": 365 * 86400}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
FILTER_KEYS = ("size", "modified", "format", "quant", "name")
SORT_KEYS = ("name", "size", "modified")
_DESCENDING_BY_DEFAULT = {"size", "modified"}


@dataclass(slots=True)
class ListedModel:
    """One installed model as ``list`` and the service show it.

    ``json`` is its model object (``ModelInfo.summary`` with ``"schema"``, sorted keys: what
    ``list --json`` prints, docs/json.md) already rendered (UTF-8), so ``catalog.cache`` can
    hand it out with no work per entry: with 10,000 entries, building ModelInfo objects and
    rendering them was most of ``list --json``. The other fields are what a list shows, filters
    and sorts by; ``name`` is a reference that finds this entry again. ``info`` is built on
    first use.
    """

    json: bytes
    name: str
    reference: str
    provider: str
    repo: str
    commit: str
    path: str
    total_size: int
    downloaded_at: str
    format: str
    quantization: str | None
    unverified: bool  # a file's hash was first seen here: no server published one
    endpoint: str | None
    imported_from: str | None
    _info: ModelInfo | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, info: ModelInfo) -> ListedModel:
        summary = {"schema": JSON_SCHEMA, **info.summary()}
        listed = cls(
            json.dumps(summary, sort_keys=True).encode(),
            short_name(info),
            info.reference,
            info.provider,
            info.repo,
            info.commit,
            summary["path"],
            summary["total_size"],
            info.downloaded_at,
            info.format,
            summary["quantization"],
            bool(summary["unverified_files"]),
            info.endpoint,
            info.imported_from,
        )
        listed._info = info
        return listed

    @property
    def info(self) -> ModelInfo:
        """The whole entry, built once from the model object: its fields checked for type, and
        it must agree with the listed fields (which the store checked for place) and point at
        its own folder or one of its files. ManifestProblem if not (a forged cache)."""
        if self._info is None:
            try:
                data = json.loads(self.json)
            except (ValueError, RecursionError) as exc:
                raise ManifestProblem("the cached model object is not JSON") from exc
            if not isinstance(data, dict):
                raise ManifestProblem("the cached model object is not an object")
            info = model_info(data, "path", Path, self.provider, self.endpoint, self.imported_from)
            folder = f"/{self.repo}/{self.commit}"
            listed = (info.reference, info.repo, info.commit, str(info.model_path))
            if listed != (self.reference, self.repo, self.commit, self.path) or not (
                self.path.endswith(folder)
                or self.path.partition(f"{folder}/")[2] in {f.path for f in info.files}
            ):
                raise ManifestProblem("the cached model object disagrees with its entry")
            self._info = info
        return self._info

    @property
    def modified(self) -> float | None:
        return timestamp(self.downloaded_at)


@dataclass(frozen=True)
class Listing:
    """The catalog at one moment: every entry as listed, and the manifests that do not read
    back (each as the error ``info`` or ``path`` of it would raise)."""

    models: list[ListedModel]
    damaged: list[DamagedManifest]


def short_name(info: ModelInfo) -> str:
    """``org/repo:Q4_K_M`` as ``ollama list`` shows ``model:tag``; a file or glob stays whole."""
    name = info.repo if info.revision == DEFAULT_REVISION else f"{info.repo}@{info.revision}"
    selector = info.selector
    glob = selector is not None and classify_selector(selector) is SelectorKind.GLOB
    tag = quant_of(info.gguf_files[0]) if info.gguf_files and not glob else None
    if tag is not None:
        return f"{name}:{tag}"
    return name if selector is None else f"{name}:{selector}"


def timestamp(text: str | None) -> float | None:
    """Seconds since the epoch of a manifest's ISO time; None when absent or malformed."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def ago(then: float | None, now: float) -> str:
    """``2 days ago``, as ``ollama list`` and ``hf cache ls`` say it."""
    if then is None:
        return "-"
    seconds = max(0.0, now - then)
    if seconds < 45:
        return "just now"
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400)):
        if seconds >= size:
            return _plural(int(seconds // size), unit)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return _plural(max(1, int(seconds // size)), unit)
    return _plural(1, "minute")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit} ago" if n == 1 else f"{n} {unit}s ago"


def parse_size(text: str) -> float:
    return _with_unit(text, _SIZE_UNITS, "a size like 500MB or 2GB")


def parse_age(text: str) -> float:
    return _with_unit(text, _AGE_UNITS, "an age like 30m, 12h, 7d or 2w")


def _with_unit(text: str, units: dict[str, int], what: str) -> float:
    match = _NUMBER.match(text.strip())
    unit = match["unit"].lower() if match else ""
    if match is None or unit not in units:
        raise UsageError(f"cannot read {text!r}: expected {what}")
    return float(match["n"]) * units[unit]


def compile_filter(expr: str, now: float) -> Callable[[ListedModel], bool]:
    """One ``--filter`` expression as a test on a row; a bad one is a usage error (exit 2)."""
    match = _FILTER.match(expr)
    if match is None:
        raise UsageError(f"cannot read filter {expr!r}: expected KEY OP VALUE, e.g. 'size>1GB'")
    key, op, value = match["key"], match["op"], match["value"]
    compare = _OPS[op]
    if key == "size":
        limit = parse_size(value)
        return lambda row: compare(row.total_size, limit)
    if key == "modified":
        age = parse_age(value)
        return lambda row: (then := row.modified) is not None and compare(now - then, age)
    if op not in ("=", "==", "!="):
        raise UsageError(f"filter {expr!r}: {key} takes only = or !=")
    negate = op == "!="
    if key == "format":
        return lambda row: (row.format.lower() == value.lower()) != negate
    if key == "quant":
        return lambda row: ((row.quantization or "").upper() == value.upper()) != negate
    if key == "name":
        pattern = value.casefold()
        return lambda row: fnmatch.fnmatchcase(row.name.casefold(), pattern) != negate
    raise UsageError(f"filter {expr!r}: unknown key {key!r} (known: {', '.join(FILTER_KEYS)})")


def compile_sort(expr: str) -> tuple[Callable[[ListedModel], Any], bool]:
    """``--sort KEY[:asc|:desc]``: a key function and whether to reverse."""
    key, _, order = expr.strip().lower().partition(":")
    if key not in SORT_KEYS or order not in ("", "asc", "desc"):
        raise UsageError(
            f"cannot sort by {expr!r}: use {', '.join(SORT_KEYS)}, optionally with :asc or :desc"
        )
    reverse = order == "desc" if order else key in _DESCENDING_BY_DEFAULT
    if key == "size":
        return (lambda row: row.total_size), reverse
    if key == "modified":
        return (lambda row: row.modified or 0.0), reverse
    return (lambda row: row.name.casefold()), reverse


def select_rows(
    models: Sequence[ListedModel],
    now: float,
    filters: Sequence[str] = (),
    sort: str | None = None,
    limit: int | None = None,
) -> list[ListedModel]:
    """Filter, then sort (by name when not asked), then keep the first ``limit``."""
    tests = [compile_filter(f, now) for f in filters]
    key, reverse = compile_sort(sort or "name")
    rows = [r for r in models if all(t(r) for t in tests)]
    rows.sort(key=key, reverse=reverse)
    return rows if limit is None else rows[:limit]
