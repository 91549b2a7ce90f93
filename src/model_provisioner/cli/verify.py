"""provisioner verify REF: re-hash every file; damage is reported file by file (exit 4)."""

from __future__ import annotations

import click

from .._errors import IntegrityError
from .._units import format_bytes
from ._app import App, global_options


@click.command()
@click.argument("references", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Verify every installed model.")
@global_options
@click.pass_obj
def verify(app: App, references: tuple[str, ...], every: bool) -> None:
    """Check sizes, sha256 and structure of installed models against their manifests."""
    targets = list(references) or (
        [m.reference for m in app.provisioner.list_models()] if every else []
    )
    if not targets:
        raise click.UsageError("name a model, or pass --all")
    failed: list[IntegrityError] = []
    for reference in targets:
        try:
            report = app.provisioner.verify_model(reference)
        except IntegrityError as exc:
            failed.append(exc)
            if app.json_output:
                app.emit_json({"reference": reference, "ok": False, "problems": exc.problems})
            else:
                app.say(f"[red]✗[/] {reference}")
                for problem in exc.problems:
                    app.say(f"    {problem}")
            continue
        if app.json_output:
            app.emit_json(
                {"reference": report.reference, "ok": True, "bytes": report.bytes_checked}
            )
        else:
            app.say(
                f"[green]✓[/] {report.reference} ({format_bytes(report.bytes_checked)} checked)"
            )
    if failed:
        raise failed[0] if len(failed) == 1 else IntegrityError(f"{len(failed)} models are damaged")
