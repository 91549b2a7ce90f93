"""The engine against Python's http.server as the CDN: a server nobody here wrote that speaks
HTTP/1.0, closes every connection after its answer and ignores Range (200, the whole body)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from model_provisioner._hub import HubSettings
from tests.hub import FixtureHub, HubServer
from tests.transfer_helpers import REPO, Fetch, MiB, make_fetch, run_engine

BIG = "weights.gguf"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log on stderr."""


@pytest.fixture
def fetch(fixture_hub: FixtureHub, tmp_path: Path) -> Fetch:
    return make_fetch(fixture_hub, tmp_path, {BIG: 9 * MiB + 77, "config.json": 300})


@pytest.fixture
def cdn(fetch: Fetch, tmp_path: Path) -> Iterator[str]:
    """``/repos/<repo>/<commit>/<path>``: the layout the Hub redirects to."""
    root = tmp_path / "cdn"
    link = root / "repos" / REPO / fetch.commit
    link.parent.mkdir(parents=True)
    link.symlink_to(fetch.hub.file_path(REPO, fetch.commit, "."), target_is_directory=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_bodies_from_an_http_1_0_server_that_ignores_range(
    fetch: Fetch, fixture_hub: FixtureHub, cdn: str
) -> None:
    with HubServer(fixture_hub, external_cdn=cdn, cdn_threshold=0) as server:
        settings = HubSettings(endpoint=server.url)
        jobs = fetch.jobs(settings)
        hashes = run_engine(settings, jobs)
    for job in jobs:
        assert job.partial.read_bytes() == fetch.sources[job.path].read_bytes()
        assert hashes[job.path] == fetch.sha256(job.path)
