"""Helpers for last-use, eviction and sync tests: ageing entries, real CLI processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from model_provisioner import ModelProvisioner
from model_provisioner._catalog import Catalog
from model_provisioner._store import Store

LONG_AGO = 1_000_000_000.0  # 2001
BIN = Path(sys.executable).with_name("provisioner")


def age(p: ModelProvisioner, reference: str, when: float = LONG_AGO) -> None:
    """Make a model look last used at ``when`` (2001 by default)."""
    marker = Store(p.home).usage_marker(Catalog(Store(p.home)).get(p.parse(reference)).manifest)
    os.utime(marker, (when, when))


def installed(p: ModelProvisioner) -> list[str]:
    """Repo ids of the installed entries, sorted."""
    return sorted(m.repo for m in p.list_models())


def start(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``provisioner --home HOME ARGS...`` as a real process (stdout and stderr captured)."""
    return subprocess.Popen(
        [str(BIN), "--home", str(home), *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err
