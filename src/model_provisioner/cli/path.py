"""provisioner path REF: the path a worker loads, for scripts (`$(provisioner path ...)`)."""

from __future__ import annotations

import click

from .._errors import ModelNotFound
from ._app import App, global_options
from ._complete import references


@click.command()
@click.argument("reference", shell_complete=references)
@click.option("--mmproj", is_flag=True, help="Print the vision projector instead of the model.")
@click.option("--all", "both", is_flag=True, help="Print the model, then its projector if any.")
@global_options
@click.pass_obj
def path(app: App, reference: str, mmproj: bool, both: bool) -> None:
    """Print where an installed model lives (the file for GGUF, the folder otherwise)."""
    found = app.provisioner.find_local_model(reference)
    if found is None:
        raise ModelNotFound(f"{reference} is not installed", hint=f"provisioner pull {reference}")
    projector = app.provisioner.find_local_projector(reference) if mmproj or both else None
    if mmproj and projector is None:
        raise ModelNotFound(f"{reference} has no vision projector (mmproj) installed")
    if app.json_output:
        entry = app.provisioner.get_model_info(reference).reference  # canonical, as elsewhere
        data: dict[str, str | None] = {"reference": entry, "path": str(found)}
        if mmproj or both:
            data["projector"] = str(projector) if projector else None
        app.emit_json(data)
    elif mmproj:
        click.echo(str(projector))
    else:
        click.echo(str(found))
        if both and projector is not None:
            click.echo(str(projector))
