"""Helpers shared by the server tests: uvicorn on loopback in a thread, SSE reading, big repos.

(No tests here; the name keeps it among the server's files.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from model_provisioner import ModelProvisioner
from model_provisioner.server import ServiceOptions
from model_provisioner.server._serve import Service, build_service
from tests.hub import FixtureHub
from tests.makers import make_gguf_repo

BIG_REPO = "Fixture/Big-GGUF"
BIG_FILE = "big.Q4_K_M.gguf"


@dataclass
class Served:
    service: Service
    url: str
    provisioner: ModelProvisioner

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@contextmanager
def serve(
    home: Path,
    endpoint: str | None = None,
    *,
    options: ServiceOptions | None = None,
    host: str = "127.0.0.1",
) -> Iterator[Served]:
    """A real uvicorn on port 0 in a thread; stopped (gracefully) on exit."""
    provisioner = ModelProvisioner(home, endpoint=endpoint)
    service = build_service(provisioner, host=host, port=0, options=options, log_level="warning")
    thread = threading.Thread(target=service.run, name="service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not service.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("service did not start")
        time.sleep(0.01)
    try:
        yield Served(service, service.url, provisioner)
    finally:
        service.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "service did not stop"


def sse_data(response: httpx.Response) -> Iterator[str]:
    """The ``data:`` payload of each event of a text/event-stream response."""
    lines: list[str] = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
        elif line == "" and lines:
            yield "\n".join(lines)
            lines = []
    if lines:
        yield "\n".join(lines)


def sse_events(client: httpx.Client, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every event of a stream until the server closes it."""
    with client.stream("GET", url, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(data) for data in sse_data(response)]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def make_big_repo(hub: FixtureHub, size: int = 48 << 20, repo_id: str = BIG_REPO) -> str:
    """A GGUF repo with one quant padded to ``size`` bytes (served through the fixture CDN)."""
    return make_gguf_repo(hub, repo_id, quants=("Q4_K_M",), stem="big", pad_to=size)


def job_state(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/downloads/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
