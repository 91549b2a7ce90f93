"""Finding GGUF repositories on the Hub: its search API, through huggingface_hub.

The answer comes from a server: every hit is checked (repo id by the reference rules, counts as
non-negative integers) and a malformed one is dropped, not shown.

huggingface_hub sends through one shared httpx2 client; ``_trusting_client`` builds it (with
``set_client_factory``, its documented way to set certificates; only public names of
huggingface_hub are used) with the trust ``_network`` decides, so a bundle in
``REQUESTS_CA_BUNDLE`` counts here as in a pull, and a failure no retry can fix (a rejected
certificate) is raised at once instead of being retried for 23 s.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ._errors import InvalidReference, NetworkError, OfflineError, UsageError
from ._hub import HubSettings
from ._references import parse_reference

if TYPE_CHECKING:
    import httpx2

MAX_QUERY = 200
_ATTEMPTS = 3  # as the metadata client (_hubapi): 1 try and 2 retries


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
    set_client_factory(partial(_trusting_client, settings.timeout))
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


def _trusting_client(timeout: float) -> httpx2.Client:
    """huggingface_hub's client as its default factory makes it, but trusting what we trust,
    with a timeout (its default has none: a stalled server held a search forever) and with
    the metadata client's few quick retries. Every failure leaves as one of our errors, which
    huggingface_hub does not retry (alone it retries a refused connection or a 503 five times
    over 23 s, printing a warning each time)."""
    import httpx2

    from ._hubapi import RETRY_STATUS
    from ._network import lasting_failure, network, origin, through

    class TrustingClient(httpx2.Client):
        def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
            where = origin(str(request.url))
            # huggingface_hub passes timeout=None with each request, which would override ours
            request.extensions["timeout"] = httpx2.Timeout(timeout).as_dict()
            for attempt in range(1, _ATTEMPTS + 1):
                try:
                    response = super().send(request, **kwargs)
                except httpx2.TransportError as exc:
                    problem = lasting_failure(exc, where)
                    if problem is not None:
                        raise problem from exc
                    if attempt == _ATTEMPTS:
                        timed_out = isinstance(exc, httpx2.TimeoutException)
                        reason = "timed out" if timed_out else type(exc).__name__
                        reason += through(where, exc)
                        raise NetworkError(f"cannot reach {where}: {reason}") from exc
                else:
                    if response.status_code not in RETRY_STATUS:
                        return response
                    response.close()
                    if attempt == _ATTEMPTS:
                        status = response.status_code
                        raise NetworkError(f"{where}'s search failed: HTTP {status}")
                time.sleep(0.5 * attempt)
            raise AssertionError("unreachable")

    # Without hf's private request hook (``utils._http.hf_request_event_hook``): it blocks
    # requests under HF_HUB_OFFLINE (checked before the search), adds a random trace id and
    # logs; nothing a search needs, and no private name to break on an upgrade.
    return TrustingClient(
        follow_redirects=True,
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
