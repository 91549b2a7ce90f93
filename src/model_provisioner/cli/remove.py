"""provisioner rm REF: unlist a model, then free what no other entry uses."""

from __future__ import annotations

import click

from ._app import App, global_options
from ._complete import references


@click.command()
@click.argument("references", nargs=-1, required=True, shell_complete=references)
@global_options
@click.pass_obj
def rm(app: App, references: tuple[str, ...]) -> None:
    """Delete installed models; blobs shared with other entries stay."""
    for reference in references:
        removed = app.provisioner.delete_model(reference)
        if app.json_output:
            app.emit_json({"deleted": removed.reference})
        else:
            app.say(f"deleted {removed.reference}")
