"""Drive real provisioner processes (tests/store_process.py) and check a store is whole."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from model_provisioner import ModelInfo, ModelProvisioner
from model_provisioner._store import Store

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Worker:
    """One fork server; ``send`` several workers a command each, then ``receive`` them all, so
    the commands really run at the same time."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store_process"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, home: Path, op: str, ref: str = "", **extra: Any) -> None:
        assert self.proc.stdin is not None
        command = {"home": str(home), "endpoint": self.endpoint, "op": op, "ref": ref, **extra}
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"worker exited ({self.proc.poll()})"
        answer: dict[str, Any] = json.loads(line)
        assert "crash" not in answer, answer["crash"]
        return answer

    def call(self, home: Path, op: str, ref: str = "", **extra: Any) -> dict[str, Any]:
        self.send(home, op, ref, **extra)
        return self.receive()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damaged_entries(home: Path) -> list[str]:
    """Problems of every listed entry: each file must exist with its size and sha256."""
    problems = []
    prov = ModelProvisioner(home)
    for info in prov.list_models():
        problems += [f"{info.reference}: {p}" for p in file_problems(prov, info)]
    return problems


def file_problems(prov: ModelProvisioner, info: ModelInfo) -> list[str]:
    folder = Store(prov.home).model_dir(info.provider, info.repo, info.commit)
    problems = []
    for f in info.files:
        path = folder / f.path
        if not path.is_file():
            problems.append(f"{f.path} missing")
        elif path.stat().st_size != f.size:
            problems.append(f"{f.path} has size {path.stat().st_size}, not {f.size}")
        elif sha256_of(path) != f.sha256:
            problems.append(f"{f.path} has the wrong sha256")
    if not info.model_path.exists():
        problems.append(f"model path {info.model_path} missing")
    return problems
