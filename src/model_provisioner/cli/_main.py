"""Entry point: global options, the command table, and the one place that exits."""

from __future__ import annotations

import contextlib
import gc as garbage_collector
import logging
import os
import sys
from pathlib import Path

import click

from .. import __version__
from .._errors import ProvisionerError
from . import _app
from ._app import App
from ._usage import NamingGroup, error_line, usage_line
from .alias import alias
from .completion import completion
from .disk import du
from .export import export
from .gc import gc
from .imports import import_models
from .info import info
from .listing import list_models
from .lock import lock
from .path import path
from .pin import pin, unpin
from .pull import pull
from .remove import rm
from .search import search
from .serve import serve
from .sync import sync
from .verify import verify


class _Interrupted(Exception):
    """Ctrl-C, taken before click's own handler prints a blank line and says only "Aborted"."""


class _Cli(NamingGroup):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted(str(exc) or "interrupted") from None


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PROVISIONER_HOME",
    help="Store folder (default: $PROVISIONER_HOME, else the user data folder).",
)
@click.option("--endpoint", envvar="HF_ENDPOINT", help="Hub or mirror URL (default: $HF_ENDPOINT).")
@click.option("--json", "json_output", is_flag=True, help="Print JSON (lines) for scripts.")
@click.version_option(__version__, prog_name="provisioner")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, endpoint: str | None, json_output: bool) -> None:
    """Make sure the models your inference workers need are here, whole and correct."""
    ctx.obj = App(home, endpoint, json_output)


for command in (
    pull,
    list_models,
    info,
    path,
    verify,
    rm,
    du,
    gc,
    pin,
    lock,
    sync,
    unpin,
    serve,
    search,
    alias,
    import_models,
    export,
    completion,
):
    cli.add_command(command)
for alias_name, command in (
    ("ls", list_models),
    ("show", info),
    ("delete", rm),
    ("disk-usage", du),
):
    cli.add_command(command, name=alias_name)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a ProvisionerError becomes one line on stderr and its exit code.

    As the program itself (no ``argv``: the console script), it then leaves with ``os._exit``
    once stdout and stderr are flushed: everything a command writes is closed and fsynced by
    then, and tearing the interpreter down (freeing the transfer's 64 MiB of buffers, module
    by module) cost 0.05-0.25 s of a 1.3 s pull on the development VM (benchmarks/README.md).
    """
    if argv is None:  # the process's entry point (tests pass argv and keep their own gc)
        # What the imports made lives until exit: frozen, the collections during the run
        # skip it.
        garbage_collector.freeze()
        _app.ONE_SHOT = True
    if os.environ.get("PROVISIONER_DEBUG"):
        _debug_log()
    code = _run(argv)
    if argv is None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _run(argv: list[str] | None) -> int:
    """The exit code of one command line."""
    try:
        cli.main(args=argv, prog_name="provisioner", standalone_mode=False)
    except ProvisionerError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # bare ``provisioner``: the help
        exc.show()
        return exc.exit_code
    except click.UsageError as exc:
        click.echo(usage_line(exc), err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(error_line(exc), err=True)
        return exc.exit_code
    except (_Interrupted, KeyboardInterrupt) as exc:
        click.echo(f"error: {exc or 'interrupted'}", err=True)
        return 130
    return 0


def _debug_log() -> None:
    """``PROVISIONER_DEBUG=1``: the transfer's timings (each request's answer and body time,
    connection levels, steals) and each metadata request on stderr, milliseconds from start."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(relativeCreated)7.0f ms %(threadName)s %(message)s"))
    logger = logging.getLogger("model_provisioner")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
