"""provisioner info REF: what an installed model is, from its manifest (or the Hub, --remote)."""

from __future__ import annotations

import sys

import click

from .._units import format_bytes
from ._app import App, global_options
from ._complete import references
from ._table import aligned


@click.command()
@click.argument("reference", shell_complete=references)
@click.option("--remote", is_flag=True, help="Ask the Hub; read only the headers (Range requests).")
@click.option(
    "--context",
    type=click.IntRange(1, 1 << 24),
    default=4096,
    show_default=True,
    help="Tokens a worker runs with, for the memory estimate of --remote.",
)
@global_options
@click.pass_obj
def info(app: App, reference: str, remote: bool, context: int) -> None:
    """Show a model's files, sizes and metadata (installed, or on the Hub with --remote)."""
    if remote:
        from .offers import show_remote

        show_remote(app, reference, context)
        return
    model = app.provisioner.get_model_info(reference)
    if app.json_output:
        app.emit_json(model.summary())
        return
    rows = {
        "reference": model.reference,
        "repo": model.repo,
        "revision": model.revision,
        "commit": model.commit,
        "format": model.format,
        "path": str(model.model_path),
        "projector": str(model.projector_path or ""),
        "size": f"{format_bytes(model.total_size)} ({model.total_size} bytes)",
        "files": str(model.file_count),
        "downloaded": model.downloaded_at,
        "verified": model.verified_at or "-",
        "unverified": f"hash first seen here: {', '.join(model.unverified_files)}"
        if model.unverified_files
        else "",
    }
    rows.update(
        {k: str(v) for k, v in model.metadata.to_dict().items() if v is not None and k != "schema"}
    )
    sys.stdout.write(key_values(rows))
    files = [
        (f.path, format_bytes(f.size), f.sha256 + (" (first seen here)" if f.unverified else ""))
        for f in model.files
    ]
    sys.stdout.write("\n" + aligned(("FILE", "SIZE", "SHA256"), files, right={1}))


def key_values(rows: dict[str, str]) -> str:
    """``key  value`` lines; empty values left out, nothing cut."""
    kept = {k: v for k, v in rows.items() if v}
    width = max(map(len, kept))
    return "".join(f"{k:<{width}}  {v}\n" for k, v in kept.items())
