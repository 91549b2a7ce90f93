"""What a server says about a repo: its commit and its files, each fact checked where it enters.

The best source the server offers wins: the revision's model info (``?blobs=true``), else the
tree listing (mirrors without a model-info route), and for a file still missing a size or a
hash, a HEAD on its resolve URL. Facts from several sources must agree. The JSON is read raw
(not through huggingface_hub's dataclasses) so that every field is validated by ``_hub_facts``
before anything uses it; huggingface_hub still finds the token.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from ._errors import IntegrityError, ModelNotFound, OfflineError
from ._hub_facts import (
    FileFacts,
    check_layout,
    commit_sha,
    etag_hash,
    merge,
    path_of,
    same_repo,
    sha1_of,
    sha256_of,
    size_of,
)
from ._hubapi import HttpConfig, HubHttp, Response, refusal, route_missing
from ._references import ModelReference

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = ("1", "true", "yes", "on")
MAX_FILES = 100_000  # a listing longer than this is hostile, not a model
_HEADS_AT_ONCE = 8  # HEADs in flight when a mirror's listing lacks sizes or hashes


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: its size always known; no hash only when the user allowed it."""

    path: str
    size: int
    sha256: str | None
    git_sha1: str | None
    origin: str = ""  # repo@commit, so unverified files of two repos never share a partial

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None

    @property
    def unverified(self) -> bool:
        return self.sha256 is None and self.git_sha1 is None

    @property
    def unverified_key(self) -> str | None:
        """What names the partial of a file without a hash: its repo, commit and path."""
        return f"{self.origin}/{self.path}" if self.unverified else None


@dataclass(frozen=True)
class RepoSnapshot:
    """One commit of a repo as the server lists it; ``repo`` is the server's spelling."""

    repo: str
    commit: str
    files: tuple[FileFacts, ...]
    source: str = "model info"

    def facts(self, path: str) -> FileFacts:
        for f in self.files:
            if f.path == path:
                return f
        raise ModelNotFound(f"{self.repo}@{self.commit[:12]} has no file {path!r}")


@dataclass(frozen=True)
class HubSettings:
    """Where to ask and with which token; read from the environment at call time."""

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = None
    offline: bool = False
    timeout: float = 10.0  # per metadata request; PROVISIONER_HUB_TIMEOUT

    @classmethod
    def from_env(cls, endpoint: str | None = None, token: str | None = None) -> HubSettings:
        from ._config import parse_value

        chosen = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
        return cls(
            endpoint=parse_value("endpoint", chosen, "endpoint"),  # one line, never a traceback
            token=token or os.environ.get("HF_TOKEN") or _stored_token(),
            offline=os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE,
            timeout=_seconds(os.environ.get("PROVISIONER_HUB_TIMEOUT"), 10.0),
        )

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc.lower()

    def file_url(self, repo: str, commit: str, path: str) -> str:
        return f"{self.endpoint}/{repo}/resolve/{commit}/{quote(path)}"

    def auth_headers(self, url: str) -> dict[str, str]:
        """The token goes to the endpoint's own host only, never to a CDN it redirects to."""
        if self.token and urlsplit(url).netloc.lower() == self.host:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


class HubClient:
    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings

    def snapshot(self, ref: ModelReference) -> RepoSnapshot:
        """The commit a revision points to now, and every file in it."""
        if self.settings.offline:
            raise OfflineError(  # installed or not: info --remote and --dry-run come here too
                f"{ref.canonical}: the Hub cannot be asked while HF_HUB_OFFLINE is set",
                hint="unset HF_HUB_OFFLINE",
            )
        http = self._http()
        try:
            rev = quote(ref.revision, safe="")
            url = f"{self.settings.endpoint}/api/models/{ref.repo}/revision/{rev}"
            answer = http.get(url, {"blobs": "true"})[-1]
            if answer.is_success:
                snapshot = self._from_info(ref, http.json(answer))
            elif route_missing(answer) or _ambiguous(answer):
                snapshot = self._from_tree(ref, http)
            else:
                raise self._refusal(answer, ref.repo, f"revision {ref.revision!r}")
        finally:
            http.close()
        if ref.pinned and snapshot.commit != ref.revision:
            raise IntegrityError(
                f"{self.settings.host}: asked for commit {ref.revision}, answered {snapshot.commit}"
            )
        return snapshot

    def files(
        self, snapshot: RepoSnapshot, paths: Sequence[str], *, allow_unverified: bool = False
    ) -> tuple[RemoteFile, ...]:
        """The selected files with a size each and, unless allowed otherwise, a published hash.

        A fact the listing lacks is asked of the next source: the tree listing, then a HEAD
        (several at once: over a WAN each is a round trip or two).
        """
        chosen = {p: snapshot.facts(p) for p in paths}
        if not any(map(_incomplete, chosen.values())):
            return tuple(self._final(snapshot, f, allow_unverified) for f in chosen.values())
        http = self._http()
        try:
            if snapshot.source != "tree listing" and any(map(_incomplete, chosen.values())):
                tree = {f.path: f for f in self._tree(http, snapshot.repo, snapshot.commit)}
                origin = self._origin("tree listing")
                chosen = {
                    p: merge(p, [("listing", f), (origin, tree.get(p, FileFacts(p)))])
                    for p, f in chosen.items()
                }
            missing = [p for p, f in chosen.items() if _incomplete(f)]
            if missing:
                with ThreadPoolExecutor(min(len(missing), _HEADS_AT_ONCE)) as pool:
                    heads = pool.map(lambda p: self._head(http, snapshot, p), missing)
                    for path, said in zip(missing, heads, strict=True):
                        chosen[path] = merge(path, [("listing", chosen[path]), *said])
        finally:
            http.close()
        return tuple(self._final(snapshot, f, allow_unverified) for f in chosen.values())

    # -- sources ---------------------------------------------------------------------------------

    def _from_info(self, ref: ModelReference, data: object) -> RepoSnapshot:
        origin = self._origin("model info")
        if not isinstance(data, dict):
            raise IntegrityError(f"{origin} is not a JSON object")
        repo = same_repo(ref.repo, data.get("id"), origin)
        same_repo(ref.repo, data.get("modelId"), origin)
        commit = commit_sha(data.get("sha"), origin)
        siblings = data.get("siblings") or []
        if not isinstance(siblings, list) or len(siblings) > MAX_FILES:
            raise IntegrityError(f"{origin} gave a malformed file list")
        files = tuple(_sibling(s, origin) for s in siblings)
        check_layout((f.path for f in files), origin)
        return RepoSnapshot(repo, commit, files, "model info")

    def _from_tree(self, ref: ModelReference, http: HubHttp) -> RepoSnapshot:
        """A mirror with no model-info route: the tree names the files, a HEAD the commit."""
        files = self._tree(http, ref.repo, ref.revision)
        if not files:
            raise ModelNotFound(f"{ref.repo}@{ref.revision} lists no files on {self.settings.host}")
        if ref.pinned:
            return RepoSnapshot(ref.repo, ref.revision, files, "tree listing")
        url = self.settings.file_url(ref.repo, ref.revision, files[0].path)
        first = http.get(url, method="HEAD")
        if not first[-1].is_success:
            raise self._refusal(first[-1], ref.repo, f"file {files[0].path!r}")
        origin = self._origin("HEAD")
        commit = commit_sha(first[0].headers.get("X-Repo-Commit"), origin)
        if commit != ref.revision:
            files = self._tree(http, ref.repo, commit)
        return RepoSnapshot(ref.repo, commit, files, "tree listing")

    def _tree(self, http: HubHttp, repo: str, rev: str) -> tuple[FileFacts, ...]:
        origin = self._origin("tree listing")
        url = f"{self.settings.endpoint}/api/models/{repo}/tree/{quote(rev, safe='')}"
        files: list[FileFacts] = []
        for page in http.pages(url, {"recursive": "true", "expand": "false"}):
            if not page.is_success:
                raise self._refusal(page, repo, f"revision {rev!r}")
            _same_route(page, repo, origin)
            items = http.json(page)
            if not isinstance(items, list) or len(files) + len(items) > MAX_FILES:
                raise IntegrityError(f"{origin} is not a list of files")
            files += [f for f in map(lambda item: _tree_item(item, origin), items) if f]
        check_layout((f.path for f in files), origin)
        return tuple(files)

    def _head(
        self, http: HubHttp, snapshot: RepoSnapshot, path: str
    ) -> list[tuple[str, FileFacts]]:
        """Facts from the resolve URL's headers: X-Linked-*, a hash-shaped ETag, Content-Length."""
        chain = http.get(
            self.settings.file_url(snapshot.repo, snapshot.commit, path), method="HEAD"
        )
        final = chain[-1]
        if not final.is_success:
            raise self._refusal(final, snapshot.repo, f"file {path!r}")
        origin = self._origin("HEAD")
        said = chain[0].headers.get("X-Repo-Commit")
        if said is not None and commit_sha(said, origin) != snapshot.commit:
            raise IntegrityError(
                f"{origin} of {path!r} names commit {said[:12]}, the listing {snapshot.commit[:12]}"
            )
        found: list[tuple[str, FileFacts]] = []
        for answer in chain:
            linked = answer.headers.get("X-Linked-Etag")
            sha256, sha1 = etag_hash(linked or answer.headers.get("ETag"))
            size = _header_size(answer.headers.get("X-Linked-Size"), origin, path)
            found.append((f"{origin} headers", FileFacts(path, size, sha256, sha1)))
        if not final.is_redirect:
            length = _header_size(final.headers.get("Content-Length"), origin, path)
            found.append((f"{origin} Content-Length", FileFacts(path, length)))
        return found

    # -- helpers ---------------------------------------------------------------------------------

    def _final(self, snapshot: RepoSnapshot, f: FileFacts, allow_unverified: bool) -> RemoteFile:
        where = f"{snapshot.repo}@{snapshot.commit[:12]}"
        if f.size is None:
            raise IntegrityError(f"{where}: the server published no size for {f.path!r}")
        if f.sha256 is None and f.git_sha1 is None and not allow_unverified:
            raise IntegrityError(
                f"{where}: no published hash covers {f.path!r} (no LFS sha256, blob id or "
                "hash-shaped ETag), so its bytes cannot be verified",
                hint="pass --allow-unverified to accept it, hash first seen here",
            )
        return RemoteFile(f.path, f.size, f.sha256, f.git_sha1, f"{where}:{snapshot.commit}")

    def _http(self) -> HubHttp:
        s = self.settings
        return HubHttp(HttpConfig(s.host, s.token, timeout=s.timeout))

    def _origin(self, what: str) -> str:
        return f"{self.settings.host} {what}"

    def _refusal(self, answer: Response, repo: str, what: str) -> Exception:
        return refusal(answer, repo, what, token=bool(self.settings.token))


def _sibling(item: object, origin: str) -> FileFacts:
    if not isinstance(item, dict):
        raise IntegrityError(f"{origin} listed a file that is not an object")
    path = path_of(item.get("rfilename"), origin)
    return _listed(item, origin, path, blob_key="blobId", lfs_sha256_key="sha256")


def _tree_item(item: object, origin: str) -> FileFacts | None:
    """A file of the tree listing; None for a folder."""
    if not isinstance(item, dict):
        raise IntegrityError(f"{origin} listed an entry that is not an object")
    kind = item.get("type")
    path = path_of(item.get("path"), origin)
    if kind == "directory":
        return None
    if kind != "file":
        raise IntegrityError(f"{origin} listed {path!r} with an unknown type")
    return _listed(item, origin, path, blob_key="oid", lfs_sha256_key="oid")


def _listed(
    item: dict[str, object], origin: str, path: str, *, blob_key: str, lfs_sha256_key: str
) -> FileFacts:
    """A listed file's size and git blob id, merged with its lfs block's size and sha256 (the
    model-info siblings and the tree name the same facts with different keys)."""
    size = size_of(item.get("size"), origin, path)
    blob = sha1_of(item.get(blob_key), origin, path)
    lfs = item.get("lfs")
    if lfs is None:
        return FileFacts(path, size, None, blob)
    if not isinstance(lfs, dict):
        raise IntegrityError(f"{origin} gave a malformed lfs block for {path!r}")
    lfs_size = size_of(lfs.get("size"), origin, path)
    lfs_facts = FileFacts(path, lfs_size, sha256_of(lfs.get(lfs_sha256_key), origin, path))
    return merge(path, [(origin, FileFacts(path, size)), (f"{origin} lfs", lfs_facts)])


def _same_route(answer: Response, repo: str, origin: str) -> None:
    """A listing redirected to another repo's route describes that repo: refuse it."""
    prefix = f"/api/models/{repo}/".casefold()
    path = unquote(urlsplit(answer.url).path)
    if not path.casefold().startswith(prefix):
        raise IntegrityError(
            f"{origin} for {repo} was answered from {path!r}",
            hint="a server may only describe the repository that was asked for",
        )


def _header_size(value: str | None, origin: str, path: str) -> int | None:
    if value is None:
        return None
    text = value.strip()
    return size_of(int(text) if text.isdigit() and len(text) < 20 else text, origin, path)


def _incomplete(f: FileFacts) -> bool:
    return f.size is None or (f.sha256 is None and f.git_sha1 is None)


def _ambiguous(answer: Response) -> bool:
    """401/403 without a Hub error code: a mirror's answer for any miss, a route included."""
    return answer.status_code in (401, 403) and "X-Error-Code" not in answer.headers


# Where huggingface_hub may find a token besides HF_TOKEN: any of these set sends us to it.
_TOKEN_SOURCES = (
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_OIDC_RESOURCE",
    "HUGGINGFACE_CO_STAGING",
)


def _stored_token() -> str | None:
    """huggingface_hub's token (file, OIDC, Colab), asked only when it could have one: its
    lookup imports httpx2 and yaml, a fifth of a pull's start-up budget (issue 9)."""
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface",
    )
    token_file = os.path.join(os.path.expandvars(os.path.expanduser(home)), "token")
    notebook = hasattr(builtins, "get_ipython")  # Colab's secrets
    if any(map(os.environ.get, _TOKEN_SOURCES)) or notebook or os.path.exists(token_file):
        import huggingface_hub

        return huggingface_hub.get_token()
    return None


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(float(value), 0.1) if value else default
    except ValueError:
        return default
