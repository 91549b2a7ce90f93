"""provisioner list: the catalog, read from manifests only.

On a terminal: ``NAME  SIZE  MODIFIED`` like ``ollama list``. In a pipe: tab-separated
``name, reference, size in bytes, downloaded at, path, hashes``, one line per model, where
hashes is ``published``, or ``first seen here`` when a file's hash was published by no server
(``--allow-unverified``). ``-q``: names only. A manifest that does not read back is listed as
damaged: on stderr, and in ``--json`` as ``{"damaged": true, "manifest", "problem"}``.
``--json`` joins the model objects the catalog already holds rendered (``ListedModel.json``).
"""

from __future__ import annotations

import gc
import json
import sys
import time

import click

from .._listing import FILTER_KEYS, SORT_KEYS, ListedModel, ago, select_rows
from .._models import HASH_FIRST_SEEN, HASH_PUBLISHED, JSON_SCHEMA
from .._units import format_bytes
from . import _app
from ._app import App, global_options
from ._table import aligned, is_terminal, tab_separated


@click.command("list")
@click.option("-q", "--quiet", is_flag=True, help="Print model names only, one per line.")
@click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    help=f"Keep matching models: 'size>1GB', 'modified>7d', 'quant=Q4_K_M', 'name=org/*' "
    f"(keys: {', '.join(FILTER_KEYS)}). Repeatable.",
)
@click.option(
    "--sort",
    help=f"Sort by {', '.join(SORT_KEYS)}, optionally :asc or :desc "
    "(size and modified: biggest/newest first; name: A to Z).",
)
@click.option("--limit", type=click.IntRange(0), help="Show only the first N after sorting.")
@global_options
@click.pass_obj
def list_models(
    app: App, quiet: bool, filters: tuple[str, ...], sort: str | None, limit: int | None
) -> None:
    """List installed models (and manifests that are damaged)."""
    if _app.ONE_SHOT:
        # 10,000 entries allocate ~70,000 objects and no cycle; the collector's passes over
        # them cost 17-25 ms of a 260 ms ``list --json`` (benchmarks/catalog.py), and the
        # process ends after this command.
        gc.disable()
    now = time.time()
    listing = app.provisioner.listing()
    rows = select_rows(listing.models, now, filters, sort, limit)
    damaged = listing.damaged
    if app.json_output:
        bad = [
            {
                "damaged": True,
                "manifest": str(d.manifest),
                "problem": d.problem,
                "schema": JSON_SCHEMA,
            }
            for d in damaged
        ]
        objects = [r.json for r in rows] + [json.dumps(d, sort_keys=True).encode() for d in bad]
        app.emit_json_array(objects)
        return
    for d in damaged:
        click.echo(f"damaged: {d.manifest}: {d.problem}", err=True)
    if not rows and damaged:
        return
    if not rows:
        click.echo("no installed model matches" if filters else "no models installed", err=True)
    elif quiet:
        sys.stdout.write("".join(f"{r.name}\n" for r in rows))
    elif not is_terminal():
        sys.stdout.write(
            tab_separated(
                [
                    (
                        r.name,
                        r.reference,
                        str(r.total_size),
                        r.downloaded_at,
                        r.path,
                        HASH_FIRST_SEEN if r.unverified else HASH_PUBLISHED,
                    )
                    for r in rows
                ]
            )
        )
    else:
        cells = [(_named(r), format_bytes(r.total_size), ago(r.modified, now)) for r in rows]
        sys.stdout.write(aligned(("NAME", "SIZE", "MODIFIED"), cells, right={1}))


def _named(row: ListedModel) -> str:
    """The name, marked when a file's hash was first seen here (no server published one)."""
    return f"{row.name} (hash first seen here)" if row.unverified else row.name
