"""Progress counters and events, on an injected clock: speed, ETA, stalls, rewinds."""

from __future__ import annotations

import threading

from model_provisioner._progress import (
    DownloadProgress,
    ProgressReporter,
    Stage,
    Ticker,
    TransferStats,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_speed_eta_and_counts_over_the_window() -> None:
    clock = Clock()
    stats = TransferStats(clock=clock)
    events: list[DownloadProgress] = []
    reporter = ProgressReporter("hf:o/r", events.append, clock=clock, window=3.0)
    stats.add_file("a.gguf", 1000)
    stats.add_file("b.json", 10)
    first = reporter.sample(stats, base_done=50, base_total=50)
    assert (first.bytes_done, first.bytes_total, first.speed, first.eta) == (50, 1060, 0.0, None)
    clock.now += 1.0
    stats.received("a.gguf", 200)
    stats.verified("a.gguf", 100)
    event = reporter.sample(stats, base_done=50, base_total=50)
    assert (event.bytes_done, event.bytes_verified, event.speed) == (250, 150, 200.0)
    assert event.eta == (1060 - 250) / 200.0
    assert event.current_file == "a.gguf" and event.active_files == (("a.gguf", 200, 1000),)
    stats.finish("b.json")
    done = reporter.sample(stats, 0, 0)
    assert (done.files_done, done.files_total, done.stage) == (1, 2, Stage.DOWNLOADING)
    assert events[-1] is done and reporter.last is done


def test_a_transfer_with_no_byte_for_a_while_is_stalled_at_speed_zero() -> None:
    clock = Clock()
    stats = TransferStats(clock=clock)
    reporter = ProgressReporter("hf:o/r", None, clock=clock, stall_after=5.0)
    stats.add_file("a.gguf", 1000)
    stats.received("a.gguf", 100)
    clock.now += 6.0
    event = reporter.sample(stats, 0, 0)
    assert event.stalled and event.speed == 0.0 and event.eta is None


def test_rewound_bytes_are_not_progress() -> None:
    stats = TransferStats(clock=Clock())
    stats.add_file("a.gguf", 1000)
    stats.received("a.gguf", 300)
    stats.verified("a.gguf", 300)
    stats.rewind("a.gguf", 500)
    counter = stats.copy()["a.gguf"]
    assert (counter.received, counter.verified) == (0, 0)


def test_events_are_json_ready_and_stages_know_the_end() -> None:
    event = DownloadProgress(stage=Stage.COMPLETE, reference="hf:o/r", active_files=(("a", 1, 2),))
    data = event.to_dict()
    assert data["stage"] == "complete" and data["active_files"] == [
        {"path": "a", "bytes_done": 1, "bytes_total": 2}
    ]
    assert Stage.COMPLETE.terminal and Stage.ERROR.terminal and not Stage.VERIFYING.terminal


def test_ticker_ticks_until_stopped() -> None:
    ticked = threading.Event()
    with Ticker(ticked.set, interval=0.01):
        assert ticked.wait(5)
