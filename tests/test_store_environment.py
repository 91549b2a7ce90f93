"""A read-only or full home: every command ends in one line and its exit code, never a
traceback; the commands that only read (list, path, info, du, verify) still work.

Real filesystems: a tmpfs remounted read-only, a tmpfs filled to the last block.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import Run, cli_runner
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

REPO = "Org/Tiny-GGUF"


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount: {result.stderr.decode().strip()}")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "mnt"
    mount.mkdir()
    _mount("-t", "tmpfs", "-o", "size=4M", "tmpfs", str(mount))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def cli(
    tmpfs: Path, hub_server: HubServer, fixture_hub: FixtureHub, capsys: pytest.CaptureFixture[str]
) -> Run:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M", "Q8_0"))
    return cli_runner(tmpfs / "home", hub_server.url, capsys)


def one_error_line(err: str) -> bool:
    """Exactly one ``error:`` line, the last one (a pull may say ``resolving`` first)."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    return len(errors) == 1 and err.endswith(errors[0] + "\n") and "Traceback" not in err


def test_a_read_only_home_reads_and_refuses_writes_in_one_line(cli: Run, tmpfs: Path) -> None:
    code, out, _ = cli("pull", REPO)
    assert code == 0
    model = out.strip().splitlines()[-1].strip()
    _mount("-o", "remount,ro", str(tmpfs))

    assert cli("path", REPO) == (0, f"{model}\n", "")
    assert cli("--json", "list")[0] == 0
    assert cli("info", REPO)[0] == 0
    assert cli("du")[0] == 0
    code, out, err = cli("verify", REPO)
    assert code == 0 and "✓" in out and err == ""
    assert cli("verify", "--all")[0] == 0
    for args in (("pull", f"{REPO}:Q8_0"), ("rm", REPO), ("gc", "--older-than", "0s")):
        code, _, err = cli(*args)
        assert code == 1 and one_error_line(err) and "read-only" in err.lower(), (args, err)
    assert cli("path", REPO) == (0, f"{model}\n", "")


def test_damage_on_a_read_only_home_is_still_reported(cli: Run, tmpfs: Path) -> None:
    code, out, _ = cli("pull", REPO)
    model = Path(out.strip().splitlines()[-1].strip())
    os.chmod(model, 0o644)
    with open(model, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)[0]
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last ^ 0xFF]))
    _mount("-o", "remount,ro", str(tmpfs))
    code, out, err = cli("verify", REPO)
    assert code == 4 and "sha256 mismatch" in out and one_error_line(err)
    code, _, err = cli("verify", "--repair", REPO)
    assert code in (1, 4) and one_error_line(err)


def test_a_full_disk_still_lists_finds_and_verifies(cli: Run, tmpfs: Path) -> None:
    code, out, _ = cli("pull", REPO)
    model = out.strip().splitlines()[-1].strip()
    with open(tmpfs / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    assert cli("path", REPO) == (0, f"{model}\n", "")
    assert cli("--json", "list")[0] == 0
    code, out, err = cli("verify", REPO)
    assert code == 0 and err == ""
    assert cli("du")[0] == 0
    code, _, err = cli("pull", f"{REPO}:Q8_0")
    assert code == 5 and one_error_line(err)


def test_a_broken_store_layout_is_one_line(cli: Run, tmpfs: Path) -> None:
    """An OSError the disk raises that is neither read-only nor full (here: ``locks`` is a
    file) still ends in one line, exit 1."""
    assert cli("pull", REPO)[0] == 0
    locks = tmpfs / "home" / "locks"
    shutil.rmtree(locks)
    locks.write_bytes(b"not a folder")
    code, _, err = cli("pull", f"{REPO}:Q8_0")
    assert code == 1 and one_error_line(err) and str(locks) in err
