"""provisioner info REF: what an installed model is, from its manifest."""

from __future__ import annotations

import click
from rich.table import Table

from .._units import format_bytes
from ._app import App


@click.command()
@click.argument("reference")
@click.option("--remote", is_flag=True, help="Ask the Hub; read only the headers (Range requests).")
@click.pass_obj
def info(app: App, reference: str, remote: bool) -> None:
    """Show a model's files, sizes and metadata (installed, or on the Hub with --remote)."""
    if remote:
        _remote(app, reference)
        return
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


def _remote(app: App, reference: str) -> None:
    found = app.provisioner.inspect_remote(reference)
    data = found.to_dict()
    if app.json_output:
        app.emit_json(data)
        return
    table = Table(show_header=False, box=None)
    table.add_row("[bold]reference[/]", data["reference"])
    table.add_row("[bold]commit[/]", data["commit"])
    table.add_row("[bold]size[/]", format_bytes(found.plan.bytes_total))
    for key, value in (data["metadata"] or {}).items():
        if value is not None and key != "schema":
            table.add_row(f"[bold]{key}[/]", str(value))
    if found.error:
        table.add_row("[bold red]header error[/]", found.error)
    table.add_row("[bold]read[/]", f"{format_bytes(found.bytes_read)} in {found.requests} requests")
    app.console.print(table)
    files = Table("file", "size", "in store")
    for f in data["files"]:
        files.add_row(f["path"], format_bytes(f["size"]), "yes" if f["in_store"] else "no")
    app.console.print(files)
