"""The connection scaler against simulated links, with an injected clock (no network)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_provisioner._hub import HubSettings
from model_provisioner._transfer._scaling import Scaler, ScalingPolicy
from tests.hub import FixtureHub, HubServer
from tests.hub.shaping import Pacer
from tests.transfer_helpers import FAST, MiB, make_fetch, run_engine

POLICY = ScalingPolicy(start=4, cap=32, settle=0.1, measure=0.2, reprobe=5.0, cooldown=10.0)
TICK = 0.05


def simulate(
    scaler: Scaler, per_connection: float, link: float, seconds: float, start: float = 0.0
) -> list[int]:
    """Feed the scaler what a link with a per-connection cap and a total cap delivers."""
    now, received, levels = start, 0.0, []
    while now < start + seconds:
        now += TICK
        received += min(scaler.level * per_connection, link) * TICK
        levels.append(scaler.sample(now, int(received)))
    return levels


def test_a_capped_connection_makes_it_climb_to_the_link() -> None:
    """25 MB/s per connection, 400 MB/s link: 16 connections fill it; 32 would not pay."""
    scaler = Scaler(POLICY, 0.0)
    levels = simulate(scaler, 25e6, 400e6, 4.0)
    assert levels[0] == 4
    assert max(levels[:10]) >= 8  # climbing within half a second
    assert levels[-1] == 16  # 32 was tried, did not pay, and was left


def test_a_step_that_buys_some_throughput_keeps_the_connections_it_paid_for() -> None:
    """Each connection idles one round trip per part (89% busy at 25 MB/s), the link is
    400 MB/s: 16 move 356, 32 fill it (+12%, not the +25% a doubling must pay). The link's
    knee lies between: 16 * 400 / 356 = 18 are kept, then held through re-probes."""
    scaler = Scaler(dataclasses.replace(POLICY, start=16), 0.0)
    levels = simulate(scaler, 25e6 * 0.89, 400e6, 12.0)
    assert 32 in levels
    assert levels[-1] == 18
    assert min(levels[levels.index(32) :]) == 18  # never back below the knee


def test_a_link_one_connection_fills_stays_at_the_start() -> None:
    """Loopback: one connection is as fast as the link; more never pay."""
    scaler = Scaler(POLICY, 0.0)
    levels = simulate(scaler, 1e9, 1e9, 3.0)
    assert levels[-1] == 4 and max(levels) == 8


def test_the_cap_is_never_exceeded() -> None:
    scaler = Scaler(ScalingPolicy(start=2, cap=5), 0.0)
    levels = simulate(scaler, 1e6, 1e12, 5.0)
    assert max(levels) == 5 and levels[-1] == 5


def test_pushback_halves_and_holds_for_the_cooldown() -> None:
    scaler = Scaler(POLICY, 0.0)
    simulate(scaler, 25e6, 400e6, 3.0)
    assert scaler.pushback(3.0) == 8
    held = simulate(scaler, 25e6, 400e6, 9.0, start=3.0)
    assert max(held) == 8  # no climbing during the cooldown, though it would pay
    after = simulate(scaler, 25e6, 400e6, 6.0, start=12.0)
    assert after[-1] > 8


def test_a_plateau_is_probed_again_later() -> None:
    """The link frees up after a while: the scaler finds out by probing one step up."""
    scaler = Scaler(POLICY, 0.0)
    simulate(scaler, 25e6, 200e6, 3.0)
    assert scaler.level == 8
    simulate(scaler, 25e6, 800e6, 20.0, start=3.0)
    assert scaler.level > 16


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(1, 16),
    cap=st.integers(1, 64),
    per_connection=st.floats(1e3, 1e9),
    link=st.floats(1e3, 1e10),
    pushes=st.lists(st.floats(0, 10), max_size=5),
)
def test_levels_stay_between_one_and_the_cap(
    start: int, cap: int, per_connection: float, link: float, pushes: list[float]
) -> None:
    scaler = Scaler(ScalingPolicy(start=start, cap=cap), 0.0)
    now, received = 0.0, 0.0
    for _ in range(200):
        now += TICK
        received += min(scaler.level * per_connection, link) * TICK
        level = scaler.sample(now, int(received))
        assert 1 <= level <= cap
        if any(abs(p - now) < TICK / 2 for p in pushes):
            assert 1 <= scaler.pushback(now) <= cap


# -- against the fixture Hub shaped like a CDN ------------------------------------------------


def test_a_per_connection_cap_makes_the_engine_open_more_connections(
    fixture_hub: FixtureHub, tmp_path: Path
) -> None:
    """Each connection capped at 2 MB/s, the link at 100: starting from 2, it adds more."""
    fetch = make_fetch(fixture_hub, tmp_path, {"w.gguf": 12 * MiB})
    shaped = {"connection_rate": 2e6, "link_rate": 100e6, "response_delay": 0.01}
    options = dataclasses.replace(FAST, start_connections=2, max_connections=8)
    with HubServer(fixture_hub, **shaped) as server:
        endpoint = HubSettings(endpoint=server.url)
        hashes = run_engine(endpoint, fetch.jobs(endpoint), options)
        server.settle()
        peers = {e.peer for e in server.log() if e.listener == "cdn"}
    assert hashes["w.gguf"] == fetch.sha256("w.gguf")
    assert 2 < len(peers) <= 8


def test_the_pacer_books_bytes_back_to_back_without_saving_idle_time() -> None:
    pacer = Pacer(1000.0)
    assert pacer.reserve(500, now=10.0) == 0.0  # idle: go now
    assert pacer.reserve(500, now=10.0) == 0.5  # after the first 500 bytes' half second
    assert pacer.reserve(100, now=20.0) == 0.0  # ten idle seconds are not credit
    assert pacer.reserve(100, now=20.0) == pytest.approx(0.1)


def test_an_idle_connection_steals_the_tail_of_a_slow_part(
    fixture_hub: FixtureHub, tmp_path: Path
) -> None:
    """Two connections; the first part comes at 1 MB/s, the rest at 16 MB/s. When the fast one
    runs out of parts it takes the back half of the slow part."""
    fetch = make_fetch(fixture_hub, tmp_path, {"w.gguf": 16 * MiB})
    options = dataclasses.replace(FAST, start_connections=2, max_connections=2)
    with HubServer(fixture_hub, connection_rate=16e6) as server:
        server.inject("w.gguf", "slow_body", rate=1_000_000, times=1, where="cdn")
        endpoint = HubSettings(endpoint=server.url)
        hashes = run_engine(endpoint, fetch.jobs(endpoint), options)
        server.settle()
        starts = [e.range for e in server.log() if e.listener == "cdn" and e.range]
    assert hashes["w.gguf"] == fetch.sha256("w.gguf")
    spans = [tuple(int(x) for x in r.removeprefix("bytes=").split("-")) for r in starts]
    # A stolen tail is asked for as the back of a span another request already covers (the
    # slow request is not re-sent; it stops reading where the thief starts).
    assert any(a[0] > b[0] and a[1] == b[1] for a in spans for b in spans), starts


def test_time_before_the_first_byte_is_not_measured() -> None:
    """Connecting and redirects take a while: a rate of 0 then would make any step look good."""
    scaler = Scaler(POLICY, 0.0)
    for tick in range(1, 20):
        assert scaler.sample(tick * TICK, 0) == 4
    levels = simulate(scaler, 1e9, 1e9, 3.0, start=1.0)
    assert max(levels) == 8 and levels[-1] == 4
