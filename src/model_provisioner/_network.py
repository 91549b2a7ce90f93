"""How this process reaches a URL: through which proxy, and trusting which certificates.

Metadata goes through huggingface_hub, whose HTTP client is httpx2; file bodies go through our
own ``http.client`` connections (_wire.py). Both must take the same way, so both decisions are
made here with httpx2's own functions, read from the environment exactly as that client does:

- Proxies: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` in either case
  (urllib's ``getproxies``, then httpx2's ``NO_PROXY`` rules and pattern priority). An https URL
  goes through a CONNECT tunnel, so the proxy sees neither the token nor the bytes; an http URL
  is forwarded in absolute form.
- Trust: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else the system store
  (``httpx2.create_ssl_context``). huggingface_hub >= 1.0 reads neither ``REQUESTS_CA_BUNDLE``
  nor ``CURL_CA_BUNDLE`` (they were the requests era's), so neither do we: a certificate error
  says so when one of them is set, rather than trusting a bundle the metadata calls ignore.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

import httpx2
from httpx2._utils import URLPattern, get_environment_proxies

from ._errors import NetworkError, TLSError

_CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")
_IGNORED_CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_MISMATCH_CODES = frozenset({62, 63, 64})  # X509_V_ERR_{HOSTNAME,EMAIL,IP_ADDRESS}_MISMATCH
_HOST_HINT = "the certificate is for other hosts: check the endpoint, or the server's certificate"


@dataclass(frozen=True)
class Proxy:
    """An http:// proxy: where to connect, and what to tell it (credentials from its URL)."""

    host: str
    port: int
    headers: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        """For messages: never the credentials."""
        return f"proxy {self.host}:{self.port}"


@dataclass(frozen=True)
class Network:
    """The proxy routes and the TLS context of one environment; shared by all threads."""

    context: ssl.SSLContext
    routes: tuple[tuple[URLPattern, str | None], ...]  # in httpx2's priority order

    def proxy_for(self, url: str) -> Proxy | None:
        """The proxy for ``url``, or None to connect directly; first matching pattern wins."""
        target = httpx2.URL(url)
        for pattern, proxy_url in self.routes:
            if pattern.matches(target):
                return None if proxy_url is None else parse_proxy(proxy_url)
        return None


def parse_proxy(url: str) -> Proxy:
    """An http:// proxy URL as a Proxy; anything our connections cannot speak is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise NetworkError(
            f"unsupported proxy {parts.scheme}://{parts.hostname or ''}",
            hint="file transfers go through http:// proxies (CONNECT for https); "
            "set HTTPS_PROXY/HTTP_PROXY to an http:// URL",
        )
    if not parts.hostname:
        raise NetworkError(f"proxy URL without a host: {redact_proxy(url)}")
    try:
        port = parts.port or 80
    except ValueError:
        raise NetworkError(f"proxy URL with a bad port: {redact_proxy(url)}") from None
    headers = {}
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Proxy-Authorization"] = f"Basic {token}"
    return Proxy(parts.hostname, port, headers)


def redact_proxy(url: str) -> str:
    """A proxy URL for a message: never its credentials."""
    return url.rpartition("@")[2]


def network() -> Network:
    """The environment's network now; built once per distinct environment (loading the CA
    store costs milliseconds, and every worker of every run asks)."""
    ca = tuple(os.environ.get(name) for name in _CA_VARIABLES)
    proxies = tuple(sorted(getproxies().items()))
    return _build(ca, proxies)


@lru_cache(maxsize=8)
def _build(ca: tuple[str | None, ...], proxies: tuple[tuple[str, str], ...]) -> Network:
    del proxies  # the cache key: get_environment_proxies reads the same values again
    try:
        context = httpx2.create_ssl_context()
    except (OSError, ssl.SSLError) as exc:
        named = ", ".join(f"{n}={v}" for n, v in zip(_CA_VARIABLES, ca, strict=True) if v)
        raise TLSError(
            f"cannot load the trusted certificates ({named or 'system store'}): {exc}"
        ) from exc
    routes = {URLPattern(key): value for key, value in get_environment_proxies().items()}
    return Network(context, tuple(sorted(routes.items(), key=lambda item: item[0])))


def certificate_error(exc: BaseException, where: str) -> TLSError | None:
    """``exc`` (or what caused it) as a one-line TLSError if it is a rejected certificate or a
    server that does not speak TLS: retrying cannot help, so callers raise it at once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = current.verify_message or current.reason or "verification failed"
            hint = _HOST_HINT if current.verify_code in _MISMATCH_CODES else _ca_hint()
            return TLSError(f"{where}: TLS certificate rejected: {reason}", hint=hint)
        if isinstance(current, ssl.SSLError) and current.reason == "WRONG_VERSION_NUMBER":
            return TLSError(f"{where}: the server does not speak TLS (is it http://?)")
        current = current.__cause__ or current.__context__
    return None


def _ca_hint() -> str:
    if any(os.environ.get(n) for n in _CA_VARIABLES):
        return "the CA that signed it is not in SSL_CERT_FILE/SSL_CERT_DIR"
    ignored = [n for n in _IGNORED_CA_VARIABLES if os.environ.get(n)]
    if ignored:
        return (
            f"{ignored[0]} is not read (nor by huggingface_hub >= 1.0): "
            f"set SSL_CERT_FILE to that bundle"
        )
    return "set SSL_CERT_FILE to a bundle with the CA that signed it"
