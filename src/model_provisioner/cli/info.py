"""provisioner info REF: what an installed model is, from its manifest."""

from __future__ import annotations

import click
from rich.table import Table

from .._units import format_bytes
from ._app import App


@click.command()
@click.argument("reference")
@click.pass_obj
def info(app: App, reference: str) -> None:
    """Show an installed model's files, sizes and metadata."""
    model = app.provisioner.get_model_info(reference)
    if app.json_output:
        app.emit_json(model.summary())
        return
    table = Table(show_header=False, box=None)
    rows = {
        "reference": model.reference,
        "repo": model.repo,
        "revision": model.revision,
        "commit": model.commit,
        "format": model.format,
        "path": str(model.model_path),
        "size": f"{format_bytes(model.total_size)} ({model.total_size} bytes)",
        "files": str(model.file_count),
        "downloaded": model.downloaded_at,
        "verified": model.verified_at or "-",
    }
    rows.update({k: str(v) for k, v in model.metadata.items() if v is not None})
    for key, value in rows.items():
        table.add_row(f"[bold]{key}[/]", value)
    app.console.print(table)
    files = Table("file", "size", "sha256")
    for f in model.files:
        files.add_row(f.path, format_bytes(f.size), f.sha256[:16])
    app.console.print(files)
