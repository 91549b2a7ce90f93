"""What the Hub says about a repo: its commit and its files, through huggingface_hub's HfApi.

huggingface_hub owns endpoints, tokens and the metadata protocol; we only map its errors to
ours here, in one place, and refuse a listing that names files outside the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import huggingface_hub
from huggingface_hub import HfApi
from huggingface_hub import errors as hf_errors

from ._errors import AuthError, ModelNotFound, NetworkError, OfflineError
from ._references import ModelReference
from ._store import safe_relpath

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None
    git_sha1: str | None

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class RepoSnapshot:
    """One commit of a repo as the Hub lists it; ``repo`` is the Hub's spelling."""

    repo: str
    commit: str
    files: tuple[RemoteFile, ...]

    def file(self, path: str) -> RemoteFile:
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

    @classmethod
    def from_env(cls, endpoint: str | None = None, token: str | None = None) -> HubSettings:
        chosen = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
        return cls(
            endpoint=chosen.rstrip("/"),
            token=token or os.environ.get("HF_TOKEN") or huggingface_hub.get_token(),
            offline=os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE,
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
        self._api = HfApi(endpoint=settings.endpoint, token=settings.token or False)

    def snapshot(self, ref: ModelReference) -> RepoSnapshot:
        """The commit a revision points to now, and every file in it."""
        if self.settings.offline:
            raise OfflineError(
                f"{ref.canonical} is not installed and HF_HUB_OFFLINE is set",
                hint="unset HF_HUB_OFFLINE to download it",
            )
        with hub_errors(ref):
            try:
                info = self._api.model_info(ref.repo, revision=ref.revision, files_metadata=True)
            except (ValueError, KeyError, TypeError) as exc:
                raise NetworkError(
                    f"{self.settings.endpoint} sent a malformed answer for {ref.repo}: {exc}"
                ) from exc
        files = tuple(
            RemoteFile(
                path=safe_relpath(s.rfilename),
                size=int(s.size or (s.lfs.size if s.lfs else 0)),
                sha256=s.lfs.sha256 if s.lfs else None,
                git_sha1=None if s.lfs else s.blob_id,
            )
            for s in info.siblings or []
        )
        if not info.sha:
            raise NetworkError(f"{self.settings.endpoint} gave no commit for {ref.canonical}")
        return RepoSnapshot(repo=info.id or ref.repo, commit=info.sha, files=files)


@contextmanager
def hub_errors(ref: ModelReference) -> Iterator[None]:
    """huggingface_hub's exceptions, said as ours (the most specific first)."""
    try:
        yield
    except hf_errors.GatedRepoError as exc:
        raise AuthError(
            f"{ref.repo} is gated: accept its terms on the Hub and set HF_TOKEN",
            hint="provisioner never sends the token anywhere but the endpoint",
        ) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        status = exc.response.status_code if exc.response is not None else 404
        if status in (401, 403):
            raise AuthError(
                f"{ref.repo} is private or needs a token: set HF_TOKEN",
            ) from exc
        raise ModelNotFound(f"repository {ref.repo} not found on the Hub") from exc
    except hf_errors.RevisionNotFoundError as exc:
        raise ModelNotFound(f"revision {ref.revision!r} not found in {ref.repo}") from exc
    except hf_errors.EntryNotFoundError as exc:
        raise ModelNotFound(f"file not found in {ref.repo}@{ref.revision}") from exc
    except hf_errors.OfflineModeIsEnabled as exc:
        raise OfflineError(f"{ref.canonical}: offline mode is enabled") from exc
    except hf_errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise AuthError(f"{ref.repo}: the Hub refused the token ({status})") from exc
        raise NetworkError(f"the Hub failed for {ref.repo}: HTTP {status}") from exc
    except OSError as exc:
        raise NetworkError(f"cannot reach the Hub for {ref.repo}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            raise NetworkError(f"cannot reach the Hub for {ref.repo}: {exc}") from exc
        raise
