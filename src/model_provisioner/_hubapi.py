"""The Hub's metadata routes over HTTP: JSON answers, the paginated tree, HEAD on resolve.

Every call is bounded: a timeout per read and three for a whole answer, a few retries (5xx,
429 with its Retry-After, resets, stalls), at most ``MAX_REDIRECTS`` redirects, ``MAX_PAGES``
pages and ``MAX_JSON`` bytes of JSON, so neither a stalled nor a hostile server can hold a pull
forever. The token goes to the endpoint's own host only (a redirect or a ``Link: next``
elsewhere gets none).
An HTTP status becomes one of our errors in ``refusal``, and nowhere else.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from ._errors import AuthError, ModelNotFound, NetworkError, ProvisionerError
from ._network import lasting_failure, origin, through

if TYPE_CHECKING:
    from ._transfer._wire import Connections

log = logging.getLogger(__name__)  # each request, for PROVISIONER_DEBUG
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_PAGES = 10_000
MAX_JSON = 64 << 20
_RETRY_AFTER_CAP = 30.0
_WHOLE_ANSWER = 3  # a whole answer may take this many request timeouts
_READ = 1 << 16
_BAD_NETLOC = re.compile(r"[^A-Za-z0-9.\-_~:@\[\]%!$&'()*+,;=]")
_UNSAFE_PATH = re.compile(r"[^\x21-\x7e]")  # spaces, controls, non-ASCII: percent-encoded


@dataclass(frozen=True)
class HttpConfig:
    """How patient to be with the metadata routes."""

    host: str
    token: str | None
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5

    def auth(self, url: str) -> dict[str, str]:
        if self.token and urlsplit(url).netloc.lower() == self.host:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


class Headers:
    """Response headers by case-insensitive name; a repeated header's values joined by ", "."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._values[key] = f"{self._values[key]}, {value}" if key in self._values else value

    def get(self, name: str) -> str | None:
        return self._values.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


@dataclass(frozen=True)
class Response:
    """One answer, read whole (metadata answers are small and capped at ``MAX_JSON``)."""

    status_code: int
    headers: Headers
    url: str
    content: bytes = field(default=b"", repr=False)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in REDIRECTS and "Location" in self.headers

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header by rel (or URL), parsed as httpx and requests parse it."""
        value = (self.headers.get("Link") or "").strip(" '\"")
        links: dict[str, dict[str, str]] = {}
        for item in re.split(", *<", value) if value else []:
            target, _, params = item.partition(";")
            link = {"url": target.strip("<> '\"")}
            for param in params.split(";") if params else []:
                key, equals, text = param.partition("=")
                if not equals or "=" in text:
                    break
                link[key.strip(" '\"")] = text.strip(" '\"")
            links[link.get("rel") or link["url"]] = link
        return links

    def json(self) -> Any:
        return json.loads(self.content)


class HubHttp:
    """The metadata calls of a pull, over the transfer engine's connections (one HTTP stack:
    the same proxies, trust and error translation as the file bodies; no httpx to import).
    Each thread has its own keep-alive connections (HEADs run several at once)."""

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._opened: list[Connections] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for conns in self._opened:
                conns.close()
            self._opened.clear()

    def get(
        self, url: str, params: dict[str, str] | None = None, method: str = "GET"
    ) -> list[Response]:
        """The answer and the redirects that led to it (first one first), after retries."""
        from ._transfer._wire import Transient  # the engine's package imports this module

        failures = 0
        while True:
            try:
                chain = self._follow(method, url, params)
            except (OSError, http.client.HTTPException, Transient) as exc:
                problem = lasting_failure(exc, origin(url))
                if problem is not None:
                    raise problem from exc
                failures += 1
                if failures > self.config.retries:
                    # a Transient is the proxy's failure (_wire): it names the proxy already
                    named = isinstance(exc, Transient)
                    reason = f"{_describe(exc)}{'' if named else through(url, exc)}"
                    raise NetworkError(f"cannot reach {origin(url)}: {reason}") from exc
                time.sleep(self._delay(failures, None))
                continue
            final = chain[-1]
            if final.status_code not in RETRY_STATUS or failures >= self.config.retries:
                return chain
            failures += 1
            time.sleep(self._delay(failures, final.headers.get("Retry-After")))

    def json(self, response: Response) -> Any:
        """A parsed JSON body; anything else is the server failing us (exit 1, like a 5xx)."""
        try:
            return response.json()
        except ValueError as exc:
            raise NetworkError(f"{origin(response.url)} sent an answer that is not JSON") from exc

    def pages(self, url: str, params: dict[str, str]) -> Iterator[Response]:
        """Every page of a listing that paginates with ``Link: <...>; rel="next"``."""
        next_url: str | None = url
        query: dict[str, str] | None = params
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            response = self.get(next_url, query)[-1]
            yield response
            link = response.links.get("next", {}).get("url") if response.is_success else None
            next_url, query = (_join(response.url, link) if link else None), None
        raise NetworkError(f"{origin(url)} listed more than {MAX_PAGES} pages")

    def _connections(self) -> Connections:
        from ._transfer._wire import Connections

        conns: Connections | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = Connections(self.config.timeout)
            with self._lock:
                self._opened.append(conns)
        return conns

    def _follow(self, method: str, url: str, params: dict[str, str] | None) -> list[Response]:
        from ._transfer._wire import redact, request

        chain: list[Response] = []
        conns = self._connections()
        for _ in range(MAX_REDIRECTS + 1):
            target = _target(url, params)
            headers = {"Accept-Encoding": "identity", **self.config.auth(target)}
            try:
                answer = request(conns, target, headers, method)
                deadline = time.monotonic() + self.config.timeout * _WHOLE_ANSWER
                body = _read_bounded(answer, target, deadline)
            except BaseException:
                conns.drop(target)  # its state is unknown
                raise
            log.info("HTTP Request: %s %s %d", method, redact(target), answer.status)
            response = Response(answer.status, Headers(answer.getheaders()), target, body)
            chain.append(response)
            location = response.headers.get("Location")
            if not response.is_redirect or not location:
                return chain
            url, params = _join(target, location), None
        raise NetworkError(f"{origin(url)} redirected more than {MAX_REDIRECTS} times")

    def _delay(self, failures: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), _RETRY_AFTER_CAP)
            except ValueError:
                pass
        return float(self.config.backoff * 2 ** (failures - 1) * (0.5 + random.random() / 2))


def refusal(response: Response, repo: str, what: str, *, token: bool) -> ProvisionerError:
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
        return ModelNotFound(f"repository {repo} not found on {origin(response.url)}")
    return NetworkError(f"{origin(response.url)} failed for {repo}: HTTP {status}")


def route_missing(response: Response) -> bool:
    """A 404/405/501 that is not the Hub saying "no such repo": the route itself is absent."""
    return response.status_code in (404, 405, 501) and "X-Error-Code" not in response.headers


def _join(base: str, location: str) -> str:
    """``location`` (a redirect's, a next page's) against ``base``; checked by ``_target``."""
    try:
        return urljoin(base, location)
    except ValueError as exc:
        raise NetworkError(f"the server sent an invalid URL to follow: {location[:80]!r}") from exc


def _target(url: str, params: dict[str, str] | None) -> str:
    """``url`` with ``params`` added, if our connections can ask for it: http(s), a host, no
    space or control in it (spaces and non-ASCII in the path percent-encoded, as httpx does)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or _BAD_NETLOC.search(parts.netloc)
    ):
        raise NetworkError(f"the server sent an invalid URL to follow: {url[:80]!r}")
    rest = url[len(parts.scheme) + 3 + len(parts.netloc) :].partition("#")[0]
    rest = _UNSAFE_PATH.sub(lambda m: quote(m.group(), safe=""), rest)
    if params:
        rest += ("&" if parts.query else "?") + urlencode(params)
    return f"{parts.scheme}://{parts.netloc}{rest}"


def _read_bounded(answer: http.client.HTTPResponse, url: str, deadline: float) -> bytes:
    """The body, unless it is larger than any metadata answer may be or trickles past the
    deadline (a byte every few seconds never trips the per-read timeout)."""
    body = bytearray()
    while chunk := answer.read1(_READ):
        body += chunk
        if len(body) > MAX_JSON:
            raise NetworkError(f"{origin(url)} sent an answer over {MAX_JSON} bytes")
        if time.monotonic() > deadline:
            raise TimeoutError("the answer trickled in too slowly")
    answer.close()  # read1 leaves a finished body open, which would block the next request
    return bytes(body)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(getattr(exc, "reason", None) or type(exc).__name__)
