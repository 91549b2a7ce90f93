"""provisioner alias: list, add and remove short names in <home>/aliases.toml."""

from __future__ import annotations

import sys

import click

from .._aliases import load_aliases, remove_alias, set_alias
from .._references import unknown_alias
from ._app import App, global_options
from ._table import aligned, is_terminal, tab_separated


@click.command()
@click.argument("name", required=False)
@click.argument("reference", required=False)
@click.option("--rm", "remove", is_flag=True, help="Remove NAME.")
@global_options
@click.pass_obj
def alias(app: App, name: str | None, reference: str | None, remove: bool) -> None:
    """List aliases; show NAME; set NAME to REFERENCE; or remove NAME with --rm."""
    home = app.provisioner.home
    if remove:
        if name is None or reference is not None:
            raise click.UsageError("--rm takes exactly one NAME")
        remove_alias(home, name)
        if app.json_output:
            app.emit_json({"removed": name.lower()})
        app.echo(f"removed alias {name.lower()}")
        return
    if reference is not None:
        assert name is not None
        table = set_alias(home, name, reference)
        if app.json_output:
            app.emit_json([{"name": name.lower(), "reference": table[name.lower()]}])
        app.echo(f"{name.lower()} = {table[name.lower()]}")
        return
    table = load_aliases(home)
    if name is not None:
        if name.lower() not in table:
            raise unknown_alias(name.lower(), table)
        table = {name.lower(): table[name.lower()]}
    if app.json_output:
        app.emit_json([{"name": k, "reference": v} for k, v in sorted(table.items())])
    elif is_terminal():
        sys.stdout.write(aligned(("ALIAS", "REFERENCE"), sorted(table.items()), right=set()))
    else:
        sys.stdout.write(tab_separated(sorted(table.items())))
