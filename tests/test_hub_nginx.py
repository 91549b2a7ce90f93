"""The engine against a CDN nobody here wrote: the fixture Hub redirects file bodies to nginx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_provisioner._errors import IntegrityError
from model_provisioner._hub import HubSettings
from tests.hub import FixtureHub, HubServer
from tests.hub.nginx import NginxCdn, nginx_binary
from tests.platform_helpers import without_linux_calls
from tests.transfer_helpers import FAST, REPO, Fetch, MiB, make_fetch, run_engine

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")
BIG = "weights.gguf"
SMALL = "config.json"


@pytest.fixture(autouse=True, params=["linux", "portable"])
def platform(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "portable":
        without_linux_calls(monkeypatch)


@pytest.fixture
def fetch(fixture_hub: FixtureHub, tmp_path: Path) -> Fetch:
    return make_fetch(fixture_hub, tmp_path, {BIG: 20 * MiB + 4321, SMALL: 5000})


@pytest.fixture
def nginx(fetch: Fetch, tmp_path: Path) -> Iterator[NginxCdn]:
    cdn = NginxCdn(tmp_path / "nginx")
    cdn.publish(fetch.hub, REPO, fetch.commit)
    cdn.start()
    try:
        yield cdn
    finally:
        cdn.stop()


@pytest.fixture
def server(fixture_hub: FixtureHub, nginx: NginxCdn) -> Iterator[HubServer]:
    with HubServer(fixture_hub, external_cdn=nginx.url) as hub:
        yield hub


def test_bodies_come_from_nginx_in_ranges_and_verify(fetch: Fetch, server: HubServer) -> None:
    settings = HubSettings(endpoint=server.url)
    jobs = fetch.jobs(settings)
    hashes = run_engine(settings, jobs)
    for job in jobs:
        assert job.partial.read_bytes() == fetch.sources[job.path].read_bytes()
        assert hashes[job.path] == fetch.sha256(job.path)
    server.settle()
    assert server.bytes_served(BIG) == 0  # the Hub only redirected it
    redirects = [e for e in server.log() if e.file == BIG]
    assert redirects and {e.status for e in redirects} == {302}
    assert {e.listener for e in server.log()} == {"hub"}


def test_nginx_serving_other_bytes_is_refused(
    fetch: Fetch, server: HubServer, nginx: NginxCdn
) -> None:
    """The CDN is trusted no more than our own: one flipped byte fails the published sha256."""
    link = nginx.dir / "root" / "repos" / REPO / fetch.commit
    tree = link.resolve()
    link.unlink()
    shutil.copytree(tree, link)
    damaged = bytearray((link / BIG).read_bytes())
    damaged[7 * MiB] ^= 0xFF
    (link / BIG).write_bytes(bytes(damaged))
    settings = HubSettings(endpoint=server.url)
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        run_engine(settings, fetch.jobs(settings, [BIG]), FAST)


def test_an_nginx_that_closes_every_connection(
    fetch: Fetch, fixture_hub: FixtureHub, tmp_path: Path
) -> None:
    """``keepalive_timeout 0``: each 206 says ``Connection: close`` (every body failed with
    'Bad file descriptor': http.client closed the socket the metered reader read)."""
    closing = NginxCdn(tmp_path / "closing", keepalive=False)
    closing.publish(fetch.hub, REPO, fetch.commit)
    closing.start()
    try:
        with HubServer(fixture_hub, external_cdn=closing.url) as server:
            settings = HubSettings(endpoint=server.url)
            jobs = fetch.jobs(settings)
            hashes = run_engine(settings, jobs)
    finally:
        closing.stop()
    for job in jobs:
        assert job.partial.read_bytes() == fetch.sources[job.path].read_bytes()
        assert hashes[job.path] == fetch.sha256(job.path)
