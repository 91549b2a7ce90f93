"""Run the fixture server as a separate process (benchmarks, the README demo, kill tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def start_subprocess_server(
    root: Path | str, *, port: int = 0, host: str = "127.0.0.1", args: Sequence[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m tests.hub`` on ``root`` and return (process, base URL) once it listens.

    The caller owns the process: ``proc.terminate(); proc.wait()``.
    """
    command = [
        sys.executable,
        "-m",
        "tests.hub",
        "--root",
        str(root),
        "--port",
        str(port),
        "--host",
        host,
    ]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*command, *args], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith(("http://", "https://")):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"fixture server did not start (exit {proc.poll()}): {url!r}")
    return proc, url
