"""The fixture Hub and its CDN over TLS, with a local CA: pull and verify, and every way a
certificate can be wrong ends in one line; huggingface_hub's own client is the control."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest
import trustme

from model_provisioner import TLSError
from model_provisioner._network import network
from tests.hub import FixtureHub, HubServer
from tests.makers import make_gguf_repo
from tests.network_helpers import clean_env, error_line, provisioner, server_tls, write_ca

REPO = "Org/Secure-GGUF"
FILE = "secure.Q4_K_M.gguf"
SIZE = 3 << 20  # over the CDN threshold: the body comes from the CDN host


@pytest.fixture
def repo(fixture_hub: FixtureHub) -> str:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",), pad_to=SIZE, stem="secure")
    return REPO


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    return write_ca(ca, tmp_path / "ca.pem")


@pytest.fixture
def tls_server(fixture_hub: FixtureHub, ca: trustme.CA) -> Iterator[HubServer]:
    with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1", "127.0.0.2")) as server:
        yield server


@pytest.fixture
def fresh_hf_session() -> Iterator[None]:
    """huggingface_hub builds its client (and reads SSL_CERT_FILE) once: rebuild around a test."""
    huggingface_hub.close_session()
    yield
    huggingface_hub.close_session()


def test_pull_and_verify_over_tls(
    home: Path, tls_server: HubServer, repo: str, ca_file: Path
) -> None:
    env = clean_env(SSL_CERT_FILE=str(ca_file))
    ran = provisioner(home, env, "--endpoint", tls_server.url, "pull", repo)
    assert ran.code == 0, ran.err
    assert provisioner(home, env, "verify", repo).code == 0
    tls_server.settle()
    log = tls_server.log()
    assert tls_server.url.startswith("https://") and tls_server.cdn_url.startswith("https://")
    assert any(e.listener == "cdn" and e.file == FILE and e.complete for e in log)


def test_an_untrusted_cdn_certificate_is_one_line(
    home: Path, fixture_hub: FixtureHub, repo: str, ca: trustme.CA, ca_file: Path
) -> None:
    """The Hub is trusted (metadata works), the CDN's CA is not: the engine's own answer."""
    hub_tls = server_tls(ca, "127.0.0.1")
    with HubServer(fixture_hub, tls=hub_tls, cdn_tls=server_tls(trustme.CA(), "127.0.0.2")) as s:
        env = clean_env(SSL_CERT_FILE=str(ca_file))
        ran = provisioner(home, env, "--endpoint", s.url, "pull", repo)
        s.settle()
        cdn_requests = [e for e in s.log() if e.listener == "cdn"]
    assert ran.code == 1
    line = error_line(ran)
    assert f"{s.cdn_url}: TLS certificate rejected" in line and "gave up" not in line
    assert cdn_requests == []


def test_a_certificate_for_another_host_is_one_line(
    home: Path, fixture_hub: FixtureHub, repo: str, ca: trustme.CA, ca_file: Path
) -> None:
    wrong = server_tls(ca, "127.0.0.1")  # served by the CDN at 127.0.0.2
    with HubServer(fixture_hub, tls=server_tls(ca, "127.0.0.1"), cdn_tls=wrong) as server:
        env = clean_env(SSL_CERT_FILE=str(ca_file))
        ran = provisioner(home, env, "--endpoint", server.url, "pull", repo)
    assert ran.code == 1
    line = error_line(ran)
    assert f"{server.cdn_url}: TLS certificate rejected: IP address mismatch" in line
    assert "certificate is for other hosts" in line


def test_an_untrusted_hub_is_one_line_naming_the_variable(
    home: Path, tls_server: HubServer, repo: str
) -> None:
    ran = provisioner(home, clean_env(), "--endpoint", tls_server.url, "pull", repo)
    assert ran.code == 1
    line = error_line(ran)
    assert "TLS certificate rejected" in line and "set SSL_CERT_FILE" in line
    assert tls_server.log() == []


def test_requests_ca_bundle_is_not_read_and_the_error_says_so(
    home: Path, tls_server: HubServer, repo: str, ca_file: Path
) -> None:
    """As in huggingface_hub >= 1.0 (its client is the control below)."""
    env = clean_env(REQUESTS_CA_BUNDLE=str(ca_file))
    ran = provisioner(home, env, "--endpoint", tls_server.url, "pull", repo)
    assert ran.code == 1
    assert "REQUESTS_CA_BUNDLE is not read" in error_line(ran)


def test_ssl_cert_dir_is_read(
    home: Path, tls_server: HubServer, repo: str, ca: trustme.CA, tmp_path: Path
) -> None:
    """SSL_CERT_DIR, an OpenSSL hashed folder, is honoured like huggingface_hub honours it."""
    folder = tmp_path / "certs"
    folder.mkdir()
    write_ca(ca, folder / "ca.pem")
    subprocess.run(["openssl", "rehash", str(folder)], check=True, capture_output=True)
    env = clean_env(SSL_CERT_DIR=str(folder))
    ran = provisioner(home, env, "--endpoint", tls_server.url, "pull", repo)
    assert ran.code == 0, ran.err


def test_a_missing_ca_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nowhere.pem"))
    with pytest.raises(TLSError, match=r"SSL_CERT_FILE=.*nowhere\.pem"):
        network()


@pytest.mark.usefixtures("fresh_hf_session")
def test_huggingface_hub_is_the_control(
    tls_server: HubServer,
    repo: str,
    ca_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real client trusts exactly what we trust: the CA file works, REQUESTS_CA_BUNDLE not."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        huggingface_hub.HfApi(endpoint=tls_server.url).model_info(repo)
    huggingface_hub.close_session()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    path = huggingface_hub.hf_hub_download(
        repo, FILE, endpoint=tls_server.url, cache_dir=tmp_path / "hf-cache"
    )
    found = tls_server.hub.find_repo(repo)
    assert found is not None
    commit = tls_server.hub.resolve(found, "main")
    assert commit is not None
    served = tls_server.hub.file_path(repo, commit, FILE)
    assert _sha256(Path(path)) == _sha256(served)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_https_to_a_plain_http_server_is_one_line(
    home: Path, hub_server: HubServer, repo: str
) -> None:
    url = hub_server.url.replace("http://", "https://")
    ran = provisioner(home, clean_env(), "--endpoint", url, "pull", repo)
    assert ran.code == 1
    assert "the server does not speak TLS" in error_line(ran)
