"""The metadata HTTP layer against answers no well-behaved server sends: each call is bounded."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx
import pytest

from model_provisioner import _hubapi
from model_provisioner._errors import NetworkError
from model_provisioner._hubapi import HttpConfig, HubHttp
from tests.raw_http import raw_server, response


def http(url: str, token: str | None = None, timeout: float = 2.0) -> HubHttp:
    return HubHttp(HttpConfig(httpx.URL(url).netloc.decode(), token, timeout=timeout, retries=1))


def test_a_trickled_answer_times_out_within_bounds() -> None:
    def trickle(path: str, headers: dict[str, str]) -> Iterable[bytes]:
        yield b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
        for _ in range(100):
            time.sleep(0.1)
            yield b" "

    with raw_server(trickle) as (url, seen):
        started = time.monotonic()
        with pytest.raises(NetworkError, match="timed out"):
            http(url, timeout=0.3).get(f"{url}/api/models/a/b")
        assert time.monotonic() - started < 5
        assert len(seen.requests) == 2  # one retry, then the error


@pytest.mark.parametrize("location", ["http://[::1", "http://exa mple.com/x", "ftp://x/y"])
def test_a_broken_redirect_is_a_network_error(location: str) -> None:
    def answer(path: str, headers: dict[str, str]) -> Iterable[bytes]:
        yield response(302, Location=location)

    with raw_server(answer) as (url, _), pytest.raises(NetworkError):
        http(url).get(f"{url}/api/models/a/b")


def test_a_redirect_loop_ends() -> None:
    def answer(path: str, headers: dict[str, str]) -> Iterable[bytes]:
        yield response(307, Location=path + "x")

    with raw_server(answer) as (url, seen), pytest.raises(NetworkError, match="redirected more"):
        http(url).get(f"{url}/a")
    assert len(seen.requests) == _hubapi.MAX_REDIRECTS + 1


def test_an_oversized_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_hubapi, "MAX_JSON", 1000)

    def answer(path: str, headers: dict[str, str]) -> Iterable[bytes]:
        yield response(200, b"[" + b"1," * 2000 + b"1]")

    with raw_server(answer) as (url, _), pytest.raises(NetworkError, match="over 1000 bytes"):
        http(url).get(f"{url}/api/models/a/b")


def test_the_next_page_on_another_host_gets_no_token() -> None:
    with raw_server(lambda p, h: [response(200, b"[2]")], host="127.0.0.2") as (other, far):

        def first(path: str, headers: dict[str, str]) -> Iterable[bytes]:
            yield response(200, b"[1]", Link=f'<{other}/api/models/a/b/tree/main>; rel="next"')

        with raw_server(first) as (url, near):
            pages = list(http(url, token="hf_secret").pages(f"{url}/api/models/a/b/tree/main", {}))
    assert [p.json() for p in pages] == [[1], [2]]
    assert near.requests[0][1]["authorization"] == "Bearer hf_secret"
    assert "authorization" not in far.requests[0][1]


def test_retry_after_is_honoured() -> None:
    answers = iter([response(429, Retry_After="0.4"), response(200, b"{}")])

    with raw_server(lambda p, h: [next(answers)]) as (url, seen):
        started = time.monotonic()
        assert http(url).get(f"{url}/x")[-1].status_code == 200
        assert time.monotonic() - started >= 0.4 and len(seen.requests) == 2
