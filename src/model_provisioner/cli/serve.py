"""provisioner serve: the HTTP service (jobs, SSE progress, the store as a Hub mirror)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ._app import App, global_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="PROVISIONER_TOKEN_FILE",
    help="File holding the bearer token clients must send (or set PROVISIONER_TOKEN).",
)
@click.option(
    "--keep-jobs",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="Minutes a finished download job stays queryable.",
)
@click.option("--max-parallel", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--limit-rate",
    metavar="RATE",
    help="Bandwidth cap in bytes/s shared by all download jobs (50M, 500K).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@global_options
@click.pass_obj
def serve(
    app: App,
    host: str,
    port: int,
    token_file: Path | None,
    keep_jobs: float,
    max_parallel: int,
    limit_rate: str | None,
    log_level: str,
) -> None:
    """Serve the store over HTTP (loopback only unless a token is set)."""
    from .._config import parse_value
    from ..server import ServiceOptions, build_service, run_service

    provisioner = app.provisioner
    if limit_rate is not None:
        provisioner.limit_rate = parse_value("limit_rate", limit_rate, "--limit-rate")
    token = _read_token(token_file)
    options = ServiceOptions(token=token, keep_finished=keep_jobs * 60, max_parallel=max_parallel)
    service = build_service(provisioner, host=host, port=port, options=options, log_level=log_level)

    def ready(url: str) -> None:
        click.echo(f"serving {provisioner.home} on {url}", err=True)
        if app.json_output:
            app.emit_json({"event": "listening", "url": url, "home": str(provisioner.home)})

    run_service(service, on_ready=ready)


def _read_token(token_file: Path | None) -> str | None:
    """From the file (first line), else PROVISIONER_TOKEN; never from the command line."""
    if token_file is not None:
        token = token_file.read_text().strip()
        if not token:
            raise click.UsageError(f"{token_file} is empty")
        return token
    return os.environ.get("PROVISIONER_TOKEN") or None
