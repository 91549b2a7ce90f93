"""The engine against the real fixture Hub: every fault ends in the right bytes or a clear error."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from model_provisioner._errors import AuthError, Cancelled, IntegrityError, NetworkError
from model_provisioner._hub import HubSettings
from model_provisioner._progress import TransferStats
from model_provisioner._store import journal_of
from model_provisioner._transfer import TransferEngine
from model_provisioner._transfer._journal import Journal, Validator, load
from model_provisioner._transfer._ranges import RangeSet
from tests.hub import FixtureHub, HubServer
from tests.platform_helpers import without_linux_calls
from tests.transfer_helpers import FAST, Fetch, MiB, make_fetch, run_engine

TOKEN = "hf_fixture_token"
BIG = "weights.gguf"
SMALL = "config.json"


@pytest.fixture(autouse=True, params=["linux", "portable"])
def platform(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test twice: as on Linux, and with the Linux-only calls gone (as on macOS)."""
    if request.param == "portable":
        without_linux_calls(monkeypatch)


@pytest.fixture
def fetch(fixture_hub: FixtureHub, tmp_path: Path) -> Fetch:
    return make_fetch(fixture_hub, tmp_path, {BIG: 20 * MiB + 123, SMALL: 5000, "empty.txt": 0})


@pytest.fixture
def settings(hub_server: HubServer) -> HubSettings:
    return HubSettings(endpoint=hub_server.url, token=TOKEN)


def assert_fetched(fetch: Fetch, jobs: Any, hashes: dict[str, str]) -> None:
    for job in jobs:
        assert hashes[job.path] == fetch.sha256(job.path)
        assert job.partial.read_bytes() == fetch.sources[job.path].read_bytes()
        assert not journal_of(job.partial).exists()


def test_clean_pull_of_several_files(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    jobs = fetch.jobs(settings)
    stats = TransferStats()
    hashes = TransferEngine(settings, FAST).run(jobs, stats, threading.Event())
    assert_fetched(fetch, jobs, hashes)
    assert all(c.done and c.verified == c.size for c in stats.copy().values())
    hub_server.settle()
    ranged = [e for e in hub_server.log() if e.file == BIG and e.range]
    assert len(ranged) >= 5  # 20 MiB in 4 MiB parts over several connections
    served = hub_server.bytes_served(BIG)
    assert served == fetch.sources[BIG].stat().st_size


def test_token_goes_to_the_hub_never_to_the_cdn(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    run_engine(settings, fetch.jobs(settings, [BIG]))
    log = [e for e in hub_server.log() if e.file == BIG]
    assert {e.listener for e in log} == {"hub", "cdn"}
    assert all(e.authorization for e in log if e.listener == "hub")
    assert not any(e.authorization for e in log if e.listener == "cdn")


FAULTS = [
    pytest.param({"kind": "reset", "after_bytes": 3 * MiB, "times": 2}, id="reset-mid-body"),
    pytest.param({"kind": "status", "status": 500, "times": 2}, id="500"),
    pytest.param({"kind": "status", "status": 502}, id="502"),
    pytest.param({"kind": "status", "status": 503, "times": 3}, id="503"),
    pytest.param({"kind": "rate_limit", "retry_after": 1}, id="429-retry-after"),
    pytest.param({"kind": "stall", "after_bytes": MiB, "seconds": 2.5}, id="stall"),
    pytest.param({"kind": "short_body", "after_bytes": 2 * MiB, "times": 2}, id="short-body"),
    pytest.param({"kind": "ignore_range", "times": None}, id="range-ignored"),
    pytest.param({"kind": "ignore_range", "times": 1}, id="range-ignored-once"),
    pytest.param({"kind": "no_linked_headers", "times": None}, id="no-linked-headers"),
    pytest.param({"kind": "corrupt", "offset": 5 * MiB, "times": 1}, id="corrupt-once"),
]


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_ends_in_the_right_bytes(
    fault: dict[str, Any], fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    injected = hub_server.inject(BIG, **fault)
    jobs = fetch.jobs(settings)
    started = time.monotonic()
    hashes = run_engine(settings, jobs)
    assert injected.fired >= 1
    assert_fetched(fetch, jobs, hashes)
    elapsed = time.monotonic() - started
    if fault["kind"] == "rate_limit":
        assert elapsed >= 0.9  # Retry-After was honoured
    if fault["kind"] == "stall":
        assert elapsed < 2.0  # abandoned after stall_timeout, not waited out


def test_corrupt_every_time_is_an_integrity_error(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(BIG, "corrupt", offset=7 * MiB, times=None)
    jobs = fetch.jobs(settings, [BIG])
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        run_engine(settings, jobs)


def test_corrupt_small_file_fails_its_git_sha1(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(SMALL, "corrupt", offset=10, times=None)
    with pytest.raises(IntegrityError, match="git sha1 mismatch"):
        run_engine(settings, fetch.jobs(settings, [SMALL]))


def test_persistent_503_gives_up_with_a_network_error(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(BIG, "status", status=503, times=None)
    with pytest.raises(NetworkError, match="HTTP 503") as info:
        run_engine(settings, fetch.jobs(settings, [BIG]))
    assert TOKEN not in str(info.value) and "Signature" not in str(info.value)


def test_private_repo_without_token_is_an_auth_error(
    fetch: Fetch, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    fixture_hub.set_flags("Fixture/Transfer-Test", private=True)
    anonymous = HubSettings(endpoint=hub_server.url, token=None)
    with pytest.raises(AuthError):
        run_engine(anonymous, fetch.jobs(anonymous, [SMALL]))


def test_cancel_keeps_partial_and_journal_for_resume(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(BIG, "stall", after_bytes=MiB, seconds=2.0, times=None, where="cdn")
    cancel = threading.Event()
    jobs = fetch.jobs(settings, [BIG])
    timer = threading.Timer(0.8, cancel.set)
    timer.start()
    with pytest.raises(Cancelled):
        run_engine(settings, jobs, dataclasses.replace(FAST, stall_timeout=10.0), cancel)
    assert jobs[0].partial.exists() and journal_of(jobs[0].partial).exists()
    done = load(jobs[0].partial, Validator(jobs[0].size, jobs[0].sha256, None))
    assert done is not None and done.total >= 2 * MiB
    hub_server.faults.clear()
    hashes = run_engine(settings, jobs)
    assert_fetched(fetch, jobs, hashes)
    again = sum(e.bytes_sent for e in hub_server.log() if e.file == BIG and e.fault is None)
    assert again == jobs[0].size - done.total  # only the missing bytes


def test_upstream_changed_discards_the_partial(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    job = fetch.jobs(settings, [BIG])[0]
    job.partial.parent.mkdir(parents=True, exist_ok=True)
    job.partial.write_bytes(b"\0" * job.size)
    other = Validator(job.size, "0" * 64, None)  # the journal of another upstream's bytes
    Journal(job.partial, other, RangeSet.of([(0, job.size)])).close()
    hashes = run_engine(settings, [job])
    assert_fetched(fetch, [job], hashes)


def test_same_blob_under_two_paths_is_fetched_once(
    fixture_hub: FixtureHub, tmp_path: Path, settings: HubSettings, hub_server: HubServer
) -> None:
    fetch = make_fetch(fixture_hub, tmp_path, {"a.gguf": 3 * MiB})
    (job,) = fetch.jobs(settings)
    twin = dataclasses.replace(job, path="b.gguf")
    hashes = run_engine(settings, [job, twin])
    assert hashes["a.gguf"] == hashes["b.gguf"] == fetch.sha256("a.gguf")
    hub_server.settle()
    assert hub_server.bytes_served("a.gguf") == 3 * MiB


def test_finished_partial_without_journal_is_rehashed_not_refetched(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    """Another process verified it but has not renamed it into the store yet."""
    job = fetch.jobs(settings, [BIG])[0]
    job.partial.parent.mkdir(parents=True, exist_ok=True)
    job.partial.write_bytes(fetch.sources[BIG].read_bytes())
    hashes = run_engine(settings, [job])
    assert_fetched(fetch, [job], hashes)
    assert hub_server.bytes_served(BIG) == 0


def test_unknown_partial_without_journal_is_replaced(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    job = fetch.jobs(settings, [BIG])[0]
    job.partial.parent.mkdir(parents=True, exist_ok=True)
    job.partial.write_bytes(b"\1" * job.size)
    hub_server.inject(BIG, "corrupt", offset=MiB, times=1)  # the one retry is still there
    hashes = run_engine(settings, [job])
    assert_fetched(fetch, [job], hashes)


def test_direct_io_with_a_cut_mid_buffer(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    """O_DIRECT for aligned writes; the unaligned rest (tail, bytes before a cut) is cached."""
    hub_server.inject(BIG, "reset", after_bytes=MiB + 777, times=2)
    jobs = fetch.jobs(settings)
    hashes = run_engine(settings, jobs, dataclasses.replace(FAST, direct_io=True))
    assert_fetched(fetch, jobs, hashes)


# A window of a few buffers: some bytes are hashed from offered buffers, some read back from the
# file, and workers are paced; every fault must still end in the right bytes.
SMALL_WINDOW = dataclasses.replace(FAST, buffer_size=256 * 1024, hash_window=MiB)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"kind": "reset", "after_bytes": MiB + 777, "times": 3}, id="reset"),
        pytest.param({"kind": "short_body", "after_bytes": 2 * MiB, "times": 2}, id="short"),
        pytest.param({"kind": "corrupt", "offset": 5 * MiB, "times": 1}, id="corrupt-once"),
        pytest.param({"kind": "ignore_range", "times": 1}, id="range-ignored-once"),
    ],
)
def test_small_hash_window_mixes_memory_and_read_back(
    fault: dict[str, Any], fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(BIG, **fault)
    jobs = fetch.jobs(settings)
    hashes = run_engine(settings, jobs, SMALL_WINDOW)
    assert_fetched(fetch, jobs, hashes)


def test_no_hash_window_reads_everything_back(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(BIG, "reset", after_bytes=3 * MiB, times=2)
    jobs = fetch.jobs(settings)
    hashes = run_engine(settings, jobs, dataclasses.replace(FAST, hash_window=0))
    assert_fetched(fetch, jobs, hashes)


def test_resume_with_a_small_window_is_paced_past_the_journal(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    """Half the file is on disk from an earlier run: it is read back, the rest hashed in memory."""
    job = fetch.jobs(settings, [BIG])[0]
    data = fetch.sources[BIG].read_bytes()
    job.partial.parent.mkdir(parents=True, exist_ok=True)
    job.partial.write_bytes(data[: 10 * MiB] + b"\0" * (job.size - 10 * MiB))
    Journal(job.partial, job_validator(job), RangeSet.of([(0, 10 * MiB)])).close()
    hashes = run_engine(settings, [job], SMALL_WINDOW)
    assert_fetched(fetch, [job], hashes)
    assert hub_server.bytes_served(BIG) == job.size - 10 * MiB


def job_validator(job: Any) -> Validator:
    return Validator(job.size, job.sha256, job.git_sha1)


def test_range_ignored_streams_the_file_once(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    """A server that answers every Range with 200 and the whole body: one stream, not one per
    connection (each used to read the whole body: about 3x the file on the wire)."""
    hub_server.inject(BIG, "ignore_range", times=None)
    jobs = fetch.jobs(settings, [BIG])
    hashes = run_engine(settings, jobs, dataclasses.replace(FAST, max_connections=4))
    assert_fetched(fetch, jobs, hashes)
    hub_server.settle()
    assert hub_server.bytes_served(BIG) <= jobs[0].size + MiB


# -- a minimum rate (a trickle is not a live connection) ----------------------------------------

TRICKLE = dataclasses.replace(FAST, min_rate=256 * 1024, rate_window=0.4, stall_timeout=5.0)


def test_a_trickling_connection_is_cut_and_retried(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    slow = hub_server.inject(BIG, "slow_body", after_bytes=MiB, rate=2000, times=1)
    jobs = fetch.jobs(settings, [BIG])
    hashes = run_engine(settings, jobs, TRICKLE)
    assert_fetched(fetch, jobs, hashes)
    hub_server.settle()
    (trickled,) = [e for e in hub_server.log() if e.fault == "slow_body"]
    assert slow.fired == 1 and not trickled.complete  # cut by the client, not waited out


def test_a_server_that_always_trickles_fails_with_one_line(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(BIG, "slow_body", after_bytes=0, rate=2000, times=None)
    message = r"slower than 262\.1 KB/s for 0\.\d s .*gave up after 4 tries"
    with pytest.raises(NetworkError, match=message):
        run_engine(settings, fetch.jobs(settings, [BIG]), TRICKLE)


# -- the body is exactly the listed size -------------------------------------------------------


def unverified(fetch: Fetch, settings: HubSettings, path: str, size: int) -> Any:
    """A job whose listing gave ``size`` and no hash: only the length can catch a wrong body."""
    (job,) = fetch.jobs(settings, [path])
    return dataclasses.replace(job, size=size, sha256=None, git_sha1=None, unverified=True)


def test_a_job_without_a_hash_runs_only_when_opted_in(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    """No published hash: refused before any byte moves, unless the user allowed it; then the
    sha256 is still computed (it becomes the hash first seen here)."""
    job = unverified(fetch, settings, SMALL, fetch.sources[SMALL].stat().st_size)
    with pytest.raises(IntegrityError, match="no published hash"):
        run_engine(settings, [dataclasses.replace(job, unverified=False)])
    assert not [e for e in hub_server.log() if e.file == SMALL]
    assert run_engine(settings, [job]) == {SMALL: fetch.sha256(SMALL)}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", [SMALL, BIG])
def test_a_longer_body_than_listed_is_refused(
    chunked: bool, path: str, fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    if chunked:
        hub_server.inject(path, "chunked", times=None)
    job = unverified(fetch, settings, path, fetch.sources[path].stat().st_size - 100)
    with pytest.raises(IntegrityError, match=r"listing said|more than the listed"):
        run_engine(settings, [job])


@pytest.mark.parametrize("path", [SMALL, BIG])
def test_a_shorter_body_than_listed_is_refused(
    path: str, fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    job = unverified(fetch, settings, path, fetch.sources[path].stat().st_size + 100)
    with pytest.raises(IntegrityError, match="listing said"):
        run_engine(settings, [job])


def test_a_shorter_chunked_body_than_listed_is_refused(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    """No Content-Length: the body just ends early; the retry of the rest then learns the
    server's size from its 416."""
    hub_server.inject(SMALL, "chunked", times=None)
    job = unverified(fetch, settings, SMALL, 5100)
    with pytest.raises(IntegrityError, match="the server has 5000 bytes, the listing said 5100"):
        run_engine(settings, [job])
    hub_server.settle()
    assert [e.status for e in hub_server.log() if e.file == SMALL] == [200, 416]


def test_a_chunked_body_of_the_right_length_is_fine(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject("*", "chunked", times=None)
    jobs = fetch.jobs(settings)
    assert_fetched(fetch, jobs, run_engine(settings, jobs))


def test_range_ignored_with_a_longer_body_is_refused(
    fetch: Fetch, settings: HubSettings, hub_server: HubServer
) -> None:
    hub_server.inject(BIG, "ignore_range", times=None)
    job = unverified(fetch, settings, BIG, fetch.sources[BIG].stat().st_size - 100)
    with pytest.raises(IntegrityError, match="listing said"):
        run_engine(settings, [job])
