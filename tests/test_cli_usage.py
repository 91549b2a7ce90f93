"""Usage errors (click's own and ours) are one ``error:`` line and exit 2, like every error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from model_provisioner.cli import main
from model_provisioner.cli._main import cli

EXE = Path(sys.executable).with_name("provisioner")


def _process(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVISIONER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(EXE), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--bogus"], "no such option '--bogus' (see 'provisioner --help')"),
        (["pull", "--bogus"], "no such option '--bogus' (see 'provisioner pull --help')"),
        (
            ["pull", "org/x", "--jsn"],
            "no such option '--jsn'; did you mean '--json'? (see 'provisioner pull --help')",
        ),
        (
            ["pul", "org/x"],
            "no such command 'pul'; did you mean 'pull'? (see 'provisioner --help')",
        ),
        (
            ["lst"],
            "no such command 'lst'; did you mean 'list' or 'ls'? (see 'provisioner --help')",
        ),
        (["pull"], "missing argument 'REFERENCES...' (see 'provisioner pull --help')"),
        (
            ["pull", "org/x", "--max-connections", "many"],
            "invalid value for '--max-connections': 'many' is not a valid integer range"
            " (see 'provisioner pull --help')",
        ),
        (
            ["completion", "tcsh"],
            "invalid value for '{bash|zsh|fish}': 'tcsh' is not one of 'bash', 'zsh', 'fish'"
            " (see 'provisioner completion --help')",
        ),
        (
            ["list", "a", "b"],
            "got unexpected extra arguments (a b) (see 'provisioner list --help')",
        ),
        (  # click raises this one without saying which command: ours names it
            ["pull", "org/x", "--limit-rate"],
            "option '--limit-rate' requires an argument (see 'provisioner pull --help')",
        ),
        (["--endpoint"], "option '--endpoint' requires an argument (see 'provisioner --help')"),
        (
            ["import", "folder", "x", "--as"],
            "option '--as' requires an argument (see 'provisioner import folder --help')",
        ),
        (["show"], "missing argument 'REFERENCE' (see 'provisioner show --help')"),
        (["verify"], "name a model, or pass --all (see 'provisioner verify --help')"),
        (["--json"], "missing command (see 'provisioner --help')"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help_to_read(
    tmp_path: Path, args: list[str], line: str
) -> None:
    done = _process(tmp_path, *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"error: {line}\n")


def test_help_is_unchanged_and_a_bare_group_shows_it(tmp_path: Path) -> None:
    helped = _process(tmp_path, "pull", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: provisioner pull [OPTIONS]")
    for group in ([], ["import"]):
        bare = _process(tmp_path, *group)
        usage = " ".join(["Usage: provisioner", *group, "[OPTIONS] COMMAND"])
        assert bare.returncode == 2 and bare.stderr.startswith(usage)
        assert "Commands:" in bare.stderr
    wrong = _process(tmp_path, "import", "ollam")
    assert wrong.stderr == (
        "error: no such command 'ollam'; did you mean 'ollama'? (see 'provisioner import --help')\n"
    )


def test_a_typed_control_character_stays_on_the_line(tmp_path: Path) -> None:
    done = _process(tmp_path, "list", "a\nerror: forged", "b\x1b[2J")
    assert done.stderr == (
        "error: got unexpected extra arguments (a\\nerror: forged b\\x1b[2J)"
        " (see 'provisioner list --help')\n"
    )


def _words() -> list[str]:
    """Every command name and option spelling the CLI knows (``serve`` left out: it would
    serve), and a few references."""
    words = ["org/x", "org/x:Q4_K_M", "hf:org/x@main", "x", "0", "-1", "1k", "--"]
    for command in [cli, *cli.commands.values()]:
        if command.name == "serve":
            continue
        if command is not cli:
            words.append(command.name or "")
        for param in command.params:
            words += [*param.opts, *param.secondary_opts]
    words += [name for name, command in cli.commands.items() if command.name != "serve"]
    return sorted(set(words) - {"serve"})


_BARE_HELP = {name for name, command in cli.commands.items() if command.no_args_is_help}
# Typed text that cannot name a path outside the test's folder.
_TYPED = st.text(st.characters(blacklist_characters="/.\\\x00"), max_size=8)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(argv=st.lists(st.sampled_from(_words()) | _TYPED, min_size=1, max_size=6))
@example(argv=["import"])
def test_any_command_line_succeeds_or_ends_in_one_error_line(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("HF_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROVISIONER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "serve" in argv:  # a command line that could start the server (``ls serve``)
        return
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if done.value.code in (0, None):
        assert not errors, err
    elif err.startswith("Usage:"):  # a bare group (``provisioner import``) shows its help
        assert argv[-1] in _BARE_HELP and "Commands:" in err, argv
    else:
        assert err.endswith("\n") and errors == [err.splitlines()[-1]], err
        assert "Traceback" not in err and "Usage:" not in err
