"""``GET /v1/models`` from shared scans: coalescing, and what other processes do to the store.

The coalescing is tested on the view itself with a scan the test holds open (no timing); the
freshness with a real service while real processes (the fork server of tests/store_process.py,
``python -c``) pull, remove, edit and damage manifests: the very next list must show it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from model_provisioner import ModelInfo, ModelProvisioner, StoreNotWritable
from model_provisioner.server._list_view import ListView, render
from model_provisioner.server._model_routes import list_models
from tests.hub import FixtureHub, HubServer
from tests.makers import make_gguf_repo
from tests.server_helpers import BIG_REPO, make_big_repo, serve
from tests.store_helpers import Worker, file_problems

A, B = "Org/A-GGUF", "Org/B-GGUF"


class HeldScan:
    """A scan that blocks until the test releases it, counting how often it ran."""

    def __init__(self, results: list[list[ModelInfo]]) -> None:
        self.results = results
        self.calls = 0
        self.release = threading.Semaphore(0)
        self.entered = threading.Semaphore(0)

    def __call__(self) -> list[ModelInfo]:
        self.entered.release()
        self.release.acquire()
        self.calls += 1
        return self.results[min(self.calls, len(self.results)) - 1]


async def entered(scan: HeldScan) -> None:
    await asyncio.to_thread(scan.entered.acquire)


def models(home: Path, endpoint: str, *refs: str) -> list[ModelInfo]:
    prov = ModelProvisioner(home, endpoint=endpoint)
    for ref in refs:
        prov.pull(ref)
    return [prov.get_model_info(ref) for ref in refs]


@pytest.fixture
def two_models(tmp_path: Path, hub_server: HubServer, fixture_hub: FixtureHub) -> list[ModelInfo]:
    make_gguf_repo(fixture_hub, A, quants=("Q4_K_M",))
    make_gguf_repo(fixture_hub, B, quants=("Q4_K_M",))
    return models(tmp_path / "scratch", hub_server.url, A, B)


async def test_requests_during_a_scan_share_the_next_one(two_models: list[ModelInfo]) -> None:
    first, second = [two_models[0]], two_models
    scan = HeldScan([first, second])
    view = ListView(scan)
    early = asyncio.create_task(view.listing())
    await entered(scan)
    # Scan 1 is running: these came after it started, so it cannot answer them.
    late = [asyncio.create_task(view.listing()) for _ in range(20)]
    await asyncio.sleep(0)
    scan.release.release()
    assert (await early).models == first
    await entered(scan)
    scan.release.release()
    answers = await asyncio.gather(*late)
    assert scan.calls == 2  # twenty requests, one scan
    assert all(a.models == second for a in answers)
    assert json.loads(answers[0].body) == [m.summary() for m in second]
    assert len({id(a.body) for a in answers}) == 1  # one rendering, shared


async def test_an_unchanged_catalog_is_not_rendered_again(two_models: list[ModelInfo]) -> None:
    scan = HeldScan([two_models, list(two_models), two_models[:1]])
    view = ListView(scan)
    bodies = []
    for _ in range(3):
        task = asyncio.create_task(view.listing())
        await entered(scan)
        scan.release.release()
        bodies.append((await task).body)
    assert bodies[0] is bodies[1]  # same entries: the same bytes
    assert bodies[2] == render(two_models[:1]) != bodies[0]


async def test_a_failed_scan_fails_its_waiters_and_the_next_scans_again() -> None:
    calls = []

    def scan() -> list[ModelInfo]:
        calls.append(1)
        if len(calls) == 1:
            raise StoreNotWritable("cannot read the store")
        return []

    view = ListView(scan)
    results = await asyncio.gather(view.listing(), view.listing(), return_exceptions=True)
    assert all(isinstance(r, StoreNotWritable) for r in results)
    assert (await view.listing()).body == b"[]"
    assert len(calls) == 2


async def test_a_waiter_that_leaves_does_not_cancel_the_scan(
    two_models: list[ModelInfo],
) -> None:
    scan = HeldScan([two_models])
    view = ListView(scan)
    leaving, staying = (asyncio.create_task(view.listing()) for _ in range(2))
    await entered(scan)
    leaving.cancel()
    scan.release.release()
    assert (await staying).models == two_models
    assert leaving.cancelled()


# -- a real service while other processes change the store ---------------------------------------


@pytest.fixture
def worker(hub_server: HubServer, fixture_hub: FixtureHub) -> Iterator[Worker]:
    make_gguf_repo(fixture_hub, A, quants=("Q4_K_M",))
    make_gguf_repo(fixture_hub, B, quants=("Q4_K_M",))
    started = Worker(hub_server.url)
    try:
        yield started
    finally:
        started.close()


def listed(client: httpx.Client) -> list[str]:
    response = client.get("/v1/models")
    assert response.status_code == 200, response.text
    return [m["reference"] for m in response.json()]


def manifest_of(home: Path, repo: str) -> Path:
    (found,) = (home / "manifests" / "hf" / repo).glob("*.json")
    return found


def in_another_process(code: str, *args: str) -> None:
    subprocess.run([sys.executable, "-c", code, *args], check=True, timeout=60)


REWRITE_IN_PLACE = """
import sys
path, old, new = sys.argv[1:]
with open(path, "r+b") as f:
    body = f.read().replace(old.encode(), new.encode())
    f.seek(0)
    f.write(body)
    f.truncate()
"""


async def test_the_fast_path_answers_as_the_route_declared_in_the_schema(
    home: Path, hub_server: HubServer, worker: Worker
) -> None:
    assert worker.call(home, "pull", f"{A}:Q4_K_M")["ok"]
    with serve(home, hub_server.url) as served, served.client() as client:
        fast = await asyncio.to_thread(client.get, "/v1/models")
    route = await list_models(ListView(ModelProvisioner(home).list_models))
    assert fast.status_code == route.status_code == 200
    assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"
    assert fast.content == route.body and fast.json()[0]["repo"] == A


def test_a_failing_scan_is_answered_as_from_a_route(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our error: the one mapping's status and code; anything else: the app's JSON 500."""
    with serve(home) as served, served.client() as client:
        app = served.service.config.app
        assert isinstance(app, FastAPI)
        view = app.state.list_view

        def unreadable() -> list[ModelInfo]:
            raise StoreNotWritable("cannot read the store")

        monkeypatch.setattr(view, "_scan", unreadable)
        refused = client.get("/v1/models")
        assert refused.status_code == 503
        assert refused.json()["error"] == {
            "code": "store-not-writable",
            "message": "cannot read the store",
        }

        def broken() -> list[ModelInfo]:
            raise RuntimeError("a bug")

        monkeypatch.setattr(view, "_scan", broken)
        failed = client.get("/v1/models")
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "internal-error" and "bug" not in failed.text


def test_the_list_follows_pulls_and_removals_by_other_processes(
    home: Path, hub_server: HubServer, worker: Worker
) -> None:
    with serve(home, hub_server.url) as served, served.client() as client:
        assert listed(client) == []
        assert worker.call(home, "pull", f"{A}:Q4_K_M")["ok"]
        assert listed(client) == [f"hf:{A}:Q4_K_M"]
        assert worker.call(home, "pull", f"{B}:Q4_K_M")["ok"]
        assert listed(client) == [f"hf:{A}:Q4_K_M", f"hf:{B}:Q4_K_M"]
        assert worker.call(home, "rm", f"{A}:Q4_K_M")["ok"]
        assert listed(client) == [f"hf:{B}:Q4_K_M"]
        # and what the service itself removes
        assert client.delete(f"/v1/models/{B}:Q4_K_M").status_code == 200
        assert listed(client) == []


def test_a_manifest_edited_in_place_by_another_process_is_seen_at_once(
    home: Path, hub_server: HubServer, worker: Worker
) -> None:
    assert worker.call(home, "pull", f"{A}:Q4_K_M")["ok"]
    manifest = manifest_of(home, A)
    when = json.loads(manifest.read_text())["downloaded_at"]
    earlier = "1999" + when[4:]  # same length: same size, only the mtime tells
    with serve(home, hub_server.url) as served, served.client() as client:
        assert client.get("/v1/models").json()[0]["downloaded_at"] == when
        in_another_process(REWRITE_IN_PLACE, str(manifest), when, earlier)
        assert client.get("/v1/models").json()[0]["downloaded_at"] == earlier
        # Damaged in place: left out of the list, and named by the model's own route (409).
        in_another_process(REWRITE_IN_PLACE, str(manifest), '"files"', '"filez"')
        assert listed(client) == []
        info = client.get(f"/v1/models/{A}:Q4_K_M")
        assert info.status_code == 409 and info.json()["error"]["code"] == "damaged-manifest"
        # Repaired by a pull in another process: listed again.
        manifest.unlink()
        assert worker.call(home, "pull", f"{A}:Q4_K_M")["ok"]
        assert listed(client) == [f"hf:{A}:Q4_K_M"]


def test_a_model_being_pulled_is_listed_only_once_whole(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub, worker: Worker
) -> None:
    make_big_repo(fixture_hub, 24 << 20)
    big = BIG_REPO
    with serve(home, hub_server.url) as served, served.client() as client:
        worker.send(home, "pull", big)
        deadline = time.monotonic() + 60
        entries: list[dict[str, str]] = []
        while not entries and time.monotonic() < deadline:
            entries = client.get("/v1/models").json()
            for entry in entries:
                info = served.provisioner.get_model_info(entry["reference"])
                assert file_problems(served.provisioner, info) == []
        assert worker.receive() == {"ok": True}
        assert [e["repo"] for e in entries] == [big]


async def test_a_scan_cancelled_as_the_service_stops_ends_its_waiters_and_starts_no_other(
    two_models: list[ModelInfo],
) -> None:
    """On shutdown asyncio cancels every task, the view's scan among them: the requests it and
    the next scan owed are cancelled with it (none is left waiting), and no new scan starts
    while the service stops (asyncio would wait for that one's thread before exiting)."""
    scan = HeldScan([two_models])
    view = ListView(scan)
    first = asyncio.create_task(view.listing())
    await entered(scan)
    queued = asyncio.create_task(view.listing())  # for the scan after this one
    await asyncio.sleep(0)
    ours = {asyncio.current_task(), first, queued}
    (scanning,) = asyncio.all_tasks() - ours  # the view's own task
    scanning.cancel()
    try:
        await asyncio.wait({first, queued}, timeout=30)  # a guard: without the fix, they hang
        assert first.cancelled() and queued.cancelled()
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no second scan
    finally:
        for _ in range(2):  # let the scan threads end, a second one too if it started
            scan.release.release()
