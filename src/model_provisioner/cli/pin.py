"""provisioner pin / unpin REF: keep a model out of eviction (gc --max-size, budgets)."""

from __future__ import annotations

import click

from ._app import App, global_options
from ._complete import references


@click.command()
@click.argument("references", nargs=-1, required=True, shell_complete=references)
@global_options
@click.pass_obj
def pin(app: App, references: tuple[str, ...]) -> None:
    """Never evict REFERENCES to fit a budget or --max-size (rm still removes them)."""
    _set(app, references, pinned=True)


@click.command()
@click.argument("references", nargs=-1, required=True, shell_complete=references)
@global_options
@click.pass_obj
def unpin(app: App, references: tuple[str, ...]) -> None:
    """Let REFERENCES be evicted again, least recently used first."""
    _set(app, references, pinned=False)


def _set(app: App, references: tuple[str, ...], *, pinned: bool) -> None:
    for reference in references:
        info = app.provisioner.set_pinned(reference, pinned)
        if app.json_output:
            app.emit_json({"reference": info.reference, "pinned": pinned})
        else:
            app.echo(f"{'pinned' if pinned else 'unpinned'} {info.reference}")
