"""The operator's log of ``provisioner serve``: one line per request and per download job, on
stderr, never the bearer token nor a query string; a hostile path stays on one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import httpx
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner.server._access_log import loggable_path
from tests.conftest import GGUF_REPO, FixtureRepo
from tests.hub import HubServer
from tests.server_helpers import wait_for

BIN = Path(sys.executable).parent
TOKEN = "log-test-secret-token"
QUANT_FILE = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ [A-Z]+ [\w.]+ .*$")


def test_requests_and_jobs_are_logged_without_the_token(
    home: Path, hub_server: HubServer, gguf_repo: FixtureRepo, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PROVISIONER_"))}
    proc = subprocess.Popen(
        [
            *(str(BIN / "provisioner"), "--home", str(home), "--endpoint", hub_server.url),
            *("--json", "serve", "--port", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env | {"HF_HOME": str(tmp_path / "hf"), "PROVISIONER_TOKEN": TOKEN},
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, timeout=30, headers=auth) as client:
            assert client.get("/v1/models", params={"token": TOKEN}).status_code == 200
            assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 401
            ok = client.post("/v1/downloads", json={"reference": f"{GGUF_REPO}:Q4_K_M"})
            bad = client.post("/v1/downloads", json={"reference": "Nobody/Missing-GGUF"})
            ok_id: str = ok.json()["job"]["id"]
            bad_id: str = bad.json()["job"]["id"]
            wait_for(lambda: _finished(client, ok_id) and _finished(client, bad_id))
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in stderr.splitlines() if not line.startswith("serving ")]
    assert lines and all(LINE.match(line) for line in lines), stderr
    assert TOKEN not in stderr and "Authorization" not in stderr and "Bearer" not in stderr
    requests = [
        line.split(" ", 3)[3] for line in lines if " model_provisioner.server.access " in line
    ]
    duration = r" duration_ms=\d+\.\d$"
    assert any(
        re.match(r"request method=GET path=/v1/models status=200" + duration, r) for r in requests
    )
    assert any(
        re.match(r"request method=GET path=/v1/models status=401" + duration, r) for r in requests
    )
    assert any(
        re.match(r"request method=POST path=/v1/downloads status=202" + duration, r)
        for r in requests
    )
    size = gguf_repo.source(QUANT_FILE).stat().st_size
    assert f"job start id={ok_id} reference=hf:{GGUF_REPO}:Q4_K_M update=False" in stderr
    end = next(line for line in lines if f"job end id={ok_id} " in line)
    assert re.search(rf" INFO .* status=complete bytes={size} duration_s=\d+\.\d\d$", end), end
    failed = next(line for line in lines if f"job end id={bad_id} " in line)
    assert re.search(
        r" WARNING .* status=error error=model-not-found bytes=0 duration_s=", failed
    ), failed


def _finished(client: httpx.Client, job: str) -> bool:
    return bool(client.get(f"/v1/downloads/{job}").json()["status"] != "running")


@given(st.text())
def test_a_hostile_path_is_one_printable_token(path: str) -> None:
    logged = loggable_path(path)
    assert logged.isascii() and logged.isprintable() and " " not in logged
    if path.encode("utf-8", "surrogatepass").decode("utf-8", "replace") == path:
        assert unquote(logged) == path
