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
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@global_options
@click.pass_obj
def gc(app: App, older_than: str, dry_run: bool) -> None:
    """Remove partial downloads nobody resumes, and files no catalog entry names."""
    found = app.provisioner.collect_garbage(parse_age(older_than), dry_run=dry_run)
    if app.json_output:
        app.emit_json({"removed": [str(p) for p in found], "dry_run": dry_run})
        return
    verb = "would remove" if dry_run else "removed"
    for path in found:
        app.say(f"{verb} {path}")
    app.say(f"{verb} {len(found)} files")
