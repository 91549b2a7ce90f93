"""provisioner du: bytes the store really occupies, shared content counted once."""

from __future__ import annotations

import click

from .._units import format_bytes
from ._app import App, global_options


@click.command()
@global_options
@click.pass_obj
def du(app: App) -> None:
    """Show disk use of the store and of each model."""
    total = app.provisioner.get_total_disk_usage()
    models = app.provisioner.list_models()
    if app.json_output:
        app.emit_json(
            {
                "home": str(app.provisioner.home),
                "total_bytes": total,
                "models": [{"reference": m.reference, "bytes": m.total_size} for m in models],
            }
        )
        return
    for m in models:
        app.say(f"{format_bytes(m.total_size):>10}  {m.reference}")
    app.say(f"{format_bytes(total):>10}  total on disk ({app.provisioner.home})")
