"""The proxy decision is huggingface_hub's, for any environment: its own client is the oracle."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx2
import pytest
from huggingface_hub.utils._http import default_client_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from model_provisioner import NetworkError, TLSError
from model_provisioner._network import network, parse_proxy
from model_provisioner._transfer._wire import Connections, Transient, _proxy_failure

PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
HOSTS = (
    "127.0.0.1",
    "127.0.0.2",
    "localhost",
    "huggingface.co",
    "cdn-lfs.huggingface.co",
    "wwwhuggingface.co",
    "[::1]",
)
NO_PROXY_ITEMS = (
    "127.0.0.2",
    "localhost",
    "huggingface.co",
    ".huggingface.co",
    "*.huggingface.co",
    "::1",
    "*",
    "https://127.0.0.1",
    "127.0.0.0/8",
    "",
    "127.0.0.1:8443",  # with a port: that port only
    "localhost:8443",
    "::1/128",
    "[::1]",
    "HuggingFace.co",  # case; the items are joined with ", " as people write them
    "http://huggingface.co:8443",
    ".co",
)


def hub_choice(url: str) -> tuple[str, int] | str | None:
    """Where huggingface_hub's client would connect for ``url``: a proxy, or None (direct)."""
    with default_client_factory() as client:
        transport = client._transport_for_url(httpx2.URL(url))
        proxy_url = getattr(transport._pool, "_proxy_url", None)  # type: ignore[attr-defined]
    if proxy_url is None:
        return None
    if proxy_url.scheme == b"https":
        return "https-proxy"  # TLS to the proxy itself: we refuse those, in one line
    return proxy_url.host.decode(), proxy_url.port or 80  # httpcore leaves the default port out


def our_choice(url: str) -> tuple[str, int] | None:
    proxy = network().proxy_for(url)
    return None if proxy is None else (proxy.host, proxy.port)


proxy_urls = st.sampled_from(["http://127.0.0.1:3128", "127.0.0.1:8080", "http://u:p@[::1]:9"])
environments = st.dictionaries(
    st.sampled_from([*PROXY_NAMES, *(n.lower() for n in PROXY_NAMES)]),
    st.one_of(proxy_urls, st.lists(st.sampled_from(NO_PROXY_ITEMS), max_size=4).map(", ".join)),
    max_size=5,
)
urls = st.builds(
    lambda scheme, host, port: f"{scheme}://{host}{port}/api/models/x",
    st.sampled_from(["http", "https"]),
    st.sampled_from(HOSTS),
    st.sampled_from(["", ":8443"]),
)


@settings(max_examples=150, deadline=None)
@given(environment=environments, url=urls)
def test_same_proxy_as_huggingface_hub(environment: dict[str, str], url: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name in PROXY_NAMES:
            patch.delenv(name, raising=False)
            patch.delenv(name.lower(), raising=False)
        for name, value in environment.items():
            if name.lower() != "no_proxy" and "," in value:
                continue  # a proxy variable holds one URL
            patch.setenv(name, value)
        try:
            expected = hub_choice(url)
        except httpx2.InvalidURL:  # huggingface_hub cannot build its client at all
            with contextlib.suppress(NetworkError):
                our_choice(url)  # one of our errors or a decision, never a crash
            return
        if expected == "https-proxy":
            with pytest.raises(NetworkError, match="unsupported proxy https://"):
                our_choice(url)
        else:
            assert our_choice(url) == expected


def test_decisions_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert network().proxy_for("https://huggingface.co/x") is None
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:3128")
    assert our_choice("https://huggingface.co/x") == ("127.0.0.1", 3128)
    assert network() is network()  # built once per environment
    monkeypatch.setenv("no_proxy", "huggingface.co")
    assert our_choice("https://cdn-lfs.huggingface.co/x") is None


def test_proxy_credentials_become_a_basic_header() -> None:
    proxy = parse_proxy("http://al%40ice:p%3Ass@proxy.example:3128")
    assert (proxy.host, proxy.port) == ("proxy.example", 3128)
    assert proxy.headers == {"Proxy-Authorization": "Basic YWxAaWNlOnA6c3M="}
    assert "p:ss" not in proxy.label


@pytest.mark.parametrize("url", ["socks5://127.0.0.1:1080", "https://127.0.0.1:3128"])
def test_a_proxy_the_engine_cannot_speak_is_refused(url: str) -> None:
    with pytest.raises(NetworkError, match="unsupported proxy"):
        parse_proxy(url)


TUNNEL = "Tunnel connection failed: "  # what http.client raises when CONNECT is refused


@pytest.mark.parametrize(
    ("failure", "expected", "says"),
    [
        (OSError(f"{TUNNEL}407 Proxy Authentication Required"), NetworkError, "credentials"),
        (OSError(f"{TUNNEL}403 Forbidden"), NetworkError, "refused a tunnel"),
        (OSError(f"{TUNNEL}502 Bad Gateway"), Transient, "could not open a tunnel"),
        (ConnectionRefusedError(111, "refused"), Transient, "proxy 127.0.0.1:3128: ConnectionRef"),
    ],
)
def test_proxy_failures_are_said_as_the_proxy_s(
    failure: OSError, expected: type[Exception], says: str
) -> None:
    """What the engine makes of a proxy that fails: only a 502-like answer is worth a retry."""
    problem = _proxy_failure(failure, parse_proxy("http://127.0.0.1:3128"), "https://h.test/x")
    assert type(problem) is expected and says in str(problem)
    assert "127.0.0.1:3128" in str(problem)


def test_a_ca_file_that_cannot_be_loaded_fails_the_request_not_the_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    conns = Connections(1.0)  # nothing read yet
    with pytest.raises(TLSError, match="cannot load the trusted certificates"):
        conns.get("https://127.0.0.1:9/x")
