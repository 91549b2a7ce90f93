"""SIGTERM on ``provisioner serve`` during a download: stop accepting, cancel to a resumable
point, tell subscribers, exit within seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.hub import HubServer
from tests.server_helpers import BIG_REPO, make_big_repo, sse_data, wait_for

BIN = Path(sys.executable).parent


def test_sigterm_during_a_download_exits_within_seconds(
    home: Path, hub_server: HubServer, tmp_path: Path
) -> None:
    make_big_repo(hub_server.hub)
    hub_server.faults.inject("*big*.gguf", "stall", times=None, after_bytes=1 << 20, seconds=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PROVISIONER_"))}
    proc = subprocess.Popen(
        [
            *(str(BIN / "provisioner"), "--home", str(home), "--endpoint", hub_server.url),
            *("--json", "serve", "--port", "0", "--log-level", "warning"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env | {"HF_HOME": str(tmp_path / "hf")},
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        client = httpx.Client(base_url=url, timeout=10)
        job_id = client.post("/v1/downloads", json={"reference": BIG_REPO}).json()["job"]["id"]
        wait_for(lambda: client.get(f"/v1/downloads/{job_id}").json()["state"]["bytes_done"])

        seen: list[dict[str, Any]] = []

        def subscribe() -> None:
            with httpx.stream("GET", f"{url}/v1/downloads/{job_id}/events", timeout=30) as r:
                seen.extend(json.loads(d) for d in sse_data(r))

        subscriber = threading.Thread(target=subscribe)
        subscriber.start()
        wait_for(lambda: seen)

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - started
        subscriber.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert elapsed < 5, f"took {elapsed:.1f}s to exit"
    assert proc.returncode in (0, -signal.SIGTERM), proc.stderr.read() if proc.stderr else ""
    # The subscriber was told: one terminal event, cancelled.
    assert seen[-1]["stage"] == "error" and seen[-1]["error_code"] == "cancelled"
    assert sum(e["stage"] in ("complete", "error") for e in seen) == 1
    # The partial stays for the next pull, and nothing half-done is listed.
    partials = [p for p in (home / "partial").rglob("*") if p.is_file()]
    assert any(p.stat().st_size > 0 for p in partials)
    assert not list((home / "manifests").rglob("*.json"))
