"""provisioner search TEXT: GGUF repositories on the Hub whose name matches TEXT."""

from __future__ import annotations

import sys

import click

from ._app import App, global_options
from ._table import aligned, is_terminal, tab_separated


@click.command()
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@global_options
@click.pass_obj
def search(app: App, text: str, limit: int) -> None:
    """List GGUF model repositories on the Hub matching TEXT (most downloaded first)."""
    found = app.provisioner.search(text, limit=limit)
    if app.json_output:
        app.emit_json([hit.to_dict() for hit in found])
    elif not found:
        click.echo(f"no GGUF repository matches {text!r}", err=True)
    elif is_terminal():
        cells = [(h.repo, str(h.downloads), str(h.likes), h.modified or "-") for h in found]
        sys.stdout.write(aligned(("REPO", "DOWNLOADS", "LIKES", "MODIFIED"), cells, {1, 2}))
    else:
        sys.stdout.write(
            tab_separated(
                [(h.repo, str(h.downloads), str(h.likes), h.modified or "") for h in found]
            )
        )
