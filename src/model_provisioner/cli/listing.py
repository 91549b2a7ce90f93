"""provisioner list: the catalog, read from manifests only."""

from __future__ import annotations

import click
from rich.table import Table

from .._units import format_bytes
from ._app import App


@click.command("list")
@click.pass_obj
def list_models(app: App) -> None:
    """List installed models."""
    models = app.provisioner.list_models()
    if app.json_output:
        app.emit_json([m.summary() for m in models])
        return
    if not models:
        app.say("no models installed")
        return
    table = Table()
    for column in ("reference", "format", "quant", "size", "files", "commit", "verified"):
        table.add_column(column, overflow="fold")
    for m in models:
        table.add_row(
            m.reference,
            m.format,
            m.quantization or "-",
            format_bytes(m.total_size),
            str(m.file_count),
            m.commit[:12],
            m.verified_at or "-",
        )
    app.console.print(table)
