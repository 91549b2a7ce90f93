"""The provisioner command: exit codes, JSON output, and the full text of short answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_provisioner.cli import main
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

REPO = "Org/Tiny-GGUF"


@pytest.fixture
def cli(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub, capsys: pytest.CaptureFixture[str]
) -> object:
    make_gguf_repo(fixture_hub, REPO)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(["--home", str(home), "--endpoint", hub_server.url, *args])
        except SystemExit as exit:
            code = int(exit.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_pull_list_path_verify_rm_du_in_json(cli: object, home: Path) -> None:
    assert callable(cli)
    code, out, _ = cli("--json", "pull", f"{REPO}:Q8_0")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["event"] == "result" and lines[-1]["reference"] == f"hf:{REPO}:Q8_0"
    assert {line["stage"] for line in lines[:-1]} >= {"resolving", "complete"}
    model_path = lines[-1]["path"]

    code, out, _ = cli("--json", "list")
    (listed,) = json.loads(out)
    assert code == 0 and listed["path"] == model_path and listed["format"] == "gguf"

    code, out, _ = cli("path", f"hf:{REPO.lower()}:q8_0")
    assert (code, out) == (0, model_path + "\n")

    code, out, _ = cli("--json", "verify", f"{REPO}:Q8_0")
    assert code == 0 and json.loads(out)["ok"] is True

    code, out, _ = cli("--json", "du")
    assert code == 0 and json.loads(out)["total_bytes"] >= listed["total_size"]

    code, out, _ = cli("rm", f"{REPO}:Q8_0")
    assert (code, out) == (0, f"deleted hf:{REPO}:Q8_0\n")
    assert cli("list") == (0, "", "no models installed\n")


def test_exit_codes(cli: object, home: Path) -> None:
    assert callable(cli)
    assert cli("pull", "org/..")[0] == 2
    code, _, err = cli("pull", "nosuchalias")
    assert code == 2 and err.startswith("error: unknown model alias 'nosuchalias'")
    assert err.count("\n") == 1
    assert cli("path", REPO)[0] == 3
    assert cli("info", REPO)[0] == 3
    assert cli("rm", REPO)[0] == 3
    assert cli("pull", "org/not-on-the-hub")[0] == 3
    assert cli("pull", "--max-connections", "0", REPO)[0] == 2
    code, out, _ = cli("pull", REPO)
    assert code == 0
    model = Path(out.strip().splitlines()[-1].strip())
    os.chmod(model, 0o644)
    model.write_bytes(b"GGUF" + b"\0" * 10)
    code, out, err = cli("verify", REPO)
    assert code == 4 and "✗" in out and model.name in out and err.startswith("error: ")


def test_dry_run_prints_the_plan_and_fetches_nothing(cli: object, hub_server: HubServer) -> None:
    assert callable(cli)
    hub_server.clear_log()
    code, out, _ = cli("--json", "pull", "--dry-run", REPO)
    plan = json.loads(out)
    assert code == 0 and plan["event"] == "plan" and plan["fits"] is True
    assert [f["path"] for f in plan["files"]] == ["tiny.Q4_K_M.gguf"]
    assert plan["bytes_to_fetch"] == plan["files"][0]["size"]
    assert not [r for r in hub_server.log() if "/resolve/" in r.path]
    assert cli("--json", "list")[1] == "[]\n"


def test_info_shows_files_and_metadata(cli: object) -> None:
    assert callable(cli)
    cli("pull", REPO)
    code, out, _ = cli("info", REPO)
    assert code == 0
    for expected in (f"hf:{REPO}", "tiny.Q4_K_M.gguf", "gguf", "commit"):
        assert expected in out


def test_the_installed_command_runs(home: Path) -> None:
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "provisioner"), "--home", str(home), "--json", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "[]\n")
