"""provisioner sync models.lock: hold exactly the lockfile's models, verified against it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .._errors import ProvisionerError
from .._units import format_bytes
from ._app import App, global_options
from .pull import cancel_on_signals

if TYPE_CHECKING:
    from .._sync import SyncOutcome


@click.command()
@click.argument("lockfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prune", is_flag=True, help="Also remove installed models the lockfile omits.")
@click.option("--limit-rate", metavar="RATE", help="Bandwidth cap in bytes/s (50M, 500K).")
@global_options
@click.pass_obj
def sync(app: App, lockfile: Path, prune: bool, limit_rate: str | None) -> None:
    """Fetch what LOCKFILE names and is missing; refuse bytes that differ from its hashes."""
    from .._config import parse_value
    from .._errors import UsageError
    from .._lockfile import parse_lockfile

    if limit_rate is not None:
        app.provisioner.limit_rate = parse_value("limit_rate", limit_rate, "--limit-rate")
    try:
        text = lockfile.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {lockfile}: {exc.strerror or exc}") from None
    lock = parse_lockfile(text, str(lockfile))
    with cancel_on_signals() as cancel:
        report = app.provisioner.sync(lock, prune=prune, cancel=cancel)
    for outcome in report.outcomes:
        if app.json_output:
            app.emit_json(outcome.to_json())
            continue
        line = f"{outcome.status:<9} {outcome.reference}"
        if outcome.bytes_fetched:
            line += f" ({format_bytes(outcome.bytes_fetched)} fetched)"
        if outcome.error is not None:
            line += f": {outcome.error}"
        app.echo(line)
    if cancel.signal == signal.SIGINT:
        raise KeyboardInterrupt("interrupted; the partial downloads stay for the next sync")
    if report.failures:
        raise _incomplete(report.failures, len(lock.models))


def _incomplete(failures: list[SyncOutcome], total: int) -> ProvisionerError:
    """One line after the report; the exit code of the failures when they agree, else 1."""
    errors = [f.error for f in failures if f.error is not None]
    same = len({e.exit_code for e in errors}) == 1
    kind = type(errors[0]) if errors and same else ProvisionerError
    return kind(
        f"sync incomplete: {len(failures)} of {total} models failed", hint="see the report above"
    )
