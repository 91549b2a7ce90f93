"""``provisioner serve`` as a person and a script see it: whole outputs of a start and a stop
(the busy-port line is asserted whole in test_server_security.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def test_serve_prints_one_line_each_for_people_and_scripts_and_stops_on_sigterm(
    home: Path, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [
            *(str(BIN / "provisioner"), "--home", str(home), "--json"),
            *("serve", "--port", "0", "--log-level", "warning"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    try:
        assert proc.stdout is not None
        event = json.loads(proc.stdout.readline())
        url = event["url"]
        assert event == {"event": "listening", "home": str(home), "schema": 1, "url": url}
        assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        assert httpx.get(f"{url}/v1/models", timeout=10).json() is not None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -signal.SIGTERM)
    assert out == ""
    assert err == f"serving {home} on {url}\n"
