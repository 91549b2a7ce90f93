"""The Hub's metadata routes over HTTP: JSON answers, the paginated tree, HEAD on resolve.

Every call is bounded: a timeout per read and three for a whole answer, a few retries (5xx,
429 with its Retry-After, resets, stalls), at most ``MAX_REDIRECTS`` redirects, ``MAX_PAGES``
pages and ``MAX_JSON`` bytes of JSON, so neither a stalled nor a hostile server can hold a pull
forever. The token goes to the endpoint's own host only (a redirect or a ``Link: next``
elsewhere gets none).
An HTTP status becomes one of our errors in ``refusal``, and nowhere else.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from ._errors import AuthError, ModelNotFound, NetworkError, ProvisionerError
from ._network import lasting_failure, origin, routed_transport, through

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
MAX_PAGES = 10_000
MAX_JSON = 64 << 20
_RETRY_AFTER_CAP = 30.0
_WHOLE_ANSWER = 3  # a whole answer may take this many request timeouts


@dataclass(frozen=True)
class HttpConfig:
    """How patient to be with the metadata routes."""

    host: str
    token: str | None
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5

    def auth(self, url: str) -> dict[str, str]:
        if self.token and httpx.URL(url).netloc.decode().lower() == self.host:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


class HubHttp:
    """One connection pool for the metadata calls of a pull."""

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self._client = httpx.Client(
            timeout=config.timeout, follow_redirects=False, transport=routed_transport()
        )

    def close(self) -> None:
        self._client.close()

    def get(
        self, url: str, params: dict[str, str] | None = None, method: str = "GET"
    ) -> list[httpx.Response]:
        """The answer and the redirects that led to it (first one first), after retries."""
        failures = 0
        while True:
            try:
                chain = self._follow(method, url, params)
            except httpx.HTTPError as exc:
                problem = lasting_failure(exc, origin(url))
                if problem is not None:
                    raise problem from exc
                failures += 1
                if failures > self.config.retries:
                    reason = f"{_describe(exc)}{through(url, exc)}"
                    raise NetworkError(f"cannot reach {origin(url)}: {reason}") from exc
                time.sleep(self._delay(failures, None))
                continue
            final = chain[-1]
            if final.status_code not in RETRY_STATUS or failures >= self.config.retries:
                return chain
            failures += 1
            time.sleep(self._delay(failures, final.headers.get("Retry-After")))

    def json(self, response: httpx.Response) -> Any:
        """A parsed JSON body; anything else is the server failing us (exit 1, like a 5xx)."""
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise NetworkError(
                f"{origin(str(response.url))} sent an answer that is not JSON"
            ) from exc

    def pages(self, url: str, params: dict[str, str]) -> Iterator[httpx.Response]:
        """Every page of a listing that paginates with ``Link: <...>; rel="next"``."""
        next_url: str | None = url
        query: dict[str, str] | None = params
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            response = self.get(next_url, query)[-1]
            yield response
            link = response.links.get("next", {}).get("url") if response.is_success else None
            next_url, query = (urljoin(str(response.url), link) if link else None), None
        raise NetworkError(f"{origin(url)} listed more than {MAX_PAGES} pages")

    def _follow(self, method: str, url: str, params: dict[str, str] | None) -> list[httpx.Response]:
        chain: list[httpx.Response] = []
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept-Encoding": "identity", **self.config.auth(url)}
            try:
                request = self._client.build_request(method, url, params=params, headers=headers)
            except (httpx.InvalidURL, ValueError) as exc:
                raise NetworkError(
                    f"the server sent an invalid URL to follow: {url[:80]!r}"
                ) from exc
            streamed = self._client.send(request, stream=True)
            deadline = time.monotonic() + self.config.timeout * _WHOLE_ANSWER
            try:
                body = _read_bounded(streamed, deadline)
            finally:
                streamed.close()
            response = httpx.Response(
                streamed.status_code, headers=streamed.headers, content=body, request=request
            )
            chain.append(response)
            location = response.headers.get("Location")
            if not response.is_redirect or not location:
                return chain
            url, params = urljoin(str(response.url), location), None
        raise NetworkError(f"{origin(url)} redirected more than {MAX_REDIRECTS} times")

    def _delay(self, failures: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), _RETRY_AFTER_CAP)
            except ValueError:
                pass
        return float(self.config.backoff * 2 ** (failures - 1) * (0.5 + random.random() / 2))


def refusal(response: httpx.Response, repo: str, what: str, *, token: bool) -> ProvisionerError:
    """Our error for a status that is not success, by the Hub's X-Error-Code and the status.

    401/403 without a code is what mirrors answer for any miss: "not found, or needs a token",
    exit 3 when no token was sent (nothing to fix in the credentials yet), exit 6 when one was
    sent and still refused.
    """
    status, code = response.status_code, response.headers.get("X-Error-Code")
    if code == "GatedRepo":
        return AuthError(
            f"{repo} is gated: accept its terms on the Hub and set HF_TOKEN",
            hint="provisioner never sends the token anywhere but the endpoint",
        )
    if code == "RevisionNotFound":
        return ModelNotFound(f"{what} not found in {repo}")
    if code == "EntryNotFound":
        return ModelNotFound(f"{what} not found in {repo}")
    if status in (401, 403):
        if token:
            return AuthError(f"{repo} not found, or the token cannot read it (HTTP {status})")
        return ModelNotFound(
            f"{repo} not found, or needs a token (HTTP {status})", hint="set HF_TOKEN if private"
        )
    if status == 404:
        return ModelNotFound(f"repository {repo} not found on {origin(str(response.url))}")
    return NetworkError(f"{origin(str(response.url))} failed for {repo}: HTTP {status}")


def route_missing(response: httpx.Response) -> bool:
    """A 404/405/501 that is not the Hub saying "no such repo": the route itself is absent."""
    return response.status_code in (404, 405, 501) and "X-Error-Code" not in response.headers


def _read_bounded(response: httpx.Response, deadline: float) -> bytes:
    """The body, unless it is larger than any metadata answer may be or trickles past the
    deadline (a byte every few seconds never trips the per-read timeout)."""
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > MAX_JSON:
            raise NetworkError(f"{origin(str(response.url))} sent an answer over {MAX_JSON} bytes")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer trickled in too slowly", request=response.request)
    return bytes(body)


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ProxyError):
        return str(exc)
    return type(exc).__name__
