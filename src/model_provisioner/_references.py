"""Model references: parsing, validation and one canonical spelling.

Grammar: ``[hf:]ORG/NAME[@REVISION][:SELECTOR]``, ``hf.co/ORG/NAME[:SELECTOR]``,
``https://huggingface.co/ORG/NAME[/resolve|blob/REV/FILE | /tree/REV]``, or a short alias.
Everything here acts on strings only; the alias file is read by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from ._errors import InvalidReference
from ._gguf_names import is_quant_tag

MAX_REFERENCE_LENGTH = 512
DEFAULT_REVISION = "main"
PROVIDERS = ("hf", "ollama", "local")
# Entries of these providers come from ``provisioner import`` only: nothing to pull them from.
LOCAL_PROVIDERS = ("ollama", "local")
# An Ollama model without a tag means ``latest``, as in ``ollama pull``.
_DEFAULT_REVISIONS = {"ollama": "latest"}

_REPO_PART = re.compile(r"^[A-Za-z0-9_.\-]{1,96}$")
_REVISION = re.compile(r"^[A-Za-z0-9_.\-/]{1,255}$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_FORBIDDEN_IN_SELECTOR = set(";|&$`<>\\\"'!{}()~#%\n\r\t")
_HUB_HOSTS = ("huggingface.co", "hf.co", "www.huggingface.co")


class SelectorKind(StrEnum):
    QUANT = "quant"
    FILE = "file"
    GLOB = "glob"


@dataclass(frozen=True)
class ModelReference:
    """A validated reference; ``canonical`` parses back to an equal reference."""

    repo: str
    revision: str = DEFAULT_REVISION
    selector: str | None = None
    provider: str = "hf"

    @property
    def org(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    @property
    def selector_kind(self) -> SelectorKind | None:
        return None if self.selector is None else classify_selector(self.selector)

    @property
    def pinned(self) -> bool:
        """A 40-hex commit never moves, so an installed entry is final."""
        return bool(_COMMIT.fullmatch(self.revision))

    @property
    def canonical(self) -> str:
        text = f"{self.provider}:{self.repo}"
        if self.revision != DEFAULT_REVISION:
            text += f"@{self.revision}"
        if self.selector is not None:
            text += f":{self.selector}"
        return text

    @property
    def selection_key(self) -> str:
        """What tells two catalog entries of one repo apart."""
        key = self.selector if self.selector is not None else "default"
        return key if self.revision == DEFAULT_REVISION else f"{key}@{self.revision}"

    def matches(self, other: ModelReference) -> bool:
        """Same entry: repo ids compare without case, as on the Hub."""
        return (
            self.provider == other.provider
            and self.repo.casefold() == other.repo.casefold()
            and self.revision == other.revision
            and self.selector == other.selector
        )

    def with_repo(self, repo: str) -> ModelReference:
        return ModelReference(repo, self.revision, self.selector, self.provider)

    def __str__(self) -> str:
        return self.canonical


def classify_selector(selector: str) -> SelectorKind:
    if is_quant_tag(selector):
        return SelectorKind.QUANT
    if any(c in selector for c in "*?["):
        return SelectorKind.GLOB
    return SelectorKind.FILE


def parse_reference(text: str, aliases: Mapping[str, str] | None = None) -> ModelReference:
    """Parse ``text``; raise InvalidReference with a one-line reason otherwise."""
    if not isinstance(text, str):
        raise InvalidReference("model reference must be a string")
    _check_characters(text)
    text = text.strip()
    if not text:
        raise InvalidReference("model reference is empty")
    if text.lower().startswith(("http://", "https://")):
        return _parse_url(text)
    lowered = text.lower()
    for host in _HUB_HOSTS:
        if lowered.startswith(host + "/"):
            return _parse_body(text[len(host) + 1 :], text)
    provider, sep, body = text.partition(":")
    if sep and "/" not in provider and provider.lower() in PROVIDERS:
        return _parse_body(body, text, provider.lower())
    if sep and "/" not in provider and provider.lower() not in PROVIDERS and "/" in body:
        raise InvalidReference(
            f"unknown provider {provider!r} in {_show(text)}: use 'hf:' ('ollama:' and 'local:'"
            " name imported models)"
        )
    if "/" not in text.partition(":")[0].partition("@")[0]:
        return _resolve_alias(text, {} if aliases is None else aliases)
    return _parse_body(text, text)


def _check_characters(text: str) -> None:
    if len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidReference(
            f"model reference is {len(text)} characters long (at most {MAX_REFERENCE_LENGTH})"
        )
    for ch in text:
        if ch == "\x00" or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise InvalidReference(f"model reference contains control character {ch!r}")


def _resolve_alias(text: str, aliases: Mapping[str, str]) -> ModelReference:
    name, _, selector = text.partition(":")
    name = name.lower()
    if not _ALIAS.fullmatch(name):
        raise InvalidReference(f"{_show(text)} is neither ORG/NAME nor a known alias")
    if name not in aliases:
        raise unknown_alias(name, aliases)
    target = parse_reference(aliases[name], aliases={})
    if selector:
        return ModelReference(target.repo, target.revision, _check_selector(selector, text))
    return target


def unknown_alias(name: str, aliases: Mapping[str, str]) -> InvalidReference:
    """The error for a name that is not in the table, with the closest one as the hint."""
    import difflib

    close = difflib.get_close_matches(name, list(aliases), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "`provisioner alias` lists them"
    known = ", ".join(sorted(aliases)) or "none"
    return InvalidReference(f"unknown model alias {name!r} (known aliases: {known})", hint=hint)


def _parse_body(body: str, original: str, provider: str = "hf") -> ModelReference:
    match = re.match(r"^(?P<repo>[^@:]+)(?:@(?P<rev>[^:]*))?(?::(?P<sel>.*))?$", body)
    if not match:
        raise InvalidReference(f"cannot parse {_show(original)}: expected ORG/NAME[@REV][:FILE]")
    repo = _check_repo(match["repo"], original)
    default = _DEFAULT_REVISIONS.get(provider, DEFAULT_REVISION)
    revision = default if match["rev"] is None else _check_revision(match["rev"], original)
    selector = None if match["sel"] is None else _check_selector(match["sel"], original)
    return ModelReference(repo, revision, selector, provider)


def _parse_url(text: str) -> ModelReference:
    parts = urlsplit(text)
    if (parts.hostname or "").lower() not in _HUB_HOSTS:
        raise InvalidReference(f"{_show(text)} is not a huggingface.co URL")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise InvalidReference(f"{_show(text)} names no repository")
    repo = _check_repo("/".join(segments[:2]), text)
    rest = segments[2:]
    if not rest:
        return ModelReference(repo)
    if rest[0] in ("resolve", "blob") and len(rest) >= 3:
        path = "/".join(rest[2:])
        return ModelReference(repo, _check_revision(rest[1], text), _check_selector(path, text))
    if rest[0] == "tree" and len(rest) >= 2:
        return ModelReference(repo, _check_revision("/".join(rest[1:]), text))
    raise InvalidReference(f"cannot parse {_show(text)}: expected /resolve/REV/FILE")


def is_repo_id(text: str) -> bool:
    """``ORG/NAME`` under the Hub's rules, nothing more: what a repo id read from a server or a
    manifest must be before it names a folder."""
    try:
        return _check_repo(text, text) == text
    except InvalidReference:
        return False


def _check_repo(repo: str, original: str) -> str:
    parts = repo.split("/")
    if len(parts) != 2:
        raise InvalidReference(f"{_show(original)}: repository must be ORG/NAME")
    for part in parts:
        if not _REPO_PART.fullmatch(part):
            raise InvalidReference(
                f"{_show(original)}: {part!r} is not a valid repository name part "
                "(letters, digits, '-', '_', '.'; at most 96)"
            )
        if ".." in part or "--" in part or part[0] in "-." or part[-1] in "-.":
            raise InvalidReference(f"{_show(original)}: {part!r} is not a valid repository name")
    return repo


def _check_revision(revision: str, original: str) -> str:
    if not _REVISION.fullmatch(revision):
        raise InvalidReference(f"{_show(original)}: {revision!r} is not a valid revision")
    if ".." in revision or revision.startswith(("/", "-", ".")) or revision.endswith("/"):
        raise InvalidReference(f"{_show(original)}: {revision!r} is not a valid revision")
    if "//" in revision:
        raise InvalidReference(f"{_show(original)}: {revision!r} is not a valid revision")
    return revision


def _check_selector(selector: str, original: str) -> str:
    if not selector:
        raise InvalidReference(f"{_show(original)}: empty file or quantization after ':'")
    # A URL's path is percent-decoded before it gets here: %00 must not become a NUL.
    bad = sorted(set(selector) & _FORBIDDEN_IN_SELECTOR) + [
        ch for ch in selector if ord(ch) < 0x20 or ord(ch) == 0x7F
    ]
    if bad:
        raise InvalidReference(f"{_show(original)}: character {bad[0]!r} is not allowed in a file")
    if selector.startswith("/") or selector.endswith("/"):
        raise InvalidReference(f"{_show(original)}: {selector!r} must be a relative file path")
    segments = selector.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise InvalidReference(f"{_show(original)}: {selector!r} must stay inside the repository")
    if any(ch.isspace() and ch != " " for ch in selector) or selector != selector.strip():
        raise InvalidReference(f"{_show(original)}: {selector!r} has stray whitespace")
    if is_quant_tag(selector):
        return selector.upper()
    return selector


def _show(text: str) -> str:
    short = text if len(text) <= 80 else text[:77] + "..."
    return repr(short)
