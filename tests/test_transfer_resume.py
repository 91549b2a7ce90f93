"""Resume across processes: SIGKILL a real ``provisioner pull`` mid-transfer, then pull again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_provisioner._transfer._journal import Validator, load
from tests.hub import FixtureHub, HubServer
from tests.transfer_helpers import MiB, make_fetch

FILE = "model-Q4_K_M.gguf"
SIZE = 192 * MiB


def _provisioner(home: Path, endpoint: str, *args: str) -> list[str]:
    exe = Path(sys.executable).with_name("provisioner")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "model_provisioner.cli"]
    return [*command, "--home", str(home), "--endpoint", endpoint, *args]


def _wait_for_progress(
    partial: Path, validator: Validator, at_least: int, proc: subprocess.Popen[bytes]
) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = load(partial, validator)
        if done is not None and done.total >= at_least:
            return done.total
        if proc.poll() is not None:
            pytest.fail(f"pull ended (exit {proc.returncode}) before it could be killed")
        time.sleep(0.005)
    pytest.fail("no progress within 30 s")


def test_sigkill_mid_transfer_then_rerun_fetches_only_the_rest(
    fixture_hub: FixtureHub, hub_server: HubServer, tmp_path: Path
) -> None:
    fetch = make_fetch(fixture_hub, tmp_path, {FILE: SIZE})
    sha256 = fetch.sha256(FILE)
    home = tmp_path / "home"
    partial = home / "partial" / f"{sha256}.part"
    env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_TOKEN", None)
    # Slow the CDN down so the kill lands mid-transfer: every answer pauses after 4 MiB.
    hub_server.inject(FILE, "stall", after_bytes=4 * MiB, seconds=0.4, times=None, where="cdn")
    ref = f"Fixture/Transfer-Test:{FILE}"
    args = _provisioner(home, hub_server.url, "--json", "pull", "--max-connections", "4", ref)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        done = _wait_for_progress(partial, Validator(SIZE, sha256, None), SIZE // 3, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.6)  # let the server finish logging the answers it was sending
    first = hub_server.bytes_served(FILE)
    hub_server.faults.clear()

    rerun = subprocess.run(
        _provisioner(home, hub_server.url, "pull", ref), env=env, capture_output=True
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    again = hub_server.bytes_served(FILE) - first
    assert again < SIZE - done + SIZE // 5
    assert first + again < SIZE + SIZE // 5, f"fetched {first} then {again} of {SIZE}"
    print(f"killed at {done}, served {first} then {again} of {SIZE}")
    blob = home / "blobs" / "sha256" / sha256[:2] / sha256
    assert blob.stat().st_size == SIZE
    assert not partial.exists()
