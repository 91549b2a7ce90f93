"""The provisioner command: exit codes, JSON output, and the full text of short answers."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from model_provisioner._fsutil import allocated_bytes
from model_provisioner._operations import disk_usage
from model_provisioner._store import Store
from model_provisioner._units import format_bytes
from model_provisioner.cli import main
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf, make_gguf_repo

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


def test_provisioner_debug_prints_each_request_and_nothing_without_it(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    """PROVISIONER_DEBUG=1: where a pull's time goes, on stderr (the process's own exit path)."""
    commit = make_gguf_repo(fixture_hub, REPO)
    size = fixture_hub.entries(REPO, commit)["tiny.Q8_0.gguf"].size
    exe = str(Path(sys.executable).with_name("provisioner"))
    quiet = {k: v for k, v in os.environ.items() if k != "PROVISIONER_DEBUG"}
    runs: list[str] = []
    for env in ({**quiet, "PROVISIONER_DEBUG": "1"}, quiet):
        where = ["--home", str(home / str(len(runs))), "--endpoint", hub_server.url]
        done = subprocess.run(
            [exe, *where, "--json", "pull", f"{REPO}:Q8_0"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        runs.append(done.stderr)
    traced, silent = runs
    assert silent == ""
    assert re.search(r"ms MainThread HTTP Request: GET \S+/api/models/", traced), traced
    assert re.search(r"ms MainThread run: 1 files, \d+ bytes", traced), traced
    get = r"ms fetch-1 get tiny\.Q8_0\.gguf 0\+(\d+): answer [\d.]+ s, body [\d.]+ s, cut at \+0"
    match = re.search(get, traced)
    assert match is not None, traced
    assert int(match.group(1)) == size


def test_the_installed_command_flushes_everything_before_it_leaves(home: Path) -> None:
    """It ends with ``os._exit``: block-buffered pipes must still get every byte, and errors
    their one line and exit code."""
    exe = str(Path(sys.executable).parent / "provisioner")
    helped = subprocess.run([exe, "pull", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    assert helped.stdout.startswith("Usage: provisioner pull") and helped.stdout.endswith("\n")
    assert len(helped.stdout) > 1000
    missing = subprocess.run(
        [exe, "--home", str(home), "path", "no-such-org/no-such-model"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 3
    assert missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1


def test_list_in_a_pipe_is_one_tab_separated_line_per_model(cli: object, home: Path) -> None:
    assert callable(cli)
    cli("pull", REPO, f"{REPO}:Q8_0")
    _, out, _ = cli("--json", "list")
    q4, q8 = sorted(json.loads(out), key=lambda m: m["quantization"])
    code, out, err = cli("list")
    assert (code, err) == (0, "")
    assert out == "".join(
        f"{REPO}:{m['quantization']}\thf:{REPO}{sel}\t{m['total_size']}\t{m['downloaded_at']}"
        f"\t{m['path']}\tpublished\n"
        for m, sel in ((q4, ""), (q8, ":Q8_0"))
    )
    assert cli("list", "-q") == (0, f"{REPO}:Q4_K_M\n{REPO}:Q8_0\n", "")
    assert cli("list", "-q", "--sort", "name:desc") == (0, f"{REPO}:Q8_0\n{REPO}:Q4_K_M\n", "")
    assert cli("list", "-q", "--filter", "quant=q8_0") == (0, f"{REPO}:Q8_0\n", "")
    small = min(q4["total_size"], q8["total_size"])
    both = f"{REPO}:Q4_K_M\n{REPO}:Q8_0\n"
    assert cli("list", "-q", "-f", f"size>={small}", "-f", "modified<1h")[1] == both
    assert cli("list", "-q", "-f", f"size<{small}")[1] == ""
    assert cli("list", "-q", "-f", "modified>1d") == (0, "", "no installed model matches\n")
    code, _, err = cli("list", "--filter", "colour=red")
    assert code == 2 and err.startswith("error: filter 'colour=red': unknown key 'colour'")
    code, out, _ = cli("list", "--json", "--sort", "size:asc", "--limit", "1")
    assert code == 0 and [m["total_size"] for m in json.loads(out)] == [small]


def test_the_short_names_find_their_entries_again(cli: object) -> None:
    assert callable(cli)
    cli("pull", f"{REPO}:Q8_0", f"{REPO}:tiny.F16.gguf")
    _, names, _ = cli("list", "-q")
    assert names.splitlines() == [f"{REPO}:F16", f"{REPO}:Q8_0"]
    for name in names.splitlines():
        code, out, _ = cli("path", name)
        assert code == 0 and out.strip().endswith(f"tiny.{name.rsplit(':', 1)[1]}.gguf")


def test_global_options_after_the_verb(cli: object, home: Path, hub_server: HubServer) -> None:
    assert callable(cli)
    other = home.parent / "other-home"
    code, out, _ = cli("pull", REPO, "--home", str(other), "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["event"] == "result"
    assert cli("list", "-q", "--home", str(other)) == (0, f"{REPO}:Q4_K_M\n", "")
    assert cli("list", "--json") == (0, "[]\n", "")
    code, out, _ = cli("path", REPO, "--json", "--home", str(other))
    assert code == 0 and json.loads(out)["path"].startswith(str(other))


def test_pull_names_the_file_and_quantization_it_took(
    cli: object, fixture_hub: FixtureHub, home: Path
) -> None:
    assert callable(cli)
    make_gguf_repo(fixture_hub, "Org/Odd-GGUF", quants=("F16", "Q5_K_M", "Q3_K_S"))
    code, out, _ = cli("pull", "Org/Odd-GGUF")
    _, listed, _ = cli("--json", "list")
    (m,) = json.loads(listed)
    size = format_bytes(m["total_size"])
    assert (code, out) == (
        0,
        f"✓ hf:Org/Odd-GGUF @ {m['commit'][:12]}: odd.Q5_K_M.gguf (Q5_K_M, {size}, 1 file)\n"
        "  no Q4_K_M or Q8_0 in Org/Odd-GGUF: took Q5_K_M, next on the ladder\n"
        f"  {m['path']}\n",
    )
    for command in ("path", "info", "rm"):
        assert cli(command, "org/odd-gguf")[0] == 0, command


def test_a_vision_repo_brings_its_projector(
    cli: object, fixture_hub: FixtureHub, tmp_path: Path
) -> None:
    assert callable(cli)
    model, projector = tmp_path / "vl.Q4_K_M.gguf", tmp_path / "mmproj-vl-f16.gguf"
    make_gguf(model, file_type="Q4_K_M")
    make_gguf(projector, arch="clip", name="projector", file_type="F16")
    fixture_hub.add_commit("Org/VL-GGUF", {model.name: model, projector.name: projector})
    code, out, _ = cli("pull", "Org/VL-GGUF")
    assert code == 0 and "  vision projector: mmproj-vl-f16.gguf\n" in out
    _, model_path, _ = cli("path", "Org/VL-GGUF")
    _, projector_path, _ = cli("path", "--mmproj", "Org/VL-GGUF")
    assert model_path.endswith("/vl.Q4_K_M.gguf\n")
    assert projector_path == model_path.replace("vl.Q4_K_M.gguf", "mmproj-vl-f16.gguf")
    assert cli("path", "--all", "Org/VL-GGUF") == (0, model_path + projector_path, "")
    code, out, _ = cli("path", "--json", "--all", "Org/VL-GGUF")
    assert json.loads(out)["projector"] == projector_path.strip()
    assert cli("pull", REPO)[0] == 0
    code, _, err = cli("path", "--mmproj", REPO)
    assert code == 3 and "has no vision projector" in err


def test_aliases_are_written_on_first_use_and_edited_by_command(cli: object, home: Path) -> None:
    assert callable(cli)
    assert not (home / "aliases.toml").exists()
    code, out, _ = cli("alias")
    assert code == 0 and (home / "aliases.toml").exists()
    assert "tinyllama\thf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M\n" in out
    assert cli("alias", "tiny", f"{REPO}:q8_0") == (0, f"tiny = hf:{REPO}:Q8_0\n", "")
    shown = [{"name": "tiny", "reference": f"hf:{REPO}:Q8_0", "schema": 1}]
    assert cli("alias", "tiny", "--json") == (0, json.dumps(shown) + "\n", "")
    set_again = cli("alias", "tiny", f"{REPO}:q8_0", "--json")
    assert set_again == (0, json.dumps(shown) + "\n", "")  # a script sees what it set
    code, out, _ = cli("pull", "tiny")
    assert code == 0 and "tiny.Q8_0.gguf (Q8_0," in out
    code, _, err = cli("path", "tinny")
    assert code == 2 and err.endswith("(did you mean 'tiny'?)\n")
    assert cli("alias", "--rm", "tiny") == (0, "removed alias tiny\n", "")
    cli("alias", "tiny", REPO)
    removed = json.dumps({"removed": "tiny", "schema": 1})
    assert cli("--json", "alias", "--rm", "Tiny") == (0, removed + "\n", "")
    assert 'tiny = "' not in (home / "aliases.toml").read_text()
    code, _, err = cli("alias", "--rm", "tiny")
    assert code == 2 and "unknown model alias 'tiny'" in err
    assert cli("alias", "Bad Name", REPO)[0] == 2
    assert cli("alias", "loop", "tinyllama")[0] == 2


def test_list_on_a_terminal_is_an_aligned_table(cli: object, home: Path) -> None:
    assert callable(cli)
    cli("pull", REPO, f"{REPO}:Q8_0")
    _, out, _ = cli("--json", "list")
    sizes = [format_bytes(m["total_size"]) for m in json.loads(out)]
    master, slave = pty.openpty()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "provisioner"), "--home", str(home), "list"],
        stdout=slave,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    os.close(slave)
    shown = os.read(master, 1 << 16).decode().replace("\r\n", "\n")
    os.close(master)
    width = len(f"{REPO}:Q4_K_M")
    assert (done.returncode, shown) == (
        0,
        f"{'NAME':<{width}}  {'SIZE':>{len(sizes[0])}}  MODIFIED\n"
        f"{REPO}:Q4_K_M  {sizes[0]}  just now\n"
        f"{REPO}:Q8_0    {sizes[1]}  just now\n",
    )


def test_a_damaged_manifest_is_shown_and_never_breaks_the_others(cli: object, home: Path) -> None:
    assert callable(cli)
    assert cli("pull", REPO)[0] == 0
    bad = home / "manifests" / "hf" / "Org" / "Other-GGUF" / "default.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"reference": "hf:Org/Other-GGUF", "files": [{"size": "big"}]}')

    code, out, err = cli("list")
    assert code == 0 and f"hf:{REPO}" in out and f"damaged: {bad}: repo is missing" in err
    code, out, _ = cli("--json", "list")
    good, damaged = json.loads(out)
    assert good["reference"] == f"hf:{REPO}"
    assert damaged == {
        "damaged": True,
        "manifest": str(bad),
        "problem": damaged["problem"],
        "schema": 1,
    }

    code, _, err = cli("info", "Org/Other-GGUF")
    assert code == 4 and str(bad) in err and err.count("\n") == 1
    code, out, err = cli("verify", "--all")
    assert code == 4 and f"✓ hf:{REPO}" in out and f"✗ {bad}" in out
    assert cli("du")[0] == 0 and cli("path", REPO)[0] == 0
    assert cli("gc", "--older-than", "0s")[0] == 0 and cli("verify", REPO)[0] == 0


def test_verify_all_on_an_empty_store_is_fine(cli: object) -> None:
    assert callable(cli)
    assert cli("verify", "--all") == (0, "no models installed\n", "")
    assert cli("verify")[0] == 2


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_complete_commands_for_real(shell: str, home: Path) -> None:
    exe = str(Path(sys.executable).parent / "provisioner")
    script = subprocess.run([exe, "completion", shell], capture_output=True, text=True, timeout=60)
    assert script.returncode == 0 and "_PROVISIONER_COMPLETE" in script.stdout
    env = {**os.environ, "_PROVISIONER_COMPLETE": f"{shell}_complete"}
    env |= {"COMP_WORDS": "provisioner li", "COMP_CWORD": "1"}  # bash and zsh
    env |= {"COMP_CWORD": "li"} if shell == "fish" else {}  # fish passes the word itself
    done = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "list" in done.stdout


def test_a_failed_json_pull_ends_with_an_error_event(cli: object) -> None:
    assert callable(cli)
    code, out, err = cli("--json", "pull", "org/not-on-the-hub")
    last = json.loads(out.splitlines()[-1])
    assert code == 3 and err.startswith("error: ")
    assert {k: last[k] for k in ("event", "reference", "error", "exit_code", "schema")} == {
        "event": "error",
        "reference": "org/not-on-the-hub",
        "error": "model-not-found",
        "exit_code": 3,
        "schema": 1,
    }


def test_verify_prints_one_shape_whether_it_passes_or_fails(cli: object) -> None:
    assert callable(cli)
    _, out, _ = cli("pull", REPO)
    model = Path(out.strip().splitlines()[-1].strip())
    asked = REPO.lower()  # as a user may type it: the output names the entry either way
    _, passed, _ = cli("--json", "verify", asked)
    _, path, _ = cli("--json", "path", asked)
    os.chmod(model, 0o644)
    model.write_bytes(b"GGUF" + b"\0" * 10)
    code, failed, _ = cli("--json", "verify", asked)
    ok, bad = json.loads(passed), json.loads(failed.splitlines()[-1])
    assert code == 4 and set(ok) == set(bad) and (ok["ok"], bad["ok"]) == (True, False)
    assert bad["problems"] and not ok["problems"]
    assert ok["reference"] == bad["reference"] == json.loads(path)["reference"]
    assert ok["reference"] == f"hf:{REPO}"


def test_gc_output_whole(cli: object, home: Path) -> None:
    """What gc prints, line for line: each path, then the sum (allocated bytes, as du)."""
    assert callable(cli)
    assert cli("pull", REPO)[0] == 0
    cli("gc", "--older-than", "0s")  # the pull's own lock file beside its partial
    held = format_bytes(disk_usage(Store(home)))
    assert cli("gc", "--older-than", "0s") == (
        0,
        f"freed 0 B: 0 files, 0 models; the store holds {held}\n",
        "",
    )
    stale = home / "partial" / ("e" * 64 + ".part")
    stale.write_bytes(b"x" * 8192)
    os.utime(stale, (1.0, 1.0))
    size = format_bytes(allocated_bytes(stale))
    assert cli("gc", "--dry-run") == (
        0,
        f"would remove {stale}\nwould free {size}: 1 file, 0 models; the store would hold {held}\n",
        "",
    )
    assert cli("gc") == (
        0,
        f"removed {stale}\nfreed {size}: 1 file, 0 models; the store holds {held}\n",
        "",
    )
    assert not stale.exists()


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("http://[::1", "Invalid IPv6 URL"),  # was a traceback
        ("notaurl", "'notaurl' is not an http(s) URL"),  # was 'cannot reach ://'
        ("ftp://127.0.0.1", "'ftp://127.0.0.1' is not an http(s) URL"),
        ("http://127.0.0.1:99999", "Port out of range 0-65535"),
    ],
)
def test_a_malformed_endpoint_is_a_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str], endpoint: str, reason: str
) -> None:
    cases = [
        (["--endpoint", endpoint, "pull", "org/x"], {}, "endpoint"),
        (["info", "--remote", "org/x"], {"HF_ENDPOINT": endpoint}, "$HF_ENDPOINT"),
    ]
    for args, env, named in cases:
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("HF_ENDPOINT", raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            with pytest.raises(SystemExit) as done:
                main(["--home", str(home), *args])
        assert done.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1] == f"error: {named}: {reason}"


def test_an_endpoint_is_taken_as_meant_around_spaces_and_a_trailing_slash() -> None:
    from model_provisioner._hub import HubSettings

    assert HubSettings.from_env(" http://127.0.0.1:9/ ").endpoint == "http://127.0.0.1:9"


def _complete(home: Path, *words: str) -> list[str]:
    """What bash completion offers for the last word (click's own protocol, a real process)."""
    env = {
        **os.environ,
        "_PROVISIONER_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(["provisioner", *words]),
        "COMP_CWORD": str(len(words)),
    }
    exe = Path(sys.executable).with_name("provisioner")
    done = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return [line.removeprefix("plain,") for line in done.stdout.splitlines() if line]


def test_references_complete_to_installed_names_and_aliases(cli: object, home: Path) -> None:
    assert callable(cli)
    assert _complete(home, "--home", str(home), "path", "org/") == []
    assert not (home / "aliases.toml").exists()  # a TAB writes nothing
    assert cli("pull", REPO)[0] == 0
    assert _complete(home, "--home", str(home), "path", "org/") == [f"{REPO}:Q4_K_M"]
    assert _complete(home, "rm", "--home", str(home), "tiny") == ["tinyllama"]
    assert "qwen7b" in _complete(home, "--home", str(home), "pull", REPO, "qwen")


def test_offline_remote_commands_do_not_call_an_installed_model_missing(
    cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert callable(cli)
    assert cli("pull", REPO)[0] == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for args in (["info", "--remote", REPO], ["pull", "--dry-run", REPO]):
        code, _, err = cli(*args)
        assert (code, err) == (
            1,
            f"error: hf:{REPO}: the Hub cannot be asked while HF_HUB_OFFLINE is set "
            "(unset HF_HUB_OFFLINE)\n",
        )
