"""Real processes at once: two pulls of one model do the work once; SIGTERM stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

SIZE = 48 << 20
REPO = "Org/Big-GGUF"
FILE = "big.Q4_K_M.gguf"


def pull(home: Path, url: str, *args: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("provisioner")
    env = {**os.environ, "HF_ENDPOINT": url}
    return subprocess.Popen(
        [str(exe), "--home", str(home), "--json", "pull", *args, REPO],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    last = json.loads(out.splitlines()[-1])
    assert isinstance(last, dict)
    return last


def test_two_processes_pulling_one_model_fetch_it_once(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=SIZE)
    hub_server.inject(FILE, "stall", after_bytes=1 << 20, seconds=1.5)
    first = pull(home, hub_server.url)
    time.sleep(0.3)
    second = pull(home, hub_server.url)
    a, b = result(first), result(second)
    assert a["path"] == b["path"] and a["commit"] == b["commit"]
    assert hub_server.bytes_served(FILE) < SIZE * 1.2


def test_sigterm_stops_at_a_resumable_point_and_lists_nothing(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=SIZE)
    hub_server.inject(FILE, "stall", after_bytes=8 << 20, seconds=3, times=None)
    proc = pull(home, hub_server.url, "--max-connections", "2")
    deadline = time.monotonic() + 30
    while hub_server.bytes_served(FILE) < 4 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 1 and "cancelled" in err and err.count("\n") == 1
    assert not list((home / "manifests").rglob("*.json"))
    assert list((home / "partial").glob("*.part"))

    hub_server.faults.clear()
    before = hub_server.bytes_served(FILE)
    done = result(pull(home, hub_server.url))
    assert Path(str(done["path"])).stat().st_size == SIZE
    assert hub_server.bytes_served(FILE) - before < SIZE


def test_ctrl_c_is_exit_130_with_an_interrupted_event_and_resumes(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    """Ctrl-C (SIGINT), unlike SIGTERM, is the user interrupting: exit 130, as documented."""
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=SIZE)
    hub_server.inject(FILE, "stall", after_bytes=8 << 20, seconds=3, times=None)
    proc = pull(home, hub_server.url, "--max-connections", "2")
    deadline = time.monotonic() + 30
    while hub_server.bytes_served(FILE) < 4 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "error: interrupted; the partial download stays for the next pull\n"
    last = json.loads(out.splitlines()[-1])
    assert (last["event"], last["error"], last["exit_code"]) == ("error", "interrupted", 130)
    assert list((home / "partial").glob("*.part"))


def test_ctrl_c_during_sync_is_exit_130_too(
    home: Path, tmp_path: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=SIZE)
    result(pull(home, hub_server.url))
    exe = str(Path(sys.executable).with_name("provisioner"))
    lockfile = tmp_path / "models.lock"
    locked = subprocess.run([exe, "--home", str(home), "lock"], capture_output=True, text=True)
    lockfile.write_text(locked.stdout)
    hub_server.inject(FILE, "stall", after_bytes=8 << 20, seconds=3, times=None)
    before = hub_server.bytes_served(FILE)
    proc = subprocess.Popen(
        [exe, "--home", str(tmp_path / "other"), "sync", str(lockfile)],
        env={**os.environ, "HF_ENDPOINT": hub_server.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while hub_server.bytes_served(FILE) - before < 4 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert (
        err.splitlines()[-1] == "error: interrupted; the partial downloads stay for the next sync"
    )


def test_a_second_ctrl_c_does_not_wait_for_a_stalled_hub(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first Ctrl-C cancels at a resumable point, which a pull still resolving reaches
    only once the Hub answers; a second one leaves at once, as pip and uv do."""
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=1 << 20)
    monkeypatch.setenv("PROVISIONER_HUB_TIMEOUT", "30")  # each metadata answer: 9 s, patiently
    hub_server.inject(f"/api/models/{REPO}*", "hang", seconds=9.0, times=None)
    proc = pull(home, hub_server.url)
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["stage"] == "resolving"  # then it asks the Hub
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=8)  # before the Hub's first answer (9 s)
    assert [e.complete for e in hub_server.log()] == []  # it had not answered yet
    assert proc.returncode == 130, err
    assert (
        err.splitlines()[-1] == "error: interrupted; the partial download stays for the next pull"
    )
