"""The minimum-rate floor with an injected clock, and its counting reader on a real socket."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._transfer._meter import SLICE, TICK, RateFloor, TooSlow, _Socket
from model_provisioner._transfer._wire import RECV_BUFFER


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_trickle_is_caught_when_the_window_closes() -> None:
    clock = Clock()
    floor = RateFloor(1024, 30.0, clock)
    floor.arm("http://cdn/x")
    for _ in range(29):
        clock.now += 1.0
        floor.add(1)  # a byte a second: silent enough for nothing, too slow for us
    clock.now += 1.0
    with pytest.raises(TooSlow, match=r"slower than 1\.0 KB/s for 30\.0 s from http://cdn/x"):
        floor.add(1)


def test_a_fast_window_starts_the_next_one() -> None:
    clock = Clock()
    floor = RateFloor(1024, 30.0, clock)
    floor.arm("u")
    clock.now = 30.0
    floor.add(40_000)  # 1.3 KB/s over the first window: fine
    clock.now = 59.0
    floor.add(1)  # the second window is not over yet
    clock.now = 60.0
    with pytest.raises(TooSlow):
        floor.add(1)


def test_disarmed_or_zero_floor_counts_nothing() -> None:
    clock = Clock()
    floor = RateFloor(1024, 1.0, clock)
    clock.now = 100.0
    floor.add(1)  # never armed (headers, idle keep-alive)
    floor.arm("u")
    floor.disarm()
    clock.now = 200.0
    floor.add(1)
    off = RateFloor(0, 1.0, clock)
    off.arm("u")
    clock.now = 300.0
    off.add(0)


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(0, 10_000)), max_size=60))
def test_it_raises_only_for_a_closed_window_below_the_floor(
    steps: list[tuple[float, int]],
) -> None:
    """Model: the window since the last reset has lasted >= window and held < rate * time."""
    clock = Clock()
    floor = RateFloor(1000, 10.0, clock)
    floor.arm("u")
    start, got = 0.0, 0
    for delay, n in steps:
        clock.now += delay
        got += n
        elapsed = clock.now - start
        slow = elapsed >= 10.0 and got < 1000 * elapsed
        if slow:
            with pytest.raises(TooSlow):
                floor.add(n)
            return
        floor.add(n)
        if elapsed >= 10.0:
            start, got = clock.now, 0


def test_the_counting_reader_sees_each_recv() -> None:
    """Bytes are counted as they come out of the socket, below the buffered reader."""
    clock = Clock()
    floor = RateFloor(10**9, 1.0, clock)
    a, b = socket.socketpair()
    with a, b:
        reader = _Socket(a, floor).makefile("rb")
        floor.arm("u")
        b.sendall(b"x" * 100)
        assert reader.read1(1000) == b"x" * 100
        clock.now = 2.0
        b.sendall(b"y")
        with pytest.raises(TooSlow):
            reader.read1(1000)


def test_the_counting_reader_keeps_the_socket_open_until_it_is_closed() -> None:
    """http.client closes its socket as soon as an answer says ``Connection: close`` (HTTP/1.0,
    Python's http.server) and reads the body through the reader afterwards, as a real
    ``makefile`` allows: the reader holds a reference, the socket really closes with it
    (it read from a closed descriptor: 'Bad file descriptor')."""
    floor = RateFloor(0, 1.0, Clock())
    a, b = socket.socketpair()
    with a, b:
        reader = _Socket(a, floor).makefile("rb")
        a.close()  # what HTTPConnection.getresponse does for a closing answer
        b.sendall(b"body")
        assert reader.read1(100) == b"body"
        assert a.fileno() >= 0
        reader.close()
        assert a.fileno() == -1


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A TCP pair on loopback: SO_RCVLOWAT wakes a TCP reader's poll, not a Unix socket's."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
    return client, peer


def _lowat(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)


@pytest.mark.skipif(not hasattr(socket, "SO_RCVLOWAT"), reason="no SO_RCVLOWAT here")
def test_a_body_read_waits_for_a_slice_and_a_header_read_does_not() -> None:
    """A long read asks the kernel for a slice before waking; the buffered reader's own short
    reads (headers, also the next answer's on the same socket) are back to one byte, or they
    would wait for bytes that never come."""
    a, b = _tcp_pair()
    with a, b:
        a.settimeout(30.0)
        floor = RateFloor(0, 1.0)
        reader = _Socket(a, floor).makefile("rb")
        b.sendall(b"h" * 10)
        assert reader.read1(10) == b"h" * 10
        assert _lowat(a) == 1
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)  # as _wire sets it
        b.sendall(b"x" * SLICE)
        body = bytearray(4 * SLICE)
        got = reader.readinto1(body)
        assert _lowat(a) == SLICE
        assert body[:got] == b"x" * SLICE and floor.total == 10 + SLICE
        following = _Socket(a, floor).makefile("rb")  # the next answer on this keep-alive socket
        b.sendall(b"n" * 10)
        assert following.read1(10) == b"n" * 10
        assert _lowat(a) == 1


@pytest.mark.skipif(not hasattr(socket, "SO_RCVLOWAT"), reason="no SO_RCVLOWAT here")
def test_less_than_a_slice_is_read_as_it_is_and_silence_still_times_out() -> None:
    """A short body or a trickle is not held for the stall timeout (30 s here): the read takes
    what is queued after a tick, and counts it; silence still ends in the socket's timeout."""
    clock = Clock()
    a, b = _tcp_pair()
    with a, b:
        a.settimeout(30.0)
        floor = RateFloor(10**9, 1.0, clock)
        reader = _Socket(a, floor).makefile("rb")
        floor.arm("u")
        b.sendall(b"x" * 100)
        buffer = bytearray(4 * SLICE)
        assert reader.readinto1(buffer) == 100
        assert floor.total == 100
        clock.now = 2.0
        b.sendall(b"y")
        with pytest.raises(TooSlow):
            reader.readinto1(buffer)
        a.settimeout(TICK * 3)
        with pytest.raises(TimeoutError):
            reader.readinto1(buffer)
        b.sendall(b"z" * 10)
        assert reader.readinto1(buffer) == 10  # the socket is still usable, its timeout kept
        assert a.gettimeout() == pytest.approx(TICK * 3)
