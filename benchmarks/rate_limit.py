"""The bandwidth cap over loopback: ``python benchmarks/rate_limit.py``.

Starts the fixture Hub (``python -m tests.hub``) as a subprocess, builds one 200 MB GGUF once
under ``--work`` and runs ``provisioner pull --limit-rate 20M`` into a fresh home ``--runs``
times. The cap promises 200 MB / 20 MB/s = 10 s, within 10 %. Two figures per run: the wall
clock of the whole command (interpreter start, metadata, transfer, final fsync, commit), and the
transfer alone: the rate between the first progress event that counts bytes and the
``verifying`` event (read live from ``--json`` progress lines, sampled every 0.25 s), which is
what the cap governs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

REPO = "Bench/Capped-200MB"
FILE = "capped.Q4_K_M.gguf"
SIZE = 200 * 10**6


def build(hub_root: Path) -> None:
    from tests.hub import FixtureHub
    from tests.makers import big_file

    hub = FixtureHub(hub_root)
    if hub.find_repo(REPO) is not None:
        return
    source = big_file(hub_root.parent / "sources" / FILE, SIZE)
    hub.add_commit(REPO, {FILE: source})
    shutil.rmtree(source.parent)


def pull_once(url: str, home: Path, rate: str, env: dict[str, str]) -> tuple[float, float]:
    """(seconds for the whole command, bytes/s of the transfer phase)."""
    exe = str(Path(sys.executable).with_name("provisioner"))
    command = [exe, "--home", str(home), "--endpoint", url, "--json", "pull", "--limit-rate"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*command, rate, f"{REPO}:{FILE}"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first: tuple[float, int] | None = None
    last: tuple[float, int] | None = None
    for line in proc.stdout:
        event = json.loads(line)
        now = time.monotonic()
        if event.get("stage") == "downloading" and event.get("bytes_done", 0) > 0 and not first:
            first = (now, event["bytes_done"])
        if event.get("stage") == "verifying" and last is None:
            last = (now, SIZE)
    if proc.wait() != 0 or first is None or last is None:
        raise SystemExit(f"the pull failed (exit {proc.returncode})")
    return time.monotonic() - started, (last[1] - first[1]) / (last[0] - first[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", default="20M")
    parser.add_argument("--work", type=Path, default=Path("/tmp/provisioner-bench-rate"))
    args = parser.parse_args()

    from model_provisioner._config import parse_size
    from tests.hub import start_subprocess_server

    expected = SIZE / parse_size(args.rate)
    hub_root = args.work / "hub"
    build(hub_root)
    server, url = start_subprocess_server(hub_root)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    cap = parse_size(args.rate)
    deviations = []
    try:
        for run in range(args.runs):
            home = args.work / "home"
            shutil.rmtree(home, ignore_errors=True)
            try:
                seconds, rate = pull_once(url, home, args.rate, env)
            finally:
                shutil.rmtree(home, ignore_errors=True)
            deviations.append(abs(rate - cap) / cap * 100)
            print(
                f"run {run + 1}: command {seconds:.2f} s ({(seconds - expected) / expected:+.1%}),"
                f" transfer {rate / 1e6:.2f} MB/s ({(rate - cap) / cap:+.1%})"
            )
    finally:
        server.terminate()
        server.wait()
    worst = max(deviations)
    print(f"cap {args.rate} = {expected:.1f} s for 200 MB; worst transfer deviation {worst:.1f} %")
    return 0 if worst <= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
