"""A floor under each connection's rate: a server that trickles bytes is cut off and re-asked.

The socket timeout only catches silence; a server sending one byte a second never trips it and
would hold a connection for days. ``RateFloor`` counts body bytes as each ``recv`` returns and
raises ``TooSlow`` when a whole window went by below the floor. It has to count there, on the
worker's own thread: ``http.client`` reads a body through a buffered reader that loops inside C
until the caller's buffer is full, so nothing above the socket sees the bytes as they come.

On a paced link (a real CDN behind a shaped link) segments arrive spread out, and a plain
``recv`` returns the few that are there: about 10 KB a call against 100 KB+ from a server that
writes in bursts, so ten times the Python calls, thread wake-ups and GIL hand-offs per byte (2x
the CPU per GiB, measured). ``_CountingReader`` asks the kernel to wake it only when a slice
is queued (``SO_RCVLOWAT``), for body reads the caller bounded; a slice that does not come
within ``TICK`` is read as it is, so the floor, the stall timeout and a short body behave as
before. TLS sockets read one record per call anyway: they keep plain ``recv``.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, cast

from .._units import format_bytes
from ._wire import Connection, Connections, Transient


class TooSlow(Transient):
    """A connection stayed below the minimum rate for a whole window (retried without counting
    its trickle as progress, so it finally gives up)."""


class RateFloor:
    """Tumbling windows over one connection's body bytes; ``arm`` at the start of each body.

    A window closes at the first ``recv`` after ``window`` seconds: below ``min_rate`` on
    average it raises, else the next window starts. Disarmed, it counts nothing (headers, idle
    keep-alive). Single-threaded: only the worker that owns the connection calls it.
    """

    def __init__(
        self, min_rate: float, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.min_rate = min_rate
        self.window = window
        self.clock = clock
        self.url = ""
        self.total = 0  # every byte counted, armed or not (the run's throughput)
        self._start: float | None = None
        self._bytes = 0

    def arm(self, url: str) -> None:
        self.url = url
        self._start, self._bytes = self.clock(), 0

    def disarm(self) -> None:
        self._start = None

    def add(self, n: int) -> None:
        """``n`` bytes arrived; raises ``TooSlow`` when a window closes below the floor."""
        self.total += n
        if self._start is None or self.min_rate <= 0:
            return
        self._bytes += n
        now = self.clock()
        elapsed = now - self._start
        if elapsed < self.window:
            return
        if self._bytes < self.min_rate * elapsed:
            self._start = None
            raise TooSlow(
                f"slower than {format_bytes(int(self.min_rate))}/s for {elapsed:.1f} s "
                f"from {self.url}"
            )
        self._start, self._bytes = now, 0


# A body read wakes when this much is queued (or the read's end, if nearer).
SLICE = 256 << 10
# Reads this short are the buffered reader's own (headers, a body's last bytes): no slice, as
# they may ask for more than the server will send before we answer.
HEADER_BUFFER = 8 << 10
# How long a read waits for its slice before it takes what is there: well under any floor
# window, well over a slice's time at a CDN's per-connection rate.
TICK = 0.1


class _CountingReader(io.RawIOBase):
    """The raw stream under ``http.client``'s buffered reader: ``recv_into``, then count.

    It holds a reference to the socket as ``socket.makefile`` does: http.client closes its
    socket as soon as an answer will close the connection (HTTP/1.0, ``Connection: close``)
    and reads the body afterwards; the descriptor really closes when this reader does.
    """

    def __init__(self, sock: socket.socket, floor: RateFloor) -> None:
        super().__init__()
        self._sock = sock
        self._floor = floor
        self._hold = sock.makefile("rb", buffering=0)  # the reference; reads skip it
        self._sliced = not isinstance(sock, ssl.SSLSocket) and hasattr(socket, "SO_RCVLOWAT")
        self._lowat = 1  # the socket's SO_RCVLOWAT: a keep-alive socket keeps its last body's
        if self._sliced:
            try:
                self._lowat = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)
            except OSError:
                self._sliced = False

    def close(self) -> None:
        super().close()
        self._hold.close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), SLICE) if len(buffer) > HEADER_BUFFER else 1
        timeout = self._sock.gettimeout()
        if self._sliced and want > 1 and timeout is not None and timeout > TICK:
            n = self._sliced_recv(buffer, want, timeout)
        else:
            self._set_lowat(1)
            n = self._sock.recv_into(buffer)
        self._floor.add(n)
        return n

    def _sliced_recv(self, buffer: Any, want: int, timeout: float) -> int:
        """Wait up to ``TICK`` for ``want`` bytes queued; then for any, as a plain ``recv``."""
        self._set_lowat(want)
        self._sock.settimeout(TICK)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            pass
        finally:
            self._sock.settimeout(timeout)
        self._set_lowat(1)
        return self._sock.recv_into(buffer)

    def _set_lowat(self, n: int) -> None:
        if n != self._lowat and self._sliced:
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, n)
            except OSError:
                self._sliced = False  # this socket or system does not take it: plain reads
                return
            self._lowat = n

    def fileno(self) -> int:
        return self._sock.fileno()


class _Socket:
    """What ``HTTPResponse.__init__`` needs of a socket: ``makefile`` (our counting reader)."""

    def __init__(self, sock: socket.socket, floor: RateFloor) -> None:
        self._sock = sock
        self._floor = floor

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_CountingReader(self._sock, self._floor), HEADER_BUFFER)


def _metered_response(floor: RateFloor) -> type[http.client.HTTPResponse]:
    class MeteredResponse(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            super().__init__(cast(socket.socket, _Socket(sock, floor)), *args, **kwargs)

    return MeteredResponse


class MeteredConnections(Connections):
    """``Connections`` whose responses count body bytes against ``floor``."""

    def __init__(self, timeout: float, floor: RateFloor) -> None:
        super().__init__(timeout)
        self._response_class = _metered_response(floor)

    def get(self, url: str) -> Connection:
        conn = super().get(url)
        conn.http.response_class = self._response_class
        return conn
