"""provisioner export --hf-cache [DIR]: installed models as a huggingface_hub cache of links."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import IntegrityError, UsageError
from .._units import counted
from ._app import App, global_options


@click.command()
@click.option(
    "--hf-cache",
    "cache_dir",
    is_flag=False,
    flag_value="",
    default=None,
    help="huggingface_hub cache folder (without a value: $HF_HUB_CACHE, $HF_HOME/hub, ...).",
)
@global_options
@click.pass_obj
def export(app: App, cache_dir: str | None) -> None:
    """Make installed models visible to huggingface_hub, transformers, vLLM and llama.cpp."""
    if cache_dir is None:
        raise UsageError("say where to: provisioner export --hf-cache [DIR]")
    report = app.provisioner.export_hf_cache(Path(cache_dir) if cache_dir else None)
    if app.json_output:
        app.emit_json(
            {
                "cache": str(report.cache),
                "repos": report.repos,
                "linked": report.linked,
                "present": report.present,
                "skipped": report.skipped,
            }
        )
    else:
        for item in report.skipped:
            click.echo(item, err=True)
        app.echo(
            f"exported {counted(len(report.repos), 'repo')} to {report.cache}: "
            f"{counted(report.linked, 'file')} "
            f"linked, {report.present} already there"
        )
    if report.skipped:
        raise IntegrityError(f"{len(report.skipped)} entries not exported (listed above)")
