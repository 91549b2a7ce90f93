"""provisioner lock [REF...] > models.lock: the exact installed set, for ``sync`` elsewhere."""

from __future__ import annotations

import sys

import click

from ._app import App, global_options


@click.command()
@click.argument("references", nargs=-1)
@global_options
@click.pass_obj
def lock(app: App, references: tuple[str, ...]) -> None:
    """Print a lockfile of REFERENCES (default: every installed model) on stdout."""
    from .._lockfile import dump_lockfile

    sys.stdout.write(dump_lockfile(app.provisioner.lock(references)))
