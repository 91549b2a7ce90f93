"""What every command shares: the provisioner, the consoles, global options, output helpers.

Nothing heavy is imported here: rich loads on the first rich output (progress bars, colour),
so ``provisioner path`` and ``list`` start in tens of milliseconds.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._provisioner import ModelProvisioner

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """Settings from the global options; the provisioner is built when a command first asks."""

    home: Path | None = None
    endpoint: str | None = None
    json_output: bool = False

    @functools.cached_property
    def provisioner(self) -> ModelProvisioner:
        return ModelProvisioner(self.home, endpoint=self.endpoint)

    @functools.cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console()

    @functools.cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True)

    def emit_json(self, data: Any) -> None:
        """One JSON document per line on stdout: stable for scripts."""
        sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def say(self, text: str) -> None:
        """Rich markup on stdout (colour on a terminal, plain in a pipe); silent with --json."""
        if not self.json_output:
            self.console.print(text, highlight=False, soft_wrap=True)

    def echo(self, text: str) -> None:
        """Plain text on stdout, no markup and no rich: the fast path for read-only commands."""
        if not self.json_output:
            click.echo(text)


def _setter(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, _: click.Parameter, value: Any) -> None:
        if value is not None and value is not False:
            setattr(ctx.ensure_object(App), name, value)

    return store


def global_options(command: F) -> F:
    """``--home``, ``--endpoint`` and ``--json`` after the verb too: ``provisioner list --json``."""
    for option in (
        click.option(
            "--json",
            is_flag=True,
            expose_value=False,
            callback=_setter("json_output"),
            help="Print JSON (lines) for scripts.",
        ),
        click.option(
            "--endpoint",
            expose_value=False,
            callback=_setter("endpoint"),
            help="Hub or mirror URL (default: $HF_ENDPOINT).",
        ),
        click.option(
            "--home",
            type=click.Path(file_okay=False, path_type=Path),
            expose_value=False,
            callback=_setter("home"),
            help="Store folder (default: $PROVISIONER_HOME, else the user data folder).",
        ),
    ):
        command = option(command)
    return command
