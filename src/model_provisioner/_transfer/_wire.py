"""HTTP on the wire: keep-alive connections, ranged GETs, redirects, and error translation.

Connections go direct or through the environment's proxy, and trust the environment's
certificates, as decided in ../_network.py (the same way huggingface_hub's client decides).

``http.client`` over blocking sockets, one connection per worker thread and host: on loopback
it moves well over 1 GB/s per connection with ``readinto`` into a reused buffer (measured in
benchmarks/pull.py against httpx, which copies each chunk into a new ``bytes``).

Every socket, HTTP and disk exception becomes one of ours in ``wire_errors`` and nowhere else:
transient ones become ``Transient`` (retried by the caller), the rest our public classes.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .._errors import AuthError, DiskSpaceError, ModelNotFound, NetworkError
from .._network import CREDENTIALS, Network, Proxy, lasting_failure, network, origin
from .._units import format_bytes

RECV_BUFFER = 4 << 20
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
    }
)


class Transient(Exception):
    """A failure worth retrying: reset, timeout, stall, 5xx, 429, a short or odd answer."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RangeIgnored(Exception):
    """The server answered 200 with the whole file to a Range request; ``response`` is it."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        super().__init__("range ignored")
        self.response = response


def redact(url: str) -> str:
    """Scheme, host and path only: no userinfo, and no query (CDN signatures live there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class DiskContext:
    """What ENOSPC should say: the file, and how much the run still needed."""

    path: Path
    need: Callable[[], int]
    have: Callable[[], int]


@contextmanager
def wire_errors(url: str, disk: DiskContext | None = None) -> Iterator[None]:
    """Socket, HTTP and OS errors as ours; the only place that knows their types."""
    try:
        yield
    except (Transient, RangeIgnored, NetworkError, AuthError, ModelNotFound, DiskSpaceError):
        raise
    except TimeoutError as exc:
        raise Transient(f"no data for a while from {redact(url)}") from exc
    except (http.client.HTTPException, ssl.SSLError, socket.gaierror) as exc:
        raise Transient(f"{type(exc).__name__} from {redact(url)}") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) and disk is not None:
            raise DiskSpaceError(
                f"disk full while writing {disk.path.name}: "
                f"need {format_bytes(disk.need())}, have {format_bytes(disk.have())}",
                hint="free space and run the same pull again; the partial file is kept",
            ) from exc
        if isinstance(exc, ConnectionError) or exc.errno in _NETWORK_ERRNOS:
            raise Transient(f"{type(exc).__name__} from {redact(url)}") from exc
        raise


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from datetime import UTC, datetime

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes a-b/total`` as (a, b + 1, total or None); None when missing or malformed."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        span, _, total = value[6:].partition("/")
        first, _, last = span.partition("-")
        return int(first), int(last) + 1, (None if total.strip() == "*" else int(total))
    except ValueError:
        return None


@dataclass
class Connection:
    """A keep-alive connection to one origin, direct or through a proxy.

    Through a proxy, https goes through a CONNECT tunnel (TLS end to end: the proxy sees
    neither the token nor the bytes) and http is forwarded, asking for the absolute URL.
    """

    http: http.client.HTTPConnection
    proxy: Proxy | None
    forward: bool  # http through a proxy: absolute-form targets and the proxy's headers

    @classmethod
    def open(cls, url: str, timeout: float, net: Network) -> Connection:
        parts = urlsplit(url)
        proxy = net.proxy_for(url)
        https = parts.scheme == "https"
        host, port = parts.hostname or "", parts.port or (443 if https else 80)
        address = (proxy.host, proxy.port) if proxy else (host, port)
        conn: http.client.HTTPConnection
        if https:
            conn = http.client.HTTPSConnection(
                *address, timeout=timeout, blocksize=1 << 16, context=net.context
            )
            if proxy is not None:
                conn.set_tunnel(host, port, headers=proxy.headers)
        else:
            conn = http.client.HTTPConnection(*address, timeout=timeout, blocksize=1 << 16)
        return cls(conn, proxy, forward=proxy is not None and not https)

    def target(self, url: str) -> str:
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return f"{parts.scheme}://{parts.netloc}{path}" if self.forward else path

    def headers(self) -> dict[str, str]:
        return self.proxy.headers if self.forward and self.proxy is not None else {}


class Connections:
    """One keep-alive connection per (scheme, host, port), owned by a single thread."""

    def __init__(self, timeout: float, net: Network | None = None) -> None:
        self.timeout = timeout
        # Read from the environment at the first connection, so that its errors (a CA file
        # that cannot be loaded, a proxy we cannot speak) are a request's, handled as such.
        self.net = net
        self._open: dict[tuple[str, str], Connection] = {}

    def get(self, url: str) -> Connection:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        conn = self._open.get(key)
        if conn is None:
            self.net = self.net or network()
            conn = self._open[key] = Connection.open(url, self.timeout, self.net)
        return conn

    def drop(self, url: str) -> None:
        """Close the connection to ``url``'s host: after an error its state is unknown."""
        parts = urlsplit(url)
        conn = self._open.pop((parts.scheme, parts.netloc), None)
        if conn is not None:
            conn.http.close()

    def close(self) -> None:
        for conn in self._open.values():
            conn.http.close()
        self._open.clear()

    def sockets(self) -> list[socket.socket]:
        """Open sockets, so a canceller on another thread can shut them down."""
        return [c.http.sock for c in self._open.values() if isinstance(c.http.sock, socket.socket)]


def _connect(conn: Connection, url: str) -> None:
    """Connect (and open the tunnel, and shake hands) unless already connected."""
    if conn.http.sock is not None:
        return
    try:
        conn.http.connect()
    except ssl.SSLError as exc:
        problem = lasting_failure(exc, origin(url))
        if problem is not None:
            raise problem from exc
        raise
    except (OSError, http.client.HTTPException) as exc:
        if conn.proxy is not None:
            connected = conn.http.sock is not None  # the proxy took the connection, then failed
            conn.http.close()
            raise _proxy_failure(exc, conn.proxy, url, connected) from exc
        raise
    sock = conn.http.sock
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)


def _proxy_failure(
    exc: OSError | http.client.HTTPException, proxy: Proxy, url: str, connected: bool = False
) -> Exception:
    """A proxy that cannot be reached, answers as no proxy does, or will not open the tunnel,
    said as such."""
    refused = re.match(r"Tunnel connection failed: (\d+)(.*)", str(exc))
    if refused is None:
        name = type(exc).__name__
        if connected:  # something listens there, but it may be no proxy at all
            return Transient(f"{name} (through {proxy.label})")
        return Transient(f"cannot connect to {proxy.label}: {name} (for {redact(url)})")
    status, text = int(refused.group(1)), refused.group(2).strip()
    if status == 407:
        return NetworkError(f"{proxy.label} wants credentials (407 {text})", hint=CREDENTIALS)
    if status in (403, 405):
        return NetworkError(f"{proxy.label} refused a tunnel to {origin(url)} ({status} {text})")
    return Transient(f"{proxy.label} could not open a tunnel to {origin(url)} ({status} {text})")


def is_local(url: str) -> bool:
    """True when ``url`` names this host (``localhost`` or a loopback address); names are not
    resolved, so a name that happens to lead here counts as remote."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request(
    conns: Connections, url: str, headers: dict[str, str], method: str = "GET"
) -> http.client.HTTPResponse:
    """One request on a kept-alive connection; reconnects once if the idle one had died."""
    for attempt in (0, 1):
        conn = conns.get(url)
        fresh = conn.http.sock is None
        try:
            _connect(conn, url)
            conn.http.request(method, conn.target(url), headers={**headers, **conn.headers()})
            return conn.http.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conns.drop(url)
            if fresh or attempt == 1:
                raise
    raise AssertionError("unreachable")


def open_url(
    conns: Connections,
    url: str,
    headers: dict[str, str],
    auth: Callable[[str], dict[str, str]],
    max_redirects: int,
) -> tuple[http.client.HTTPResponse, str]:
    """GET following redirects by hand, asking ``auth`` per URL; returns (response, final URL).

    Authorization is chosen per hop, so a redirect to another host never carries the token.
    """
    for _ in range(max_redirects + 1):
        response = request(conns, url, {**headers, **auth(url)})
        location = response.getheader("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            response.read()
            if response.will_close:
                conns.drop(url)
            url = urljoin(url, location)
            continue
        return response, url
    raise NetworkError(f"too many redirects from {redact(url)}")


def check_status(response: http.client.HTTPResponse, url: str, path: str) -> None:
    """Raise ours for any status that is not 200/206."""
    status = response.status
    if status in (200, 206):
        return
    if status in (401, 403):
        raise AuthError(
            f"{path}: {redact(url)} refused access ({status})",
            hint="gated or private: accept the terms on the Hub and set HF_TOKEN",
        )
    if status == 407:
        raise NetworkError(
            f"{path}: the proxy wants credentials (407) for {redact(url)}", hint=CREDENTIALS
        )
    if status in (404, 410):
        raise ModelNotFound(f"{path}: not found at {redact(url)} ({status})")
    if status == 429 or status >= 500 or status == 408:
        retry_after = parse_retry_after(response.getheader("Retry-After"))
        raise Transient(f"HTTP {status} from {redact(url)}", retry_after)
    raise NetworkError(f"{path}: unexpected HTTP {status} from {redact(url)}")
