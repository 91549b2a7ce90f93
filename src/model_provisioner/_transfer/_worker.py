"""A worker: one thread, one keep-alive connection per host, fetching claimed spans.

The body goes straight from the socket into a buffer (``readinto``) and from there to its place
in the partial file (``os.pwrite``); the written buffer is then offered to the hasher, and the
worker goes on with a spare from a bounded pool (memory stays flat whatever the file size).
Progress inside a part is journaled every ``checkpoint`` bytes, so a kill loses little.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable

from .._errors import IntegrityError, NetworkError
from .._hub import HubSettings
from .._progress import TransferStats
from ._direct import aligned_buffer, write_at
from ._file import FileState, Lease
from ._meter import MeteredConnections, RateFloor, TooSlow
from ._options import TransferOptions
from ._pool import BufferPool
from ._ranges import Span
from ._retry import Attempts
from ._wire import (
    DiskContext,
    RangeIgnored,
    Transient,
    check_status,
    open_url,
    parse_content_range,
    redact,
    wire_errors,
)

# Per-request timings at DEBUG (PROVISIONER_DEBUG=1 on the CLI): where a WAN pull's time goes.
log = logging.getLogger("model_provisioner.transfer")


class Stopped(Exception):
    """The run is stopping (cancel or another worker's fatal error)."""


class Worker:
    """Fetches spans handed out by ``next_work`` until it returns None."""

    def __init__(
        self,
        settings: HubSettings,
        options: TransferOptions,
        stats: TransferStats,
        stop: threading.Event,
        disk: Callable[[FileState], DiskContext],
        pool: BufferPool | None = None,
        pushback: Callable[[], None] = lambda: None,
    ) -> None:
        """``pushback`` is told when the server asks to slow down (429, 503, a reset)."""
        self.settings = settings
        self.options = options
        self.pool = pool
        self.stats = stats
        self.stop = stop
        self.disk = disk
        self.pushback = pushback
        self.floor = RateFloor(options.min_rate, options.rate_window)
        self.conns = MeteredConnections(options.stall, self.floor)
        self.buffer = aligned_buffer(options.buffer_size)

    @property
    def received(self) -> int:
        """Bytes read from the network so far, counted at each ``recv`` (for the scaler)."""
        return self.floor.total

    # -- one span, with retries ------------------------------------------------------------------

    def fetch(self, state: FileState, span: Span) -> None:
        """Fetch [start, end) of ``state`` into its partial file, retrying transient failures."""
        start, _ = span
        lease = state.lease(span)
        streamed = state.single
        attempts = state.stream_attempts if streamed else Attempts(self.options.policy)
        pos = start
        try:
            while pos < lease.end:
                try:
                    pos = self._fetch_once(state, pos, lease)
                except Transient as exc:
                    pos = state.done_from(pos)
                    self._back_off(state, attempts, pos, exc)
                except RangeIgnored as ignored:
                    end = state.end_lease(lease)
                    state.release(pos, end)
                    pos = end
                    if streamed or state.become_streamer():
                        streamed = True
                        self._stream_or_back_off(state, ignored.response)
                    else:
                        self.conns.close()  # another connection streams it: drop this copy
        finally:
            end = state.end_lease(lease)
            if pos < end:
                state.release(pos, end)
            if streamed:
                state.end_stream()
            state.end_probe()

    def _stream_or_back_off(self, state: FileState, response: http.client.HTTPResponse) -> None:
        try:
            self._stream_whole(state, response)
        except Transient as exc:
            self._back_off(state, state.stream_attempts, state.size - state.remaining(), exc)

    def _back_off(self, state: FileState, attempts: Attempts, pos: int, exc: Transient) -> None:
        """Sleep before the next try, or give up with NetworkError when tries are spent.

        A trickle is no progress: it would otherwise reset the count on every try.
        """
        if exc.reason.startswith(("HTTP 429", "HTTP 503")) or isinstance(
            exc.__cause__, ConnectionResetError
        ):
            self.pushback()
        if isinstance(exc, TooSlow):
            state.url = None  # ask the Hub again: its redirect may lead to a better server
            pos = attempts.last_progress
        if not attempts.failed(pos):
            raise NetworkError(
                f"{state.job.path}: {exc.reason} (gave up after {attempts.total} tries)"
            ) from exc
        delay = self.options.policy.delay(attempts.failures, exc.retry_after)
        if self.stop.wait(delay):
            raise Stopped()

    # -- one request -----------------------------------------------------------------------------

    def _open(self, state: FileState, start: int, end: int) -> tuple[http.client.HTTPResponse, str]:
        job = state.job
        whole = start == 0 and end == job.size
        headers = {"Accept-Encoding": "identity", "User-Agent": "model-provisioner"}
        if not whole:
            headers["Range"] = f"bytes={start}-{end - 1}"
        url = state.url or job.url
        response, final = open_url(
            self.conns, url, headers, self.settings.auth_headers, self.options.max_redirects
        )
        if url != job.url and response.status in (401, 403, 404, 410):
            # A remembered CDN URL expired: ask the Hub again for a fresh redirect.
            state.url = None
            raise Transient(f"HTTP {response.status} from {redact(final)}")
        if response.status == 416:  # ``bytes */N``: the server's size, when it says
            total = response.getheader("Content-Range", "").removeprefix("bytes */")
            if total.isdigit():
                self._check_total(state, int(total))
        check_status(response, final, job.path)
        if final != job.url:
            state.url = final
        if response.status == 200 and not whole:
            raise RangeIgnored(response)
        if response.status == 206:
            state.range_honoured()
        self._check_body(state, response, final, start, end)
        return response, final

    def _check_body(
        self, state: FileState, response: http.client.HTTPResponse, url: str, start: int, end: int
    ) -> None:
        """The answer must be exactly the bytes asked for, of a file of the expected size."""
        length = response.length
        if response.status == 206:
            got = parse_content_range(response.getheader("Content-Range"))
            if got is None or got[:2] != (start, end):
                raise Transient(f"wrong Content-Range from {redact(url)}")
            if got[2] is not None:
                self._check_total(state, got[2])
        elif length is not None:
            self._check_total(state, length)  # the whole file: its length is the file's size
        if length is not None and length != end - start:
            raise Transient(f"wrong Content-Length from {redact(url)}")

    @staticmethod
    def _check_total(state: FileState, total: int) -> None:
        """The server's idea of the file's size must be the listing's."""
        if total != state.size:
            raise IntegrityError(
                f"{state.job.path}: the server has {total} bytes, the listing said {state.size}"
            )

    def _check_end(self, state: FileState, response: http.client.HTTPResponse, url: str) -> None:
        """With no Content-Length (chunked or close-delimited), the body must end where the
        listing says; a longer one is another file, not ours."""
        if response.length is not None or not response.read(1):
            return
        if response.status == 200:
            raise IntegrityError(
                f"{state.job.path}: the server sent more than the listed {state.size} bytes"
            )
        raise Transient(f"a longer body than the range asked from {redact(url)}")

    def _fetch_once(self, state: FileState, start: int, lease: Lease) -> int:
        """One GET for [start, lease end); returns how far it got (the lease's end, which a
        thief may have moved down meanwhile, on success)."""
        url = state.url or state.job.url
        end = lease.end
        with wire_errors(url, self.disk(state)):
            try:
                asked = time.monotonic()
                response, url = self._open(state, start, end)
                answered = time.monotonic()
                self.floor.arm(redact(url))
                try:
                    pos = self._read_body(state, response, start, lease)
                finally:
                    self.floor.disarm()
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "get %s %d+%d: answer %.3f s, body %.3f s, cut at %+d",
                        state.job.path,
                        start,
                        end - start,
                        answered - asked,
                        time.monotonic() - answered,
                        pos - end,
                    )
                if pos < min(end, lease.end):
                    raise Transient(
                        f"the body ended after {pos - start} of {end - start} bytes "
                        f"from {redact(url)}"
                    )
                if pos < end:
                    self.conns.close()  # the tail was stolen: the rest of this answer is not ours
                else:
                    self._check_end(state, response, url)
            except RangeIgnored:
                raise
            except BaseException:
                self.conns.close()  # mid-answer, a connection's state is unknown
                raise
        return pos

    def _read_body(
        self, state: FileState, response: http.client.HTTPResponse, start: int, lease: Lease
    ) -> int:
        """Socket -> buffer -> partial file; journal a checkpoint every few MiB.

        The buffer is filled before each write, so writes stay aligned (direct I/O) except
        at the file's end or after a cut: those few bytes go through the page cache.
        """
        pos = mark = start
        size = len(self.buffer)
        try:
            while (limit := state.read_limit(lease, pos, size)) > pos:
                if self.stop.is_set():
                    raise Stopped()
                want = limit - pos
                if self.pool is not None:
                    self.pool.pace(state.ahead, pos, self.stop)
                got = self._fill(state, response, want, pos)
                pos += got
                if got < want:
                    break  # the body ended early
                if pos - mark >= self.options.checkpoint:
                    state.complete(mark, pos)
                    mark = pos
        finally:
            state.complete(mark, pos)
        return pos

    def _fill(
        self, state: FileState, response: http.client.HTTPResponse, want: int, pos: int
    ) -> int:
        """Fill ``want`` bytes of the buffer from the body, then write them at ``pos`` (also
        what came before a cut) and offer the buffer to the hasher."""
        got = 0
        with memoryview(self.buffer) as view:
            try:
                while got < want:
                    n = response.readinto(view[got:want])
                    if not n:
                        break
                    got += n
                    self._pace(n)
            finally:
                if got:
                    write_at(state, view[:got], pos)
                    self.stats.received(state.job.path, got)
        if got:
            self._offer(state, pos, got)
        return got

    def _pace(self, n: int) -> None:
        """Wait as the shared bandwidth cap says, if there is one (``--limit-rate``)."""
        if self.options.limiter is not None:
            self.options.limiter.take(n, self.stop)

    def _offer(self, state: FileState, pos: int, length: int) -> None:
        """Hand the written buffer to the hasher and go on with a spare, if there is one."""
        pool = self.pool
        if pool is None:
            return
        spare = pool.take()
        if spare is None:
            return
        if state.offer(pos, self.buffer, length, pool.window):
            self.buffer = spare
            pool.on_offer()
        else:
            pool.give(spare)

    # -- servers that ignore Range -----------------------------------------------------------------

    def _stream_whole(self, state: FileState, response: http.client.HTTPResponse) -> None:
        """Read the 200 answer from byte 0, writing only spans nobody has done or claimed."""
        url = state.url or state.job.url
        view = memoryview(self.buffer)
        pos = 0
        with wire_errors(url, self.disk(state)):
            try:
                if response.length is not None:
                    self._check_total(state, response.length)
                self.floor.arm(redact(url))
                while pos < state.size:
                    if self.stop.is_set():
                        raise Stopped()
                    n = response.readinto(view[: min(len(view), state.size - pos)])
                    if not n:
                        raise Transient(
                            f"the body ended after {pos} of {state.size} bytes from {redact(url)}"
                        )
                    self._write_free(state, view[:n], pos)
                    pos += n
                    self._pace(n)
                self._check_end(state, response, url)
            except BaseException:
                self.conns.close()
                raise
            finally:
                self.floor.disarm()

    def _write_free(self, state: FileState, data: memoryview, pos: int) -> None:
        for start, end in state.claim_within(pos, pos + len(data)):
            try:
                write_at(state, data[start - pos : end - pos], start, direct=False)
                self.stats.received(state.job.path, end - start)
            except BaseException:
                state.release(start, end)
                raise
            state.complete(start, end)
