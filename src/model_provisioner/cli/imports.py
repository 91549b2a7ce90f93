"""provisioner import: adopt models already on this machine (hf cache, llama.cpp, Ollama,
a folder) without downloading them. Exit 4 when any file or entry was left out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import click

from .._errors import IntegrityError
from .._units import counted, format_bytes
from ._app import App, global_options
from ._usage import NamingGroup

if TYPE_CHECKING:
    from .._imports import ImportReport
    from .._progress import DownloadProgress

_DIR = click.Path(file_okay=False, path_type=Path)


@click.group(name="import", cls=NamingGroup)
def import_models() -> None:
    """Adopt models another tool already downloaded: hard links, no second copy."""


@import_models.command(name="hf-cache")
@click.argument("cache_dir", required=False, type=_DIR)
@click.option("--ref", "reference", help="Only this repo (ORG/NAME[@REV][:FILE|QUANT]).")
@global_options
@click.pass_obj
def hf_cache(app: App, cache_dir: Path | None, reference: str | None) -> None:
    """A huggingface_hub cache (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)."""
    _run(app, lambda view: app.provisioner.import_hf_cache(cache_dir, reference, progress=view))


@import_models.command(name="llama-cpp")
@click.argument("cache_dir", required=False, type=_DIR)
@global_options
@click.pass_obj
def llama_cpp(app: App, cache_dir: Path | None) -> None:
    """llama.cpp's downloads (default: $LLAMA_CACHE, else its platform cache folders)."""
    _run(app, lambda view: app.provisioner.import_llama_cpp(cache_dir, progress=view))


@import_models.command()
@click.argument("models_dir", required=False, type=_DIR)
@click.option("--model", "name", help="Only this model (llama3:8b, library/llama3:8b).")
@global_options
@click.pass_obj
def ollama(app: App, models_dir: Path | None, name: str | None) -> None:
    """An Ollama store (default: $OLLAMA_MODELS, else ~/.ollama/models) as ollama: entries."""
    _run(app, lambda view: app.provisioner.import_ollama(models_dir, name, progress=view))


@import_models.command()
@click.argument("folder", type=_DIR)
@click.option("--as", "name", required=True, help="The entry's name: ORG/NAME (local:ORG/NAME).")
@global_options
@click.pass_obj
def folder(app: App, folder: Path, name: str) -> None:
    """A plain folder of GGUF or safetensors files."""
    _run(app, lambda view: app.provisioner.import_folder(folder, name, progress=view))


def _run(app: App, adopt: Callable[[ImportView], ImportReport]) -> None:
    """One import under its progress view, then its report."""
    with ImportView(app) as view:
        report = adopt(view)
    _show(app, report)


def _show(app: App, report: ImportReport) -> None:
    for info in report.imported:
        if app.json_output:
            app.emit_json({"event": "imported", **info.summary()})
        else:
            app.echo(
                f"imported {info.reference} ({format_bytes(info.total_size)}, "
                f"{counted(info.file_count, 'file')})\n  {info.model_path}"
            )
    for info in report.present:
        if app.json_output:
            app.emit_json({"event": "present", "reference": info.reference})
        else:
            app.echo(f"already installed {info.reference}")
    for item in report.skipped:
        if app.json_output:
            app.emit_json({"event": "skipped", "source": item.source, "reason": item.reason})
        else:
            click.echo(str(item), err=True)
    if app.json_output:
        app.emit_json(
            {
                "event": "result",
                "imported": len(report.imported),
                "present": len(report.present),
                "skipped": len(report.skipped),
                "bytes_linked": report.bytes_linked,
                "bytes_copied": report.bytes_copied,
            }
        )
    else:
        app.echo(
            f"{len(report.imported)} imported, {len(report.present)} already installed; "
            f"{format_bytes(report.bytes_linked)} linked, {format_bytes(report.bytes_copied)} "
            "copied"
        )
    if report.skipped:
        raise IntegrityError(f"{len(report.skipped)} item(s) not imported (listed above)")


class ImportView:
    """One bar for the bytes being hashed; JSON progress lines with --json."""

    def __init__(self, app: App) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self.app = app
        self.bars = Progress(
            TextColumn("checking"),
            BarColumn(),
            DownloadColumn(binary_units=False),
            TextColumn("{task.description}"),
            console=app.err,
            transient=True,
            disable=app.json_output or not app.err.is_terminal,
        )
        self.task = self.bars.add_task("", total=None)

    def __enter__(self) -> ImportView:
        self.bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bars.stop()

    def __call__(self, event: DownloadProgress) -> None:
        if self.app.json_output:
            self.app.emit_json({"event": "progress", **event.to_dict()})
            return
        name = Path(event.current_file).name if event.current_file else ""
        self.bars.update(
            self.task, completed=event.bytes_done, total=event.bytes_total or None, description=name
        )
