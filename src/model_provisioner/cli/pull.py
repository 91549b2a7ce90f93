"""provisioner pull REF: fetch a model (or move it to its revision's new commit)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click

from .._errors import Cancelled
from .._gguf_names import is_default_quant, quant_of
from .._models import ModelInfo
from .._units import counted, format_bytes
from ._app import App, global_options
from ._complete import references

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED = "interrupted; the partial download stays for the next pull"


@click.command()
@click.argument("references", nargs=-1, required=True, shell_complete=references)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and the bytes to fetch; fetch nothing."
)
@click.option(
    "--no-update", is_flag=True, help="Trust an installed entry; do not ask the Hub for news."
)
@click.option("--max-connections", type=click.IntRange(1, 64), help="Cap on parallel connections.")
@click.option(
    "--limit-rate",
    metavar="RATE",
    help="Bandwidth cap in bytes/s for all files and connections (50M, 500K).",
)
@global_options
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Accept files the server publishes no hash for (recorded as 'hash first seen here').",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Hash the installed files first; fetch what is damaged again, for every model sharing it.",
)
@click.pass_obj
def pull(
    app: App,
    references: tuple[str, ...],
    dry_run: bool,
    no_update: bool,
    max_connections: int | None,
    allow_unverified: bool,
    limit_rate: str | None,
    repair: bool,
) -> None:
    """Download REFERENCES ([hf:]ORG/NAME[@REV][:QUANT|FILE], or an alias) into the store."""
    if limit_rate is not None:
        from .._config import parse_value

        app.provisioner.limit_rate = parse_value("limit_rate", limit_rate, "--limit-rate")
    if max_connections is not None:
        app.provisioner.max_connections = max_connections
    for reference in references:
        with app.json_errors(reference):
            _pull_one(app, reference, dry_run, not no_update, allow_unverified, repair)


def _pull_one(
    app: App, reference: str, dry_run: bool, update: bool, allow_unverified: bool, repair: bool
) -> None:
    from ._render import ProgressView

    if dry_run:
        _show_plan(app, reference, allow_unverified)
        return
    damage = _repaired(app, reference) if repair else app.provisioner.damage(reference)
    with ProgressView(app) as view, cancel_on_signals() as cancel:
        try:
            info = app.provisioner.install(
                reference,
                update=update,
                progress=view,
                cancel=cancel,
                allow_unverified=allow_unverified,
            )
        except Cancelled:
            if cancel.signal == signal.SIGINT:
                raise KeyboardInterrupt(INTERRUPTED) from None  # Ctrl-C: exit 130
            raise
    if app.json_output:
        if damage:
            app.emit_json({"event": "repaired", "problems": damage})
        app.emit_json({"event": "result", **info.summary()})
    else:
        for problem in damage:
            app.echo(f"repaired {problem}")
        app.echo(result_line(info))


def _repaired(app: App, reference: str) -> list[str]:
    """``--repair``: what the full check found and fixed (nothing if not installed yet)."""
    from .._errors import ModelNotFound

    try:
        return app.provisioner.repair_model(reference).problems
    except ModelNotFound:
        return []


def result_line(info: ModelInfo) -> str:
    """What was installed: the file a worker loads, its quantization, and when the ladder went
    past Q4_K_M and Q8_0, that it did. The path comes last, alone on its line. Plain text: the
    caller prints it without markup."""
    loaded = info.gguf_files[0] if info.gguf_files else None
    size = f"{format_bytes(info.total_size)}, {counted(info.file_count, 'file')}"
    if loaded:
        detail = f"{loaded} ({info.quantization or 'no quantization tag'}, {size})"
    else:
        detail = f"{info.format} ({size})"
    lines = [f"✓ {info.reference} @ {info.commit[:12]}: {detail}"]
    tag = quant_of(loaded) if loaded else None
    if loaded and info.selector is None and not is_default_quant(tag):
        lines.append(
            f"  no Q4_K_M or Q8_0 in {info.repo}: took {tag or loaded}, next on the ladder"
        )
    if info.projector:
        lines.append(f"  vision projector: {info.projector}")
    if info.unverified_files:
        lines.append(f"  hash first seen here: {', '.join(info.unverified_files)}")
    lines.append(f"  {info.model_path}")
    return "\n".join(lines)


class SignalCancel(threading.Event):
    """Set by the first stop signal, remembering which: Ctrl-C is the user interrupting
    (exit 130), SIGTERM a supervisor stopping us (a cancel, exit 1). The cancel is taken at
    the transfer's next resumable point, which a pull still resolving reaches only once the
    Hub answers: a second Ctrl-C leaves at once (what is on disk is crash-consistent)."""

    signal: int | None = None

    def stop(self, signum: int, _frame: object) -> None:
        if self.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt(INTERRUPTED)
        if self.signal is None:
            self.signal = signum
        self.set()


@contextmanager
def cancel_on_signals() -> Iterator[SignalCancel]:
    """Ctrl-C or SIGTERM stops the transfer at a resumable point instead of killing threads."""
    cancel = SignalCancel()
    previous = {sig: signal.signal(sig, cancel.stop) for sig in _STOP_SIGNALS}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _show_plan(app: App, reference: str, allow_unverified: bool) -> None:
    plan = app.provisioner.plan(reference, allow_unverified=allow_unverified)
    data = plan.to_dict()
    if app.json_output:
        app.emit_json({"event": "plan", **data})
        return
    app.say(f"{data['reference']} @ {plan.snapshot.commit[:12]} ({plan.selection.format})")
    for f in data["files"]:
        state = "in store" if f["in_store"] else "to fetch"
        app.say(f"  {f['path']}  {format_bytes(f['size'])}  {state}")
    fits = "fits" if data["fits"] else "[red]does not fit[/]"
    app.say(
        f"to fetch: {format_bytes(plan.bytes_to_fetch)} of {format_bytes(plan.bytes_total)}; "
        f"free: {format_bytes(plan.free)} ({fits})"
    )
