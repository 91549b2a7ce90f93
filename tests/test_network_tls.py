"""The fixture Hub and its CDN over TLS, with a local CA: pull and verify, and every way a
certificate can be wrong ends in one line; huggingface_hub's own client is the control."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import certifi
import huggingface_hub
import pytest
import trustme
from huggingface_hub.utils._http import default_client_factory

from model_provisioner import TLSError
from model_provisioner._network import CA_VARIABLES, Trust, network, trust
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
    """huggingface_hub's own default client, built afresh (it reads SSL_CERT_FILE once, and a
    search in this process handed it our factory)."""
    huggingface_hub.set_client_factory(default_client_factory)
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
    assert "TLS certificate rejected" in line and "set REQUESTS_CA_BUNDLE or SSL_CERT_FILE" in line
    assert tls_server.log() == []


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_each_bundle_variable_is_trusted_by_every_request(
    home: Path, tls_server: HubServer, repo: str, ca_file: Path, variable: str
) -> None:
    """Metadata, file bodies from the CDN, ``info --remote`` and search (huggingface_hub's
    client) all trust it, on a machine that presets every variable to the system bundle
    (as this project's CI image does): no order of precedence would make that work."""
    preset = {name: certifi.where() for name in CA_VARIABLES if name != "SSL_CERT_DIR"}
    env = clean_env(**{**preset, variable: str(ca_file)})
    endpoint = ("--endpoint", tls_server.url)
    pulled = provisioner(home, env, *endpoint, "pull", repo)
    assert pulled.code == 0, pulled.err
    tls_server.settle()
    assert any(e.listener == "cdn" and e.file == FILE and e.complete for e in tls_server.log())
    remote = provisioner(home, env, *endpoint, "--json", "info", "--remote", repo)
    assert remote.code == 0, remote.err
    assert repo in json.loads(remote.out)["reference"]
    found = provisioner(home, env, *endpoint, "search", "secure")
    assert (found.code, found.out.split("\t")[0]) == (0, repo), found.err


@pytest.mark.parametrize("variable", CA_VARIABLES[:3])
@pytest.mark.parametrize("command", ["pull", "search"])
def test_a_bundle_without_the_servers_ca_is_one_line_at_once(
    home: Path, tls_server: HubServer, repo: str, tmp_path: Path, variable: str, command: str
) -> None:
    """A wrong bundle: one line naming it, no retries (huggingface_hub alone retries a
    rejected certificate five times, 23 s, printing a warning each time)."""
    wrong = write_ca(trustme.CA(), tmp_path / "other-ca.pem")
    args = ["pull", repo] if command == "pull" else ["search", "secure"]
    ran = provisioner(
        home, clean_env(**{variable: str(wrong)}), "--endpoint", tls_server.url, *args
    )
    assert ran.code == 1
    line = error_line(ran)
    assert "Retrying" not in ran.err and "thrown while" not in ran.err
    assert "TLS certificate rejected" in line and f"not in {variable}={wrong}" in line
    assert tls_server.log() == []


def test_a_bundle_that_cannot_be_loaded_is_one_line(
    home: Path, tls_server: HubServer, repo: str, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.pem"
    env = clean_env(REQUESTS_CA_BUNDLE=str(missing))
    for args in (["pull", repo], ["search", "secure"], ["info", "--remote", repo]):
        ran = provisioner(home, env, "--endpoint", tls_server.url, *args)
        assert ran.code == 1
        assert error_line(ran) == (
            f"error: cannot load the trusted certificates from REQUESTS_CA_BUNDLE={missing}: "
            "No such file or directory"
        )


def test_a_stale_bundle_does_not_break_a_plain_http_mirror(
    home: Path, hub_server: HubServer, repo: str, tmp_path: Path
) -> None:
    """The CAs are loaded at the first https connection (requests does the same)."""
    env = clean_env(REQUESTS_CA_BUNDLE=str(tmp_path / "gone.pem"))
    ran = provisioner(home, env, "--endpoint", hub_server.url, "pull", repo)
    assert ran.code == 0, ran.err


@pytest.mark.parametrize(
    ("variable", "content", "reason"),
    [
        ("REQUESTS_CA_BUNDLE", None, "No such file or directory"),
        ("CURL_CA_BUNDLE", b"", "no PEM certificate in it"),
        (
            "SSL_CERT_FILE",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "not PEM certificates",
        ),
        ("SSL_CERT_FILE", "folder", "Is a directory"),
        ("SSL_CERT_DIR", None, "not a folder"),
        ("SSL_CERT_DIR", b"a file", "not a folder"),
    ],
)
def test_every_unloadable_bundle_names_its_variable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    content: bytes | str | None,
    reason: str,
) -> None:
    bundle = tmp_path / "bundle"
    if content == "folder":
        bundle.mkdir()
    elif isinstance(content, bytes):
        bundle.write_bytes(content)
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(bundle))
    net = network()  # proxies and trust are read; nothing is loaded yet
    with pytest.raises(TLSError) as raised:
        assert net.context is not None
    assert str(raised.value) == (
        f"cannot load the trusted certificates from {variable}={bundle}: {reason}"
    )


def test_every_named_bundle_is_trusted_and_the_system_store_only_when_none_is(
    tmp_path: Path, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = write_ca(trustme.CA(), tmp_path / "other.pem")
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert trust() == Trust() and trust().label == "the system store"
    assert network().context.cert_store_stats()["x509_ca"] > 0
    monkeypatch.setenv("CURL_CA_BUNDLE", str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    assert trust().label == f"REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE={ca_file}; SSL_CERT_FILE={other}"
    assert network().context.cert_store_stats()["x509_ca"] == 2  # the same file loaded once
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # empty is unset, as in requests and httpx2
    assert [name for name, _ in trust().named] == ["CURL_CA_BUNDLE", "SSL_CERT_FILE"]


@pytest.mark.parametrize("variable", ["SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"])
def test_a_hashed_folder_is_read(
    home: Path, tls_server: HubServer, repo: str, ca: trustme.CA, tmp_path: Path, variable: str
) -> None:
    """An OpenSSL hashed folder: SSL_CERT_DIR as huggingface_hub reads it, or a bundle variable
    naming a folder, as requests allows."""
    folder = tmp_path / "certs"
    folder.mkdir()
    write_ca(ca, folder / "ca.pem")
    subprocess.run(["openssl", "rehash", str(folder)], check=True, capture_output=True)
    env = clean_env(**{variable: str(folder)})
    ran = provisioner(home, env, "--endpoint", tls_server.url, "pull", repo)
    assert ran.code == 0, ran.err


@pytest.mark.usefixtures("fresh_hf_session")
def test_huggingface_hub_is_the_control(
    tls_server: HubServer,
    repo: str,
    ca_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What huggingface_hub's own client reads (SSL_CERT_FILE, not REQUESTS_CA_BUNDLE), and that
    it downloads from the TLS fixture: the control for the tests above."""
    for name in CA_VARIABLES:
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
