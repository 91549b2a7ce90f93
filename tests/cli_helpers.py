"""Running the CLI in-process for tests: exit code, stdout and stderr of one invocation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from model_provisioner.cli import main

Run = Callable[..., tuple[int, str, str]]


def cli_runner(home: Path, endpoint: str | None, capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(*args)`` -> (exit code, stdout, stderr), with ``--home`` (and ``--endpoint``) set."""

    def run(*args: str) -> tuple[int, str, str]:
        prefix = ["--home", str(home)] + (["--endpoint", endpoint] if endpoint else [])
        code = 0
        try:
            main([*prefix, *args])
        except SystemExit as exit:
            code = int(exit.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
