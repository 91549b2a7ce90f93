"""Real provisioner processes for race and crash tests, driven over stdin/stdout.

``python -m tests.store_process`` is a small fork server: it imports the library once, then for
each JSON command line (``{"home": ..., "endpoint": ..., "op": "pull" | "rm" | "gc" | "repair",
"ref": ..., "delay": seconds}``) forks a child that runs the command through the library
exactly as the CLI would. It answers one JSON line per command: ``{"ok": true}``;
``{"ok": false, "error": "<one line>"}`` for one of our errors; ``{"crash": "<traceback>"}``
for anything else (a bug); ``{"killed": true}`` when the child died by SIGKILL. Forking keeps
hundreds of real processes fast.

A command may add ``"steps": "<file>"`` to record every durability step of the child (see
``model_provisioner._fsutil.Durability``) as JSON lines, and ``"kill_at": n`` to SIGKILL the
child right after its n-th step (``"journal_interval": 60`` keeps timed journal syncs out, so
that the steps of two runs are the same). Only this test entry point installs that observer.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from model_provisioner import ModelProvisioner, ProvisionerError
from model_provisioner._fsutil import durability
from model_provisioner._transfer import TransferOptions


@dataclass
class StepRecorder:
    """Appends each durability step to a file, and kills the process after step ``kill_at``."""

    out: IO[str] | None
    kill_at: int | None
    count: int = 0

    def __call__(self, op: str, path: Path, source: Path | None) -> None:
        self.count += 1
        if self.out is not None:
            step = {"n": self.count, "op": op, "path": str(path), "source": source and str(source)}
            self.out.write(json.dumps(step) + "\n")
            self.out.flush()
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def run(command: dict[str, Any]) -> dict[str, Any]:
    """One command in this (child) process."""
    steps, kill_at = command.get("steps"), command.get("kill_at")
    if steps is not None or kill_at is not None:
        out = open(steps, "a", encoding="utf-8") if steps else None  # noqa: SIM115
        durability.observer = StepRecorder(out, kill_at)
    interval = float(command.get("journal_interval", 0.02))
    options = TransferOptions(max_connections=2, timeout=5.0, journal_interval=interval)
    prov = ModelProvisioner(command["home"], endpoint=command["endpoint"], transfer=options)
    time.sleep(float(command.get("delay", 0)))
    op, ref = command["op"], command.get("ref", "")
    try:
        if op == "pull":
            prov.pull(ref)
        elif op == "rm":
            prov.delete_model(ref)
        elif op == "repair":
            prov.repair_model(ref)
        elif op == "gc":  # ``repeat`` sweeps back to back, to hit a short window
            for _ in range(int(command.get("repeat", 1))):
                prov.collect_garbage(older_than=float(command.get("older_than", 0)))
        else:
            raise ValueError(f"unknown op {op!r}")
    except ProvisionerError as exc:
        return {"ok": False, "error": str(exc).splitlines()[0], "kind": type(exc).__name__}
    except Exception:
        return {"crash": traceback.format_exc()}
    return {"ok": True}


def fork_and_run(command: dict[str, Any]) -> dict[str, Any]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            answer = run(command)
        except BaseException:
            answer = {"crash": traceback.format_exc()}
        os.write(write, json.dumps(answer).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        body = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"killed": os.WTERMSIG(status) == signal.SIGKILL}
    result: dict[str, Any] = json.loads(body)
    return result


def main() -> int:
    # The library imports its download side lazily: import it once, before any fork, or every
    # child pays for huggingface_hub and httpx again.
    for module in ("_download", "_operations", "_partials", "_catalog"):
        importlib.import_module(f"model_provisioner.{module}")
    for line in sys.stdin:
        print(json.dumps(fork_and_run(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
