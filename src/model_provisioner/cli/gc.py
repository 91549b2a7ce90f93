"""provisioner gc: remove stale partial downloads and what interrupted pulls left behind."""

from __future__ import annotations

import re

import click

from .._errors import UsageError
from ._app import App, global_options

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d`` or plain seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not match:
        raise UsageError(f"cannot read age {text!r}: use e.g. 30m, 12h, 7d")
    return float(match[1]) * _UNITS[match[2] or "s"]


@click.command()
@click.option("--older-than", default="1d", show_default=True, help="Only what is older (7d, 12h).")
@click.option(
    "--max-size",
    metavar="SIZE",
    help="Then evict unpinned models, least recently used first, until the store fits (200G).",
)
@click.option(
    "--keep-recent",
    default="5m",
    show_default=True,
    help="Never evict a model handed to a worker this recently.",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@global_options
@click.pass_obj
def gc(app: App, older_than: str, max_size: str | None, keep_recent: str, dry_run: bool) -> None:
    """Remove partial downloads nobody resumes, files no catalog entry names, empty folders;
    with --max-size, evict least recently used models until the store fits."""
    from .._config import parse_size
    from .._errors import DiskSpaceError
    from .._units import counted, format_bytes

    limit = None
    if max_size is not None:
        try:
            limit = parse_size(max_size)
        except (ValueError, UsageError) as exc:
            raise UsageError(f"--max-size: {exc}") from None
    report = app.provisioner.gc(
        parse_age(older_than), max_size=limit, keep_recent=parse_age(keep_recent), dry_run=dry_run
    )
    if app.json_output:
        app.emit_json(
            {
                "removed": [str(p) for p in report.removed],
                "evicted": report.evicted,
                "freed": report.freed,
                "size": report.size,
                "dry_run": dry_run,
            }
        )
    else:
        verb = "would " if dry_run else ""
        for path in report.removed:
            app.say(f"{verb}remove {path}" if dry_run else f"removed {path}")
        for reference in report.evicted:
            app.say(f"{verb}evict {reference}" if dry_run else f"evicted {reference}")
        app.say(
            f"{verb}{'free' if dry_run else 'freed'} {format_bytes(report.freed)}: "
            f"{counted(len(report.removed), 'file')}, {counted(len(report.evicted), 'model')}; "
            f"the store {'would hold' if dry_run else 'holds'} {format_bytes(report.size)}"
        )
    if not report.fits and limit is not None:
        raise DiskSpaceError(
            f"the store still holds {format_bytes(report.size)}, over --max-size "
            f"{format_bytes(limit)}",
            hint="the rest is pinned, in use by a pull, or used within --keep-recent",
        )
