"""How this process reaches a URL: through which proxy, and trusting which certificates.

Metadata goes through an httpx client (_hubapi.py, given ``routed_transport``), file bodies and
``info --remote`` through our own ``http.client`` connections (_wire.py), and search through
huggingface_hub (whose client is httpx2). All must take the same way, so the decisions are made
here once, with httpx2's own functions, reading the environment exactly as huggingface_hub does:

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

import httpx
import httpx2
from httpx2._utils import URLPattern, get_environment_proxies

from ._errors import NetworkError, TLSError

_CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")
_IGNORED_CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_MISMATCH_CODES = frozenset({62, 63, 64})  # X509_V_ERR_{HOSTNAME,EMAIL,IP_ADDRESS}_MISMATCH
CREDENTIALS = "put them in the proxy URL: http://user:password@host:port"
_HOST_HINT = "the certificate is for other hosts: check the endpoint, or the server's certificate"


@dataclass(frozen=True)
class Proxy:
    """An http:// proxy: where to connect, and what to tell it (credentials from its URL)."""

    url: str
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
    return Proxy(url, parts.hostname, port, headers)


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


def lasting_failure(exc: BaseException, where: str) -> NetworkError | None:
    """``exc`` (or what caused it) as one line if retrying cannot fix it: a rejected
    certificate, a server that does not speak TLS, a proxy that wants credentials."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = current.verify_message or current.reason or "verification failed"
            hint = _HOST_HINT if current.verify_code in _MISMATCH_CODES else _ca_hint()
            return TLSError(f"{where}: TLS certificate rejected: {reason}", hint=hint)
        if isinstance(current, ssl.SSLError) and current.reason == "WRONG_VERSION_NUMBER":
            return TLSError(f"{where}: the server does not speak TLS (is it http://?)")
        if isinstance(current, httpx.ProxyError) and str(current).startswith("407"):
            message = f"{where}: the proxy wants credentials ({current})"
            return NetworkError(message, hint=CREDENTIALS)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, innermost last (cycles cut)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


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


class RoutedTransport(httpx.BaseTransport):
    """An httpx transport that goes direct or through a proxy per request, as ``proxy_for``
    says, trusting ``context``: httpx's own reading of the environment differs in details."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self._direct = httpx.HTTPTransport(verify=net.context, trust_env=False)
        self._proxied: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.net.proxy_for(str(request.url))
        if proxy is None:
            return self._direct.handle_request(request)
        transport = self._proxied.get(proxy.url)
        if transport is None:
            transport = httpx.HTTPTransport(
                proxy=proxy.url, verify=self.net.context, trust_env=False
            )
            self._proxied[proxy.url] = transport
        try:
            return transport.handle_request(request)
        except httpx.ConnectError as exc:
            if any(isinstance(e, ssl.SSLError) for e in _chain(exc)):
                raise  # the tunnel stood; the handshake with the server behind it failed
            raise httpx.ProxyError(f"cannot connect to {proxy.label}: {exc}") from exc

    def close(self) -> None:
        for transport in (self._direct, *self._proxied.values()):
            transport.close()


def routed_transport() -> RoutedTransport:
    """For an ``httpx.Client(transport=...)``: this environment's proxies and trust."""
    return RoutedTransport(network())
