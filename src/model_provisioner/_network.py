"""How this process reaches a URL: through which proxy, and trusting which certificates.

Metadata (_hubapi.py), file bodies and ``info --remote`` go through our own ``http.client``
connections (_wire.py), search through huggingface_hub (whose client is httpx2). All must take
the same way, so the decisions are made here once, with httpx2's own functions, reading the
environment exactly as huggingface_hub does. httpx2 is imported only when a proxy variable is
set or the system store is loaded (its import costs a pull's start-up 0.1 s; issue 9):

- Proxies: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` in either case
  (urllib's ``getproxies``, then httpx2's ``NO_PROXY`` rules and pattern priority). An https URL
  goes through a CONNECT tunnel, so the proxy sees neither the token nor the bytes; an http URL
  is forwarded in absolute form.
- Trust: every CA bundle or folder named by ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
  ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` (those set and not empty), together; none set: the
  system store (httpx2's). Not a precedence: huggingface_hub >= 1.0 (httpx2) reads only
  ``SSL_CERT_FILE`` then ``SSL_CERT_DIR``, requests and pip only ``REQUESTS_CA_BUNDLE`` then
  ``CURL_CA_BUNDLE``, curl ``CURL_CA_BUNDLE`` first; and images (this project's CI among them)
  preset all four to the system bundle, where any order would leave three of them dead: a
  user adding a corporate CA with the variable their tool taught them would be ignored. Each
  variable is the user saying "trust these"; trusting what any of them names trusts nothing
  they did not name. A named file replaces the system store, as in all three clients; a folder
  (``SSL_CERT_DIR``, or a bundle variable naming one, as requests allows) is an OpenSSL hashed
  folder. Search goes through huggingface_hub, which is handed the same context. The context is
  built at the first https connection, so a stale variable never breaks a plain-http mirror;
  a bundle that cannot be loaded is one ``TLSError`` line naming its variable.
"""

from __future__ import annotations

import base64
import errno
import os
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

from ._errors import NetworkError, TLSError

if TYPE_CHECKING:
    from httpx2._utils import URLPattern

# Which certificates to trust: all that these name (see the module docstring).
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
_NO_CERTIFICATE = "NO_CERTIFICATE_OR_CRL_FOUND"
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
class Trust:
    """The certificates to trust: the bundles and folders that variables name, as
    (variable, location) pairs; none, the system store."""

    named: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """``A, B=/path; C=/other`` (variables naming the same place said once)."""
        if not self.named:
            return "the system store"
        places: dict[str, list[str]] = {}
        for variable, location in self.named:
            places.setdefault(location, []).append(variable)
        return "; ".join(f"{', '.join(names)}={where}" for where, names in places.items())

    def load(self) -> ssl.SSLContext:
        """The client context, or one TLSError line naming the bundle that cannot be loaded."""
        if not self.named:
            import httpx2

            return httpx2.create_ssl_context(trust_env=False)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies; trusts only what is named
        loaded: set[str] = set()
        for variable, location in self.named:
            if os.path.realpath(location) not in loaded:
                _load_into(context, variable, location)
                loaded.add(os.path.realpath(location))
        return context


def _load_into(context: ssl.SSLContext, variable: str, location: str) -> None:
    try:
        if variable == "SSL_CERT_DIR" or (variable != "SSL_CERT_FILE" and os.path.isdir(location)):
            if not os.path.isdir(location):
                raise NotADirectoryError(errno.ENOTDIR, "not a folder")
            context.load_verify_locations(capath=location)
        else:
            context.load_verify_locations(cafile=location)
    except ssl.SSLError as exc:
        reason = (
            "no PEM certificate in it" if exc.reason == _NO_CERTIFICATE else "not PEM certificates"
        )
        message = f"cannot load the trusted certificates from {variable}={location}: {reason}"
        raise TLSError(message) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"cannot load the trusted certificates from {variable}={location}: {reason}"
        raise TLSError(message) from exc


def trust() -> Trust:
    """What this environment says to trust (only read here)."""
    return Trust(tuple((n, v) for n in CA_VARIABLES if (v := os.environ.get(n))))


@dataclass(frozen=True)
class Network:
    """The proxy routes and the trust of one environment; shared by all threads."""

    trust: Trust
    routes: tuple[tuple[URLPattern, str | None], ...]  # in httpx2's priority order

    @cached_property
    def context(self) -> ssl.SSLContext:
        """Built at the first https connection (loading a CA store costs milliseconds, and a
        stale variable must not break a plain-http mirror); one per environment."""
        return self.trust.load()

    def proxy_for(self, url: str) -> Proxy | None:
        """The proxy for ``url``, or None to connect directly; first matching pattern wins."""
        if not self.routes:
            return None
        import httpx2

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


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for messages about a connection (no credentials)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def redact_proxy(url: str) -> str:
    """A proxy URL for a message: never its credentials."""
    return url.rpartition("@")[2]


def network() -> Network:
    """The environment's network now; built once per distinct environment (loading the CA
    store costs milliseconds, and every worker of every run asks)."""
    return _build(trust(), tuple(sorted(getproxies().items())))


@lru_cache(maxsize=8)
def _build(trusted: Trust, proxies: tuple[tuple[str, str], ...]) -> Network:
    if not proxies:  # no proxy variable: every URL goes direct
        return Network(trusted, ())
    from httpx2._utils import URLPattern, get_environment_proxies

    # ``proxies`` is the cache key; get_environment_proxies reads the same values again
    routes = {URLPattern(key): value for key, value in get_environment_proxies().items()}
    return Network(trusted, tuple(sorted(routes.items(), key=lambda item: item[0])))


def through(url: str, exc: BaseException) -> str:
    """`` (through proxy H:P)`` when ``url`` went through a proxy and ``exc`` does not name it:
    a failure there may be the proxy's (an address that is no proxy at all)."""
    if any(isinstance(e, _proxy_errors()) for e in _chain(exc)):
        return ""
    proxy = network().proxy_for(url)
    return "" if proxy is None else f" (through {proxy.label})"


def lasting_failure(exc: BaseException, where: str) -> NetworkError | None:
    """``exc`` (or what caused it) as one line if retrying cannot fix it: a rejected
    certificate, a server that does not speak TLS, a proxy that wants credentials or refuses
    the tunnel."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = current.verify_message or current.reason or "verification failed"
            hint = _HOST_HINT if current.verify_code in _MISMATCH_CODES else _ca_hint()
            return TLSError(f"{where}: TLS certificate rejected: {reason}", hint=hint)
        if isinstance(current, ssl.SSLError) and current.reason == "WRONG_VERSION_NUMBER":
            return TLSError(f"{where}: the server does not speak TLS (is it http://?)")
        if isinstance(current, _proxy_errors()):
            status = str(current)[:3]
            if status == "407":
                message = f"{where}: the proxy wants credentials ({current})"
                return NetworkError(message, hint=CREDENTIALS)
            if status in ("403", "405"):  # the proxy's policy, as the engine says it (_wire)
                proxy = network().proxy_for(where)
                label = proxy.label if proxy is not None else "the proxy"
                return NetworkError(f"{label} refused a tunnel to {where} ({current})")
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it, innermost last (cycles cut)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _proxy_errors() -> tuple[type[BaseException], ...]:
    """httpx's and httpx2's ProxyError, of those loaded: an exception of one that is not
    loaded cannot exist, and importing them costs a pull's start-up."""
    loaded = (sys.modules.get(name) for name in ("httpx", "httpx2"))
    return tuple(module.ProxyError for module in loaded if module is not None)


def _ca_hint() -> str:
    trusted = trust()
    if not trusted.named:
        return "set REQUESTS_CA_BUNDLE or SSL_CERT_FILE to a bundle with the CA that signed it"
    hint = f"the CA that signed it is not in {trusted.label}"
    if all(os.path.isdir(location) for _, location in trusted.named):
        hint += " (a folder needs `openssl rehash`)"
    return hint
