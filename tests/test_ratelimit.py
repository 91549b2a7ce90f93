"""The bandwidth cap: its arithmetic on a fake clock, and a real capped pull over loopback.

No timed assertion: the real pull checks only that it took at least the minimum time the cap
allows (bytes / rate, minus the burst), which a slow machine cannot break.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner import ModelProvisioner
from model_provisioner._ratelimit import RateLimiter
from model_provisioner._transfer import TransferOptions
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


reads = st.lists(st.integers(1, 4 << 20), min_size=1, max_size=60)
rates = st.integers(10_000, 1 << 30)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rates, reads, st.lists(st.floats(0, 2), max_size=60))
def test_a_reader_that_waits_as_told_never_beats_the_cap(
    rate: int, sizes: list[int], idles: list[float]
) -> None:
    """Whatever the reads and idle spells, bytes taken by time t <= burst + rate * t."""
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, wait=clock.sleep)
    taken = 0
    for i, n in enumerate(sizes):
        clock.sleep(idles[i] if i < len(idles) else 0.0)
        taken += n
        limiter.take(n)
        assert taken <= limiter.burst + rate * clock.now + 1e-6 * taken


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rates, reads)
def test_a_busy_reader_gets_the_full_rate(rate: int, sizes: list[int]) -> None:
    """No idling: the time spent is exactly (bytes - burst) / rate, so the cap is not a floor."""
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, wait=clock.sleep)
    for n in sizes:
        limiter.take(n)
    expected = max(0.0, (sum(sizes) - limiter.burst) / rate)
    assert clock.now == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_the_bucket_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1_000_000, burst=100_000, clock=clock, wait=clock.sleep)
    assert limiter.debit(100_000) == 0.0
    clock.now = 1000.0  # a long idle spell saves no more than the burst
    assert limiter.debit(100_000) == 0.0
    assert limiter.debit(500_000) == pytest.approx(0.5)


def test_threads_share_one_cap() -> None:
    """Debts add up across threads: N readers of B bytes wait (N*B - burst) / rate in total."""
    clock = FakeClock()
    limiter = RateLimiter(1_000_000, burst=0.0, clock=clock, wait=clock.sleep)
    delays: list[float] = []
    threads = [
        threading.Thread(target=lambda: delays.append(limiter.debit(250_000))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(delays) == pytest.approx(2.0)
    assert sorted(delays) == pytest.approx([0.25 * (i + 1) for i in range(8)])


def test_a_stopped_reader_does_not_wait_out_its_debt() -> None:
    limiter = RateLimiter(10_000, burst=0.0)
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    limiter.take(1_000_000, stop)  # 100 s of debt
    assert time.monotonic() - started < 5


def test_a_low_cap_uses_fewer_connections() -> None:
    """Each connection keeps well above the engine's minimum rate, which would drop it."""
    options = TransferOptions(max_connections=8, min_rate=1024)
    assert options.connections == 8
    assert TransferOptions(max_connections=8, limiter=RateLimiter(50_000_000)).connections == 8
    assert TransferOptions(max_connections=8, limiter=RateLimiter(20_000)).connections == 2
    assert TransferOptions(max_connections=8, limiter=RateLimiter(10_000)).connections == 1


SIZE = 3 << 20
RATE = 1_000_000


def test_a_capped_pull_takes_at_least_the_time_the_cap_allows(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, "Org/Capped-GGUF", quants=("Q4_K_M",), pad_to=SIZE)
    provisioner = ModelProvisioner(home, endpoint=hub_server.url, limit_rate=RATE)
    started = time.monotonic()
    path = provisioner.pull("Org/Capped-GGUF")
    elapsed = time.monotonic() - started
    size = path.stat().st_size
    limiter = provisioner.limiter
    assert limiter is not None and limiter.rate == RATE
    assert elapsed >= (size - limiter.burst) / RATE


def test_the_cap_comes_from_the_config_file_unless_an_argument_beats_it(home: Path) -> None:
    (home / "config.toml").write_text('limit_rate = "2M"\n')
    assert ModelProvisioner(home).limit_rate == 2_000_000
    limiter = ModelProvisioner(home).limiter
    assert limiter is not None and limiter.rate == 2_000_000
    assert ModelProvisioner(home, limit_rate=500_000).limit_rate == 500_000
    shared = ModelProvisioner(home)
    assert shared.limiter is shared.limiter  # one bucket for every pull of this provisioner
