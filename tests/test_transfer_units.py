"""Transfer engine pieces without a network: ranges, journal, retry policy, error mapping."""

from __future__ import annotations

import dataclasses
import errno
import http.client
import os
import socket
import ssl
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._errors import AuthError, DiskSpaceError, ModelNotFound, NetworkError
from model_provisioner._store import journal_of
from model_provisioner._transfer._journal import Journal, Validator, load, parse
from model_provisioner._transfer._pool import BufferPool
from model_provisioner._transfer._ranges import MiB, RangeSet, next_part, part_size
from model_provisioner._transfer._retry import Attempts, RetryPolicy
from model_provisioner._transfer._wire import (
    DiskContext,
    Transient,
    is_local,
    parse_content_range,
    parse_retry_after,
    redact,
    wire_errors,
)

spans = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)), max_size=12)


# -- ranges -----------------------------------------------------------------------------------


@given(spans, spans)
def test_rangeset_matches_a_set_of_bytes(
    adds: list[tuple[int, int]], removes: list[tuple[int, int]]
) -> None:
    ranges, model = RangeSet(), set()
    for a, b in adds:
        ranges.add(a, b)
        model |= set(range(a, b))
    for a, b in removes:
        ranges.remove(a, b)
        model -= set(range(a, b))
    assert {i for s, e in ranges for i in range(s, e)} == model
    assert ranges.total == len(model)
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(ranges.spans, ranges.spans[1:], strict=False))
    gaps = {i for s, e in ranges.gaps(200) for i in range(s, e)}
    assert gaps == set(range(200)) - model


def test_prefix_and_gaps() -> None:
    ranges = RangeSet.of([(0, 10), (20, 30)])
    assert ranges.prefix() == 10
    assert ranges.gaps(40) == [(10, 20), (30, 40)]
    assert ranges.gaps(40, start=25) == [(30, 40)]
    assert RangeSet.of([(5, 10)]).prefix() == 0


def test_part_size_shrinks_toward_the_end() -> None:
    assert part_size(1 << 30, 8) == 32 * MiB
    assert part_size(100 << 30, 8) == 64 * MiB
    assert part_size(10 * MiB, 8) == 4 * MiB


def test_next_part_takes_the_first_free_span() -> None:
    busy = RangeSet.of([(0, 100)])
    assert next_part(1000, busy, 300) == (100, 400)
    assert next_part(100, busy, 300) is None


# -- journal ----------------------------------------------------------------------------------


def test_journal_round_trip_and_torn_last_line(tmp_path: Path) -> None:
    partial = tmp_path / "x.part"
    validator = Validator(1000, "a" * 64, None)
    journal = Journal(partial, validator, RangeSet.of([(0, 10)]))
    journal.append(100, 200)
    journal.append(10, 100)
    journal.sync()
    journal.close()
    journal.close()  # idempotent
    with open(journal_of(partial), "a") as f:
        f.write("300 40")  # a kill in the middle of a line
    done = load(partial, validator)
    assert done is not None and done.spans == [(0, 200)]


def test_journal_of_another_upstream_is_ignored(tmp_path: Path) -> None:
    partial = tmp_path / "x.part"
    Journal(partial, Validator(1000, "a" * 64, None), RangeSet.of([(0, 10)])).close()
    assert load(partial, Validator(1000, "b" * 64, None)) is None
    assert load(partial, Validator(999, "a" * 64, None)) is None
    assert load(tmp_path / "missing.part", Validator(1000, "a" * 64, None)) is None


def test_journal_ignores_garbage_and_out_of_range_lines() -> None:
    header = '{"version": 1, "size": 50, "sha256": null, "git_sha1": "x", "etag": null}\n'
    parsed = parse(header + "0 10\nnope\n40 60\n-5 3\n10 20\n", 50)
    assert parsed is not None and parsed[1].spans == [(0, 20)]
    assert parse("not json\n0 10\n", 50) is None


def test_journal_of_an_earlier_version_with_an_etag_key_still_resumes(tmp_path: Path) -> None:
    partial = tmp_path / "x.part"
    header = '{"version": 1, "size": 50, "sha256": null, "git_sha1": "x", "etag": null}\n'
    journal_of(partial).write_text(header + "0 10\n")
    done = load(partial, Validator(50, None, "x"))
    assert done is not None and done.spans == [(0, 10)]
    assert load(partial, Validator(50, None, "y")) is None


# -- retries ----------------------------------------------------------------------------------


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0, retry_after_cap=30.0)
    assert [policy.delay(n, None, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert policy.delay(3, None, rand=lambda: 0.0) == 2.0  # jitter keeps at least half
    assert policy.delay(1, 5.0) == 5.0
    assert policy.delay(1, 3600.0) == 30.0


def test_attempts_reset_on_progress_and_stay_bounded() -> None:
    attempts = Attempts(RetryPolicy(retries=2, max_total=5))
    assert attempts.failed(0) and attempts.failed(0)
    assert not attempts.failed(0)  # third failure without progress
    attempts = Attempts(RetryPolicy(retries=2, max_total=5))
    assert all(attempts.failed(p) for p in (1, 2, 3, 4, 5))
    assert not attempts.failed(6)  # progress, but the total is spent


# -- wire: parsing, redaction, error mapping ----------------------------------------------------


def test_parse_headers() -> None:
    assert parse_content_range("bytes 0-9/100") == (0, 10, 100)
    assert parse_content_range("bytes 5-9/*") == (5, 10, None)
    assert parse_content_range("items 0-9/100") is None
    assert parse_content_range(None) is None
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_redact_drops_userinfo_and_signed_query() -> None:
    url = "https://user:hf_secret@cdn.example:8443/repos/a/b?Signature=abc&X-Amz-Security-Token=t"
    assert redact(url) == "https://cdn.example:8443/repos/a/b"


@pytest.mark.parametrize(
    "raised",
    [
        TimeoutError(),
        socket.timeout(),  # noqa: UP041 - the alias is what old code raises
        ConnectionResetError(),
        ConnectionRefusedError(),
        BrokenPipeError(),
        http.client.IncompleteRead(b"", 10),
        http.client.RemoteDisconnected("closed"),
        http.client.BadStatusLine("x"),
        ssl.SSLError(),
        socket.gaierror(),
        OSError(errno.EHOSTUNREACH, "no route"),
    ],
)
def test_wire_errors_map_network_failures_to_transient(raised: BaseException) -> None:
    with pytest.raises(Transient) as info, wire_errors("http://h/p?Signature=hf_secret"):
        raise raised
    assert "hf_secret" not in str(info.value)


def test_wire_errors_map_enospc_to_disk_space(tmp_path: Path) -> None:
    disk = DiskContext(tmp_path / "x.part", need=lambda: 3 << 30, have=lambda: 1 << 30)
    with (
        pytest.raises(DiskSpaceError, match=r"need 3\.2 GB, have 1\.1 GB"),
        wire_errors("http://h/p", disk),
    ):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("ours", [AuthError("a"), ModelNotFound("m"), NetworkError("n")])
def test_wire_errors_let_ours_through(ours: BaseException) -> None:
    with pytest.raises(type(ours)), wire_errors("http://h/p"):
        raise ours


def test_wire_errors_leave_other_os_errors_alone() -> None:
    with pytest.raises(PermissionError), wire_errors("http://h/p"):
        raise PermissionError(errno.EACCES, "denied")


# -- offered buffers (hashing from memory) ------------------------------------------------------


def test_offers_are_hashed_in_order_between_read_backs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_provisioner._transfer import TransferJob
    from model_provisioner._transfer import _file as file_module
    from model_provisioner._transfer._direct import aligned_buffer
    from model_provisioner._transfer._file import FileState

    job = TransferJob("http://x/f", "f", 40, None, None, tmp_path / "f.part")
    state = FileState(job, RetryPolicy())
    state.open(fresh=True, prealloc=False, direct=False)
    try:
        a, b = aligned_buffer(4096), aligned_buffer(4096)
        assert state.offer(10, a, 10, window=100)
        assert not state.offer(200, b, 10, window=100)  # beyond the window: read back later
        assert state.next_to_hash() == (None, 0)  # nothing contiguous yet
        state.complete(0, 10)
        assert state.next_to_hash() == (None, 10)  # read [0, 10) back, stop at the offer
        state.hashed = 10
        assert state.next_to_hash() == (a, 10)
        state.hashed = 20
        state.complete(10, 30)
        assert state.next_to_hash() == (None, 10)
        assert state.ahead(35) == 0  # the hasher is within HASHER_SLACK of the prefix
        monkeypatch.setattr(file_module, "HASHER_SLACK", 5)
        assert state.ahead(35) == 15  # 10 contiguous bytes wait for it: pace
        state.pace_floor = 30
        assert state.ahead(35) == 0  # it reads up to the journal's end anyway: caught up
        assert state.offer(30, b, 10, window=100)
        assert state.drain_stash() == [b]
    finally:
        state.close()


def test_range_support_is_probed_by_one_request_before_parts_go_out(tmp_path: Path) -> None:
    """Until the first ranged answer, nobody else claims the file; a 200 makes one stream."""
    from model_provisioner._transfer import TransferJob
    from model_provisioner._transfer._file import FileState

    woken: list[bool] = []
    job = TransferJob("http://x/f", "f", 100, None, None, tmp_path / "f.part")
    state = FileState(job, RetryPolicy())
    state.wake = lambda: woken.append(True)
    assert state.claim(10) == (0, 10) and state.probing
    assert state.claim(10) is None  # the probe's answer is not in yet
    state.end_probe()  # it failed before any status line: someone else may probe
    assert woken == [True] and state.claim(10) == (10, 20)
    state.range_honoured()
    assert state.claim(10) == (20, 30) and state.claim(10) == (30, 40)

    other = FileState(dataclasses.replace(job, path="g"), RetryPolicy())
    assert other.claim(10) == (0, 10)
    other.release(0, 10)
    assert other.become_streamer()  # the 200 is streamed by this connection...
    assert not other.become_streamer()  # ...and a second 200 is dropped, not streamed again
    assert other.claim(10) is None
    other.end_stream()
    assert other.claim(10) == (0, 100)  # the next stream takes everything still missing


def test_steal_takes_the_back_half_of_the_largest_unread_tail(tmp_path: Path) -> None:
    from model_provisioner._transfer import TransferJob
    from model_provisioner._transfer._file import FileState

    job = TransferJob("http://x/f", "f", 64 * MiB, None, None, tmp_path / "f.part")
    state = FileState(job, RetryPolicy())
    state.range_honoured()
    small, large = state.claim(4 * MiB), state.claim(16 * MiB)
    assert small == (0, 4 * MiB) and large == (4 * MiB, 20 * MiB)
    lease_small, lease_large = state.lease(small), state.lease(large)
    assert state.read_limit(lease_large, 4 * MiB, MiB) == 5 * MiB  # reading its first MiB
    assert state.steal(MiB) == (13 * MiB, 20 * MiB)  # half of what is past 5 MiB, aligned
    assert lease_large.end == 13 * MiB
    assert state.read_limit(lease_small, 0, MiB) == MiB
    assert state.steal(4 * MiB) == (9 * MiB, 13 * MiB)  # 13 - 5 = 8 left: the back 4
    assert state.read_limit(lease_large, 8 * MiB + 10, MiB) == 9 * MiB  # stops at the cut
    assert state.steal(4 * MiB) is None  # nothing left that is worth a request
    assert state.end_lease(lease_large) == 9 * MiB
    assert state.steal(MiB) == (3 * MiB, 4 * MiB)  # only the small one is in flight now


# -- a server on this host ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/x", True),
        ("http://127.0.0.2/x", True),
        ("https://[::1]:443/x", True),
        ("http://localhost:1/x", True),
        ("http://LOCALHOST/x", True),
        ("http://mirror.localhost/x", True),
        ("https://huggingface.co/x", False),
        ("http://10.0.0.1/x", False),
        ("http://[::2]/x", False),
        ("http://127.0.0.1.example.com/x", False),
        ("http:///x", False),
    ],
)
def test_is_local_by_name_or_loopback_address(url: str, local: bool) -> None:
    assert is_local(url) is local


def test_scaling_starts_lower_on_this_host_and_keeps_the_cap() -> None:
    from model_provisioner._transfer import TransferOptions

    options = TransferOptions(start_connections=8, local_connections=2, max_connections=32)
    assert (options.scaling().start, options.scaling().cap) == (8, 32)
    assert (options.scaling(local=True).start, options.scaling(local=True).cap) == (2, 32)
    capped = dataclasses.replace(options, max_connections=1)
    assert capped.scaling(local=True).start == capped.scaling().start == 1


# -- O_DIRECT with a fallback -------------------------------------------------------------------


def test_direct_io_falls_back_to_the_cache_when_the_kernel_refuses(tmp_path: Path) -> None:
    """A buffer O_DIRECT cannot take (here: not page-aligned in memory, where ext4 and xfs
    answer EINVAL) is still written and read back whole, through the ordinary descriptor."""
    from model_provisioner._platform import open_direct
    from model_provisioner._transfer._direct import aligned_buffer, read_at, write_at

    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    f = _Descriptors(fd, open_direct(fd))
    try:
        data = bytearray(os.urandom(8192 + 1))
        write_at(f, memoryview(data)[1:], 0)  # aligned offset and length, odd address
        assert path.read_bytes() == data[1:]
        view = memoryview(bytearray(8192 + 1))[1:]
        assert read_at(f, view, 0, 8192) == 8192
        assert bytes(view) == data[1:]
        whole = aligned_buffer(8192)
        assert read_at(f, memoryview(whole), 4096, 4096) == 4096
        assert whole[:4096] == data[1 + 4096 :]
    finally:
        if f.dfd >= 0:
            os.close(f.dfd)
        os.close(fd)


@dataclasses.dataclass
class _Descriptors:
    """The part of a FileState that direct I/O uses."""

    fd: int
    dfd: int
    direct_refused: bool = False


def test_a_file_system_that_refuses_direct_io_is_asked_once_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that opens O_DIRECT but refuses the I/O (FUSE, NFS: EINVAL; injected
    here, as tmpfs refuses at open) costs one failed call per file, not one per buffer."""
    from model_provisioner._platform import read_into as read_into_fd
    from model_provisioner._transfer import _direct

    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    f = _Descriptors(fd, os.open(path, os.O_RDWR))  # stands in for the O_DIRECT descriptor
    tried: list[int] = []
    real_pwrite, real_read = os.pwrite, read_into_fd

    def refused(target: int) -> None:
        tried.append(target)
        if target == f.dfd:
            raise OSError(errno.EINVAL, "Invalid argument")

    def pwrite(target: int, data: memoryview, offset: int) -> int:
        refused(target)
        return real_pwrite(target, data, offset)

    def read_into(target: int, view: memoryview, offset: int) -> int:
        refused(target)
        return real_read(target, view, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    monkeypatch.setattr("model_provisioner._transfer._direct.read_into", read_into)
    try:
        data = os.urandom(4 * 4096)
        buffer = _direct.aligned_buffer(4096)
        for i in range(4):
            buffer[:] = data[i * 4096 : (i + 1) * 4096]
            _direct.write_at(f, memoryview(buffer), i * 4096)
        for i in range(4):
            assert _direct.read_at(f, memoryview(buffer), i * 4096, 4096) == 4096
            assert buffer[:] == data[i * 4096 : (i + 1) * 4096]
        assert (tried.count(f.dfd), tried.count(fd)) == (1, 8)
        assert path.read_bytes() == data and f.direct_refused
    finally:
        os.close(f.dfd)
        os.close(fd)


def test_a_run_starts_at_the_local_level_only_when_every_file_is_on_this_host(
    tmp_path: Path,
) -> None:
    import threading

    from model_provisioner._hub import HubSettings
    from model_provisioner._progress import TransferStats
    from model_provisioner._transfer import TransferJob, TransferOptions
    from model_provisioner._transfer._file import FileState
    from model_provisioner._transfer._run import Run

    options = TransferOptions(start_connections=16, local_connections=2)

    def level(*urls: str) -> int:
        files = [
            FileState(TransferJob(url, f"f{i}", 1, None, None, tmp_path / f"{i}"), options.policy)
            for i, url in enumerate(urls)
        ]
        run = Run(files, TransferStats(), threading.Event(), HubSettings(), options)
        run.finisher.shutdown()
        return run.wanted

    assert level("http://127.0.0.1:1/a", "http://[::1]/b") == 2
    assert level("http://127.0.0.1:1/a", "https://hub.example/b") == 16
    assert level("https://hub.example/a") == 16


def test_a_pool_without_pacing_never_asks_how_far_ahead_a_worker_is() -> None:
    """A remote run's workers never wait for the hasher; a local run's do (here ``stop`` is
    set, so the paced one gives up after asking once: no waiting in the test)."""
    asked: list[int] = []

    def ahead(pos: int) -> int:
        asked.append(pos)
        return 1 << 40  # far past any window

    stop = threading.Event()
    stop.set()
    BufferPool(2, MiB, 2 * MiB, lambda: None, pacing=False).pace(ahead, 7, stop)
    assert asked == []
    BufferPool(2, MiB, 2 * MiB, lambda: None).pace(ahead, 7, stop)
    assert asked and set(asked) == {7}
