"""provisioner path REF: the path a worker loads, for scripts (`$(provisioner path ...)`)."""

from __future__ import annotations

import click

from .._errors import ModelNotFound
from ._app import App


@click.command()
@click.argument("reference")
@click.pass_obj
def path(app: App, reference: str) -> None:
    """Print where an installed model lives (the file for GGUF, the folder otherwise)."""
    found = app.provisioner.find_local_model(reference)
    if found is None:
        raise ModelNotFound(f"{reference} is not installed", hint=f"provisioner pull {reference}")
    if app.json_output:
        app.emit_json({"reference": reference, "path": str(found)})
    else:
        click.echo(str(found))
