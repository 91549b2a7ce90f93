"""Finding GGUF repositories on the Hub: its search API, through huggingface_hub.

The answer comes from a server: every hit is checked (repo id by the reference rules, counts as
non-negative integers) and a malformed one is dropped, not shown.

huggingface_hub sends through one shared httpx2 client; ``_trusting_client`` builds it (with
``set_client_factory``, its documented way to set certificates) as its default is, but with
the trust ``_network`` decides, so a bundle in ``REQUESTS_CA_BUNDLE`` counts here as in a pull,
and a failure no retry can fix (a rejected certificate) is raised at once instead of being
retried for 23 s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._errors import InvalidReference, NetworkError, OfflineError, UsageError
from ._hub import HubSettings
from ._references import parse_reference

if TYPE_CHECKING:
    import httpx2

MAX_QUERY = 200


@dataclass(frozen=True)
class SearchHit:
    """One repository the Hub found; ``modified`` is an ISO date when the Hub gave one."""

    repo: str
    downloads: int
    likes: int
    modified: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def search_gguf(settings: HubSettings, text: str, limit: int = 20) -> list[SearchHit]:
    """GGUF model repos whose id contains ``text``, most downloaded first."""
    from huggingface_hub import HfApi, set_client_factory
    from huggingface_hub import errors as hf_errors

    from ._network import origin

    query = text.strip()
    if not query or len(query) > MAX_QUERY or any(ord(c) < 0x20 for c in query):
        raise UsageError(f"search text must be 1 to {MAX_QUERY} printable characters")
    if settings.offline:
        raise OfflineError("search needs the Hub and HF_HUB_OFFLINE is set")
    set_client_factory(_trusting_client)
    where = origin(settings.endpoint)
    api = HfApi(endpoint=settings.endpoint, token=settings.token or False)
    try:
        found = api.list_models(search=query, filter="gguf", sort="downloads", limit=limit)
        hits = [hit for model in found if (hit := _hit(model)) is not None]
    except hf_errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (404, 405, 501):
            raise NetworkError(f"{where} has no model search (HTTP {status})") from exc
        raise NetworkError(f"{where}'s search failed: HTTP {status}") from exc
    except ValueError as exc:
        raise NetworkError(f"{where} answered the search with something not JSON") from exc
    except (OSError, KeyError, TypeError) as exc:
        raise NetworkError(f"{where}'s search failed: {type(exc).__name__}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            raise NetworkError(f"cannot reach the Hub to search: {exc}") from exc
        raise
    return hits[:limit]


def _trusting_client() -> httpx2.Client:
    """huggingface_hub's client as its default factory makes it, trusting what we trust."""
    import httpx2
    from huggingface_hub.utils._http import hf_request_event_hook

    from ._network import lasting_failure, network, origin

    class TrustingClient(httpx2.Client):
        def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
            try:
                return super().send(request, **kwargs)
            except httpx2.TransportError as exc:
                problem = lasting_failure(exc, origin(str(request.url)))
                if problem is not None:
                    raise problem from exc
                raise

    return TrustingClient(
        event_hooks={"request": [hf_request_event_hook]},
        follow_redirects=True,
        timeout=None,
        verify=network().context,
    )


def _hit(model: Any) -> SearchHit | None:
    repo = getattr(model, "id", None)
    if not isinstance(repo, str) or "/" not in repo:
        return None
    try:
        repo = parse_reference(repo, {}).repo
    except InvalidReference:
        return None
    modified = getattr(model, "last_modified", None) or getattr(model, "created_at", None)
    return SearchHit(
        repo=repo,
        downloads=_count(getattr(model, "downloads", None)),
        likes=_count(getattr(model, "likes", None)),
        modified=modified.date().isoformat() if isinstance(modified, datetime) else None,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
