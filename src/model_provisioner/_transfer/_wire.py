"""HTTP on the wire: keep-alive connections, ranged GETs, redirects, and error translation.

``http.client`` over blocking sockets, one connection per worker thread and host: on loopback
it moves well over 1 GB/s per connection with ``readinto`` into a reused buffer (measured in
benchmarks/pull.py against httpx, which copies each chunk into a new ``bytes``).

Every socket, HTTP and disk exception becomes one of ours in ``wire_errors`` and nowhere else:
transient ones become ``Transient`` (retried by the caller), the rest our public classes.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .._errors import AuthError, DiskSpaceError, ModelNotFound, NetworkError
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


class Connections:
    """One keep-alive connection per (scheme, host, port), owned by a single thread."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._open: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def get(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        conn = self._open.get(key)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(parts.netloc, timeout=self.timeout, blocksize=1 << 16)
            self._open[key] = conn
        return conn

    def drop(self, url: str) -> None:
        """Close the connection to ``url``'s host: after an error its state is unknown."""
        parts = urlsplit(url)
        conn = self._open.pop((parts.scheme, parts.netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for conn in self._open.values():
            conn.close()
        self._open.clear()

    def sockets(self) -> list[socket.socket]:
        """Open sockets, so a canceller on another thread can shut them down."""
        return [c.sock for c in self._open.values() if isinstance(c.sock, socket.socket)]


def _connect(conn: http.client.HTTPConnection) -> None:
    if conn.sock is None:
        conn.connect()
        sock = conn.sock
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)


def request(
    conns: Connections,
    url: str,
    headers: dict[str, str],
) -> http.client.HTTPResponse:
    """One GET on a kept-alive connection; reconnects once if the idle connection had died."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    for attempt in (0, 1):
        conn = conns.get(url)
        fresh = conn.sock is None
        try:
            _connect(conn)
            conn.request("GET", target, headers=headers)
            return conn.getresponse()
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
    if status in (404, 410):
        raise ModelNotFound(f"{path}: not found at {redact(url)} ({status})")
    if status == 429 or status >= 500 or status == 408:
        retry_after = parse_retry_after(response.getheader("Retry-After"))
        raise Transient(f"HTTP {status} from {redact(url)}", retry_after)
    raise NetworkError(f"{path}: unexpected HTTP {status} from {redact(url)}")
