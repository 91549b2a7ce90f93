"""Entry point: global options, the command table, and the one place that exits."""

from __future__ import annotations

import gc as garbage_collector
import logging
import os
import sys
from pathlib import Path

import click

from .. import __version__
from .._errors import ProvisionerError
from ._app import App
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    """Run the CLI; a ProvisionerError becomes one line on stderr and its exit code."""
    if argv is None:  # the process's entry point (tests pass argv and keep their own gc)
        # What the imports made lives until exit: frozen, the collections during the run and
        # at exit skip it (a pull's exit took 0.1-0.17 s, mostly gc; 0.05-0.1 s frozen).
        garbage_collector.freeze()
    if os.environ.get("PROVISIONER_DEBUG"):
        _debug_log()
    try:
        cli.main(args=argv, prog_name="provisioner", standalone_mode=False)
    except ProvisionerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted (the partial download stays for the next pull)", err=True)
        sys.exit(130)
    sys.exit(0)


def _debug_log() -> None:
    """``PROVISIONER_DEBUG=1``: the transfer's timings (each request's answer and body time,
    connection levels, steals) and each metadata request on stderr, milliseconds from start."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(relativeCreated)7.0f ms %(threadName)s %(message)s"))
    for name, level in (("model_provisioner", logging.DEBUG), ("httpx", logging.INFO)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
