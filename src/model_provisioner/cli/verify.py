"""provisioner verify REF: re-hash every file; damage is reported file by file (exit 4)."""

from __future__ import annotations

from typing import Any

import click

from .._errors import IntegrityError, ProvisionerError
from .._models import RepairReport, VerifyReport
from .._units import format_bytes
from ._app import App, global_options
from ._complete import references


@click.command()
@click.argument("references", nargs=-1, shell_complete=references)
@click.option("--all", "every", is_flag=True, help="Verify every installed model.")
@click.option(
    "--repair", is_flag=True, help="Fetch damaged files again, for every model that shares them."
)
@global_options
@click.pass_obj
def verify(app: App, references: tuple[str, ...], every: bool, repair: bool) -> None:
    """Check sizes, sha256 and structure of installed models against their manifests."""
    if not references and not every:
        raise click.UsageError("name a model, or pass --all")
    targets = list(references) or [m.reference for m in app.provisioner.list_models()]
    failed: list[IntegrityError] = []
    if every and not references:
        for bad in app.provisioner.damaged_manifests():
            failed.append(bad)
            _report_failure(app, str(bad.manifest), bad)
        if not targets and not failed:
            app.say("no models installed")
    for reference in targets:
        try:
            if repair:
                _repair(app, reference)
            else:
                _report_ok(app, app.provisioner.verify_model(reference))
        except IntegrityError as exc:
            failed.append(exc)
            _report_failure(app, _entry_name(app, reference), exc)
    if failed:
        raise failed[0] if len(failed) == 1 else IntegrityError(f"{len(failed)} models are damaged")


def _entry_name(app: App, reference: str) -> str:
    """The entry's canonical reference, as a passing verify names it; what was typed when even
    its manifest cannot be read."""
    try:
        return app.provisioner.get_model_info(reference).reference
    except ProvisionerError:
        return reference


def _verdict(
    reference: str,
    ok: bool,
    checked: int | None,
    problems: list[str],
    done: RepairReport | None = None,
) -> dict[str, Any]:
    """One shape whether a model passes, fails or was repaired (docs/json.md)."""
    return {
        "reference": reference,
        "ok": ok,
        "bytes": checked,
        "problems": problems,
        "repaired": list(done.problems) if done is not None else [],
        "entries": list(done.repaired) if done is not None else [],
    }


def _repair(app: App, reference: str) -> None:
    done = app.provisioner.repair_model(reference)
    if app.json_output:
        app.emit_json(_verdict(done.reference, True, done.report.bytes_checked, [], done))
        return
    for problem in done.problems:
        app.say(f"[yellow]repaired[/] {problem}")
    for other in done.repaired:
        if other != done.reference:
            app.say(f"    also repaired {other}, which shares it")
    _report_ok(app, done.report)


def _report_ok(app: App, report: VerifyReport) -> None:
    if app.json_output:
        app.emit_json(_verdict(report.reference, True, report.bytes_checked, []))
    else:
        app.say(f"[green]✓[/] {report.reference} ({format_bytes(report.bytes_checked)} checked)")


def _report_failure(app: App, what: str, exc: IntegrityError) -> None:
    if app.json_output:
        app.emit_json(_verdict(what, False, None, exc.problems))
        return
    app.say(f"[red]✗[/] {what}")
    for problem in exc.problems:
        app.say(f"    {problem}")
