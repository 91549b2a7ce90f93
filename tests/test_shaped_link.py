"""The engine over a link the kernel shapes, from a CDN we did not write (root only).

nginx runs in its own network namespace with a per-request ``limit_rate``, behind a veth pair
whose CDN end an HTB class caps (and netem delays, where the kernel has it); the fixture Hub on
this side of the pair answers metadata and redirects bodies there. Behaviour only, no timing:
the engine opens more connections than it started with, and a resumed pull after SIGKILL asks
for little more than what was missing.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_provisioner._hub import HubSettings
from model_provisioner._transfer._journal import Validator, load
from tests.hub import FixtureHub, HubServer
from tests.hub.shaped_link import ShapedLink, ShapedNginx, available
from tests.transfer_helpers import FAST, REPO, Fetch, MiB, make_fetch, run_engine

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))
FILE = "weights.gguf"
SIZE = 16 * MiB


@pytest.fixture
def fetch(fixture_hub: FixtureHub, tmp_path: Path) -> Fetch:
    return make_fetch(fixture_hub, tmp_path, {FILE: SIZE + 1234})


@pytest.fixture
def link() -> Iterator[ShapedLink]:
    """A 40 MB/s link, 20 ms round trip where netem exists; deleted whatever the test does."""
    shaped = ShapedLink(link=40e6, rtt=0.02)
    try:
        shaped.open()
    except RuntimeError as error:
        pytest.skip(f"cannot build a network namespace here: {error}")
    try:
        yield shaped
    finally:
        shaped.close()


def _nginx(fetch: Fetch, link: ShapedLink, folder: Path, limit_rate: float) -> ShapedNginx:
    cdn = ShapedNginx(folder, link, limit_rate)
    cdn.publish(fetch.hub, REPO, fetch.commit)
    cdn.start()
    return cdn


@pytest.fixture
def nginx(fetch: Fetch, link: ShapedLink, tmp_path: Path) -> Iterator[ShapedNginx]:
    """2 MB/s per request: 20 connections would fill the link."""
    cdn = _nginx(fetch, link, tmp_path / "nginx", 2e6)
    try:
        yield cdn
    finally:
        cdn.stop()


@pytest.fixture
def hub(fixture_hub: FixtureHub, link: ShapedLink, nginx: ShapedNginx) -> Iterator[HubServer]:
    """The Hub on this side of the veth pair (not loopback: the engine sees a remote server)."""
    with HubServer(fixture_hub, host=link.host, external_cdn=nginx.url) as server:
        yield server


def test_capped_connections_make_the_engine_open_more_and_the_file_verifies(
    fetch: Fetch, hub: HubServer, nginx: ShapedNginx
) -> None:
    settings = HubSettings(endpoint=hub.url)
    jobs = fetch.jobs(settings)
    options = dataclasses.replace(FAST, start_connections=2, max_connections=8, stall_timeout=5)
    hashes = run_engine(settings, jobs, options)
    assert hashes[FILE] == fetch.sha256(FILE)
    assert jobs[0].partial.read_bytes() == fetch.sources[FILE].read_bytes()
    requests = nginx.requests()
    assert {status for _, status, _ in requests} == {206}  # Range parts, all of them
    connections = {serial for serial, _, _ in requests}
    assert 2 < len(connections) <= 8, f"nginx saw {len(connections)} connections"


def _pull(home: Path, endpoint: str, *args: str) -> list[str]:
    exe = Path(sys.executable).with_name("provisioner")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "model_provisioner.cli"]
    return [*command, "--home", str(home), "--endpoint", endpoint, "pull", *args]


def _journaled(partial: Path, validator: Validator, proc: subprocess.Popen[bytes]) -> int:
    """Wait until a third of the file is journaled; return how much was."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = load(partial, validator)
        if done is not None and done.total >= validator.size // 3:
            return done.total
        if proc.poll() is not None:
            pytest.fail(f"pull ended (exit {proc.returncode}) before it could be killed")
        time.sleep(0.005)
    pytest.fail("no progress within 30 s")


def test_a_pull_killed_mid_file_resumes_asking_nginx_for_under_a_fifth_more(
    fetch: Fetch, hub: HubServer, nginx: ShapedNginx, tmp_path: Path
) -> None:
    size = fetch.sources[FILE].stat().st_size
    sha256 = fetch.sha256(FILE)
    home = tmp_path / "home"
    partial = home / "partial" / f"{sha256}.part"
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    ref = f"{REPO}:{FILE}"
    proc = subprocess.Popen(
        _pull(home, hub.url, "--max-connections", "4", ref),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        done = _journaled(partial, Validator(size, sha256, None), proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    mark = nginx.mark()  # the rerun's connections come after it

    rerun = subprocess.run(_pull(home, hub.url, ref), env=env, capture_output=True)
    assert rerun.returncode == 0, rerun.stderr.decode()
    again = sum(n for serial, _, n in nginx.requests() if serial > mark)
    assert again < size - done + size // 5, f"journaled {done}, then asked {again} of {size}"
    blob = home / "blobs" / "sha256" / sha256[:2] / sha256
    assert blob.stat().st_size == size
    assert not partial.exists()
