"""Through a real proxy (Debian's tinyproxy): every byte, metadata and file bodies, Hub and CDN.

The proxy connects out from its own address (PROXY_SOURCE), so the fixture server's log shows
for each request whether it came through the proxy; the CDN must still never see the token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from model_provisioner import NetworkError
from model_provisioner._hub import HubSettings
from model_provisioner._progress import TransferStats
from model_provisioner._transfer import TransferEngine
from tests.conftest import FIXTURE_TOKEN
from tests.hub import FixtureHub, HubServer
from tests.makers import make_gguf_repo
from tests.network_helpers import (
    PROXY_SOURCE,
    TINYPROXY,
    Tinyproxy,
    clean_env,
    error_line,
    provisioner,
    server_tls,
    write_ca,
)
from tests.transfer_helpers import FAST, make_fetch

pytestmark = pytest.mark.skipif(
    TINYPROXY is None, reason="tinyproxy not installed (scripts/system-deps.sh installs it)"
)

REPO = "Org/Proxied-GGUF"
FILE = "proxied.Q4_K_M.gguf"
SIZE = 3 << 20  # over the fixture's CDN threshold: the Hub redirects it to the CDN


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    running = Tinyproxy(tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def repo(fixture_hub: FixtureHub) -> str:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=SIZE, stem="proxied")
    return REPO


def assert_all_proxied(server: HubServer) -> None:
    """Metadata, Hub resolve and CDN body requests all arrived from the proxy's address."""
    server.settle()
    log = server.log()
    assert {e.peer_host for e in log} == {PROXY_SOURCE}, [(e.peer_host, e.path) for e in log]
    assert any(e.path.startswith("/api/models/") for e in log)
    assert any(e.listener == "hub" and "/resolve/" in e.path for e in log)
    assert any(e.listener == "cdn" and e.file == FILE for e in log)
    assert all(e.authorization for e in log if e.listener == "hub")
    assert not any(e.authorization for e in log if e.listener == "cdn")


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "all_proxy"])
def test_pull_over_http_forwards_every_request_through_the_proxy(
    home: Path, hub_server: HubServer, repo: str, proxy: Tinyproxy, variable: str
) -> None:
    env = clean_env(**{variable: proxy.url}, HF_TOKEN=FIXTURE_TOKEN)
    ran = provisioner(home, env, "--endpoint", hub_server.url, "pull", repo)
    assert ran.code == 0, ran.err
    assert_all_proxied(hub_server)
    lines = proxy.requests()
    assert any(line.startswith(f"GET {hub_server.url}/api/models/") for line in lines)
    assert any(line.startswith(f"GET {hub_server.cdn_url}/repos/") for line in lines)


def test_pull_over_https_tunnels_every_connection_through_the_proxy(
    home: Path, fixture_hub: FixtureHub, repo: str, proxy: Tinyproxy, tmp_path: Path
) -> None:
    ca = trustme.CA()
    with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1", "127.0.0.2")) as server:
        env = clean_env(
            HTTPS_PROXY=proxy.url,
            SSL_CERT_FILE=str(write_ca(ca, tmp_path / "ca.pem")),
            HF_TOKEN=FIXTURE_TOKEN,
        )
        ran = provisioner(home, env, "--endpoint", server.url, "pull", repo)
        assert ran.code == 0, ran.err
        assert provisioner(home, env, "verify", repo).code == 0
        assert_all_proxied(server)
        hosts = {line.split()[1] for line in proxy.requests()}
        assert all(line.startswith("CONNECT ") for line in proxy.requests())
        assert hosts == {
            server.url.removeprefix("https://"),
            server.cdn_url.removeprefix("https://"),
        }


def test_no_proxy_sends_the_named_host_direct(
    home: Path, hub_server: HubServer, repo: str, proxy: Tinyproxy
) -> None:
    env = clean_env(http_proxy=proxy.url, NO_PROXY="example.com, 127.0.0.2")
    ran = provisioner(home, env, "--endpoint", hub_server.url, "pull", repo)
    assert ran.code == 0, ran.err
    hub_server.settle()
    peers = {(e.listener, e.peer_host) for e in hub_server.log()}
    assert peers == {("hub", PROXY_SOURCE), ("cdn", "127.0.0.1")}


def test_proxy_credentials_come_from_the_proxy_url(
    home: Path, hub_server: HubServer, repo: str, tmp_path: Path
) -> None:
    guarded = Tinyproxy(tmp_path, basic_auth=("alice", "s3cret"))
    try:
        url = guarded.url.replace("http://", "http://alice:s3cret@")
        env = clean_env(HTTP_PROXY=url)
        ran = provisioner(home, env, "--endpoint", hub_server.url, "pull", repo)
        assert ran.code == 0, ran.err
        hub_server.settle()
        assert {e.peer_host for e in hub_server.log()} == {PROXY_SOURCE}
        assert "s3cret" not in ran.out + ran.err
    finally:
        guarded.stop()


def test_a_proxy_that_wants_credentials_is_one_line(
    home: Path, fixture_hub: FixtureHub, repo: str, tmp_path: Path
) -> None:
    guarded = Tinyproxy(tmp_path, basic_auth=("alice", "s3cret"))
    ca = trustme.CA()
    try:
        with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1", "127.0.0.2")) as server:
            env = clean_env(
                HTTPS_PROXY=guarded.url, SSL_CERT_FILE=str(write_ca(ca, tmp_path / "ca.pem"))
            )
            ran = provisioner(home, env, "--endpoint", server.url, "pull", repo)
    finally:
        guarded.stop()
    assert ran.code == 1
    assert "407 Proxy Authentication Required" in error_line(ran)


def test_a_proxy_that_refuses_the_tunnel_is_one_line_naming_it_at_once(
    home: Path, fixture_hub: FixtureHub, repo: str, tmp_path: Path
) -> None:
    """A 403 to CONNECT is the proxy's policy: retrying cannot change it (metadata and search
    retried it for 3 s, then said only 'cannot reach ...: 403 Access violation' or
    'ProxyError', never that the proxy refused)."""
    strict = Tinyproxy(tmp_path, connect_ports=(443,))
    ca = trustme.CA()
    try:
        with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1", "127.0.0.2")) as server:
            env = clean_env(
                HTTPS_PROXY=strict.url.removeprefix("http://"),  # no scheme: http:// meant
                REQUESTS_CA_BUNDLE=str(write_ca(ca, tmp_path / "ca.pem")),
            )
            refused = f"{strict.url.replace('http://', 'proxy ')} refused a tunnel to {server.url}"
            for command in (["pull", repo], ["info", "--remote", repo], ["search", "proxied"]):
                ran = provisioner(home, env, "--endpoint", server.url, *command)
                assert ran.code == 1
                assert error_line(ran).startswith(f"error: {refused} (403 "), ran.err
            assert server.log() == []
            assert len(strict.requests()) == 3  # each asked once, not retried
    finally:
        strict.stop()


def test_a_proxy_address_that_is_no_proxy_is_named_in_the_line(
    home: Path, fixture_hub: FixtureHub, repo: str, tmp_path: Path
) -> None:
    """HTTPS_PROXY naming a server that is not a proxy (here the TLS Hub itself, a classic
    copy-paste slip): the line says the failure came through that proxy (it said only
    'cannot reach https://hub: RemoteProtocolError', pointing at the Hub)."""
    ca = trustme.CA()
    with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1", "127.0.0.2")) as server:
        not_a_proxy = server.url.removeprefix("https://")
        env = clean_env(
            HTTPS_PROXY=f"http://{not_a_proxy}", SSL_CERT_FILE=str(write_ca(ca, tmp_path / "c"))
        )
        for command in (["pull", repo], ["search", "proxied"]):  # metadata, huggingface_hub
            ran = provisioner(home, env, "--endpoint", server.url, *command)
            assert ran.code == 1
            line = error_line(ran)
            assert line.startswith(f"error: cannot reach {server.url}: "), ran.err
            assert line.endswith(f" (through proxy {not_a_proxy})"), ran.err


def test_a_dead_proxy_is_one_line(home: Path, hub_server: HubServer, repo: str) -> None:
    env = clean_env(HTTP_PROXY="http://127.0.0.1:9")
    ran = provisioner(home, env, "--endpoint", hub_server.url, "pull", repo)
    assert ran.code == 1
    assert "cannot connect to proxy 127.0.0.1:9" in error_line(ran)
    assert hub_server.log() == []


def test_engine_bodies_through_a_proxy_that_wants_credentials(
    fixture_hub: FixtureHub, hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's own answer to a 407 on CONNECT: one NetworkError, not retried."""
    ca = trustme.CA()
    guarded = Tinyproxy(tmp_path, basic_auth=("alice", "s3cret"))
    fetch = make_fetch(fixture_hub, tmp_path, {"a.bin": 2 << 20})
    try:
        with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1", "127.0.0.2")) as server:
            for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("HTTPS_PROXY", guarded.url)
            monkeypatch.setenv("SSL_CERT_FILE", str(write_ca(ca, tmp_path / "ca.pem")))
            settings = HubSettings(endpoint=server.url)
            with pytest.raises(NetworkError, match="wants credentials"):
                TransferEngine(settings, FAST).run(
                    fetch.jobs(settings), TransferStats(), threading.Event()
                )
            assert server.log() == []
    finally:
        guarded.stop()


def test_info_remote_goes_through_the_proxy_too(
    home: Path, fixture_hub: FixtureHub, repo: str, proxy: Tinyproxy, tmp_path: Path
) -> None:
    ca = trustme.CA()
    with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1", "127.0.0.2")) as server:
        env = clean_env(
            https_proxy=proxy.url,
            SSL_CERT_FILE=str(write_ca(ca, tmp_path / "ca.pem")),
            HF_TOKEN=FIXTURE_TOKEN,
        )
        ran = provisioner(home, env, "--endpoint", server.url, "info", "--remote", repo)
        assert ran.code == 0, ran.err
        assert "Q4_K_M" in ran.out
        assert_all_proxied(server)
