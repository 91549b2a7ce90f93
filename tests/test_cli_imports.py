"""The start-up budget: commands that only read the store never import the download side.

Each case runs the installed ``provisioner`` in a real process with ``-X importtime`` and reads
which modules it loaded; times are measured by benchmarks/startup.py, never asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_provisioner import ModelProvisioner
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

BIN = Path(sys.executable).parent / "provisioner"
REPO = "Org/Quick-GGUF"
# Each costs 5-300 ms to import (or to run); none is needed to read a manifest and print a line.
HEAVY = (
    "huggingface_hub",
    "httpx",
    "httpcore",
    "rich",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "asyncio",
    "filelock",
    "platformdirs",
    "tomllib",
    "subprocess",  # ctypes.util.find_library ran ldconfig in a child at every start
    "ctypes.util",
    "model_provisioner._metadata",  # the header parsers: pull and verify only
    "model_provisioner._transfer",
    "model_provisioner._download",
    "model_provisioner._hub",
    "model_provisioner._remote",
    "model_provisioner.server",
)


def imported(*args: str, home: Path) -> set[str]:
    # Not under coverage (scripts/test.sh): its start-up imports tomllib, ours must not.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    env["PROVISIONER_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


@pytest.fixture
def installed(home: Path, hub_server: HubServer, fixture_hub: FixtureHub) -> Path:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",))
    ModelProvisioner(home, endpoint=hub_server.url).pull(REPO)
    return home


@pytest.mark.parametrize(
    "args",
    [
        ("path", REPO),
        ("path", "--json", f"hf:{REPO}:Q4_K_M"),
        ("list",),
        ("list", "--json"),
        ("info", REPO),
        ("--help",),
        ("--version",),
    ],
)
def test_read_only_commands_import_nothing_heavy(installed: Path, args: tuple[str, ...]) -> None:
    modules = imported(*args, home=installed)
    assert "model_provisioner.cli._main" in modules  # the parse below saw a real run
    assert heavy_in(modules) == []


def test_only_a_name_without_slash_reads_the_alias_file(installed: Path) -> None:
    assert heavy_in(imported("pull", "--help", home=installed)) == []
    modules = imported("alias", home=installed)
    assert "tomllib" in modules
    assert [m for m in heavy_in(modules) if not m.startswith("tomllib")] == []


# A pull needs the engine and the metadata over the engine's own connections, none of these
# (issue 9 counts a pull's start-up against its transfer). rich still draws the bars.
PULL_HEAVY = ("httpx", "httpx2", "httpcore", "httpcore2", "huggingface_hub", "yaml", "pygments")


def test_a_pull_imports_no_httpx(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",))
    modules = imported("--endpoint", hub_server.url, "pull", REPO, home=home)
    assert "model_provisioner._transfer._wire" in modules  # the parse below saw a real pull
    assert sorted(m for m in modules if m.split(".")[0] in PULL_HEAVY) == []
