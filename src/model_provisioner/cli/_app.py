"""What every command shares: the provisioner, the consoles, global options, output helpers.

Nothing heavy is imported here: rich loads on the first rich output (progress bars, colour),
so ``provisioner path`` and ``list`` start in tens of milliseconds.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._errors import ProvisionerError
from .._models import JSON_SCHEMA
from .._provisioner import ModelProvisioner

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


# Set by ``main`` when this process is the console script, which exits right after its one
# command (``os._exit``): a command may then leave garbage for the exit to drop.
ONE_SHOT = False


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
        """One JSON document per line on stdout, each object stamped with its schema version
        (docs/json.md): stable for scripts."""
        if isinstance(data, dict):
            data = {"schema": JSON_SCHEMA, **data}
        elif isinstance(data, list):
            data = [{"schema": JSON_SCHEMA, **d} if isinstance(d, dict) else d for d in data]
        sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def emit_json_array(self, items: list[bytes]) -> None:
        """One JSON array of objects already rendered as UTF-8 (``list --json``: the model
        objects the catalog holds rendered): joined once, never decoded or encoded again."""
        body = b", ".join(items)
        sys.stdout.flush()
        out = getattr(sys.stdout, "buffer", None)
        if out is None:  # a text-only stdout: a caller running the CLI in-process
            sys.stdout.write(f"[{body.decode()}]\n")
            sys.stdout.flush()
            return
        out.write(b"[")
        out.write(body)
        out.write(b"]\n")
        out.flush()

    @contextmanager
    def json_errors(self, reference: str) -> Iterator[None]:
        """With --json, a failure ends the stream with ``{"event": "error", ...}`` before the
        one-line error on stderr and the exit code (a script reading stdout sees why)."""
        try:
            yield
        except ProvisionerError as exc:
            if self.json_output:
                self.emit_json(_error_event(reference, exc.code, str(exc), exc.exit_code))
            raise
        except KeyboardInterrupt:
            if self.json_output:
                self.emit_json(_error_event(reference, "interrupted", "interrupted", 130))
            raise

    def say(self, text: str) -> None:
        """Rich markup on stdout (colour on a terminal, plain in a pipe); silent with --json."""
        if not self.json_output:
            self.console.print(text, highlight=False, soft_wrap=True)

    def echo(self, text: str) -> None:
        """Plain text on stdout, no markup and no rich: the fast path for read-only commands."""
        if not self.json_output:
            click.echo(text)


def _error_event(reference: str, error: str, message: str, exit_code: int) -> dict[str, Any]:
    return {
        "event": "error",
        "reference": reference,
        "error": error,
        "message": message,
        "exit_code": exit_code,
    }


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
