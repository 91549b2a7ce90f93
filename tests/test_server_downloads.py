"""Download jobs and their SSE streams, over a real uvicorn and the fixture Hub on loopback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import GGUF_REPO, FixtureRepo
from tests.hub import HubServer
from tests.hub_hostile import EVIL_REPO, HostileHub, no_hash_anywhere
from tests.server_helpers import (
    BIG_FILE,
    BIG_REPO,
    job_state,
    make_big_repo,
    serve,
    sse_events,
    wait_for,
)


def _stall(hub_server: HubServer, seconds: float = 1.5) -> None:
    """The big file pauses after 4 MiB, so the job is surely running while we look at it."""
    hub_server.faults.inject("*big*.gguf", "stall", after_bytes=1 << 20, seconds=seconds)


def test_second_request_joins_the_running_job(home: Path, hub_server: HubServer) -> None:
    make_big_repo(hub_server.hub)
    _stall(hub_server)
    with serve(home, hub_server.url) as served, served.client() as client:
        first = client.post("/v1/downloads", json={"reference": BIG_REPO})
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "started"
        job_id = first.json()["job"]["id"]
        # Another spelling of the same model (case, provider prefix, quant) joins it.
        second = client.post("/v1/downloads", json={"reference": f"hf:{BIG_REPO.lower()}"})
        assert second.status_code == 202
        assert second.json()["status"] == "joined"
        assert second.json()["job"]["id"] == job_id
        assert [j["id"] for j in client.get("/v1/downloads").json()] == [job_id]

        events = sse_events(client, f"/v1/downloads/{job_id}/events")
        assert events[-1]["stage"] == "complete"
        assert events[-1]["path"].endswith(BIG_FILE)
        done = job_state(client, job_id)
        assert done["status"] == "complete"
        assert done["model"]["reference"] == f"hf:{BIG_REPO}"

        third = client.post("/v1/downloads", json={"reference": BIG_REPO})
        assert third.status_code == 200
        assert third.json()["status"] == "installed"
        assert third.json()["model"]["path"] == events[-1]["path"]
    hub_server.settle()
    sent = sum(r.bytes_sent for r in hub_server.log() if r.file == BIG_FILE)
    size = Path(events[-1]["path"]).stat().st_size
    # Once, not twice: a tail stolen from the stalled part may cost a few MiB more than the size.
    assert size <= sent < 2 * size, "two requests for one model must download it once"


def test_late_subscriber_gets_state_then_live_then_one_terminal(
    home: Path, hub_server: HubServer
) -> None:
    make_big_repo(hub_server.hub)
    _stall(hub_server)
    with serve(home, hub_server.url) as served, served.client() as client:
        job_id = client.post("/v1/downloads", json={"reference": BIG_REPO}).json()["job"]["id"]
        wait_for(lambda: job_state(client, job_id)["state"]["bytes_done"] > 0)

        events = sse_events(client, f"/v1/downloads/{job_id}/events")
        assert events[0]["stage"] == "downloading"
        assert events[0]["bytes_done"] > 0, "a late subscriber first sees where the job is"
        terminal = [e for e in events if e["stage"] in ("complete", "error")]
        assert len(terminal) == 1 and events[-1] is terminal[0]
        assert terminal[0]["stage"] == "complete"
        done = [e["bytes_done"] for e in events]
        assert done == sorted(done)

        # After the end: the current (terminal) state, once, and the stream closes.
        again = sse_events(client, f"/v1/downloads/{job_id}/events")
        assert again == [events[-1]]


def test_quick_failure_is_still_reported_to_a_late_subscriber(
    home: Path, hub_server: HubServer
) -> None:
    with serve(home, hub_server.url) as served, served.client() as client:
        answer = client.post("/v1/downloads", json={"reference": "Nobody/Nothing-GGUF"})
        job_id = answer.json()["job"]["id"]
        wait_for(lambda: job_state(client, job_id)["status"] != "running")
        events = sse_events(client, f"/v1/downloads/{job_id}/events")
        assert len(events) == 1
        assert events[0]["stage"] == "error"
        assert events[0]["error_code"] == "model-not-found"
        job = job_state(client, job_id)
        assert job["status"] == "error"
        assert job["error"]["code"] == "model-not-found"
        # A fresh request after a failure starts a new job instead of replaying the old one.
        retry = client.post("/v1/downloads", json={"reference": "Nobody/Nothing-GGUF"})
        assert retry.json()["status"] == "started"
        assert retry.json()["job"]["id"] != job_id


def test_cancel_stops_the_job_and_keeps_the_partial(home: Path, hub_server: HubServer) -> None:
    make_big_repo(hub_server.hub)
    _stall(hub_server, seconds=1.0)
    with serve(home, hub_server.url) as served, served.client() as client:
        job_id = client.post("/v1/downloads", json={"reference": BIG_REPO}).json()["job"]["id"]
        wait_for(lambda: job_state(client, job_id)["state"]["bytes_done"] > 0)
        cancelled = client.delete(f"/v1/downloads/{job_id}")
        assert cancelled.status_code == 200
        events = sse_events(client, f"/v1/downloads/{job_id}/events")
        assert events[-1]["stage"] == "error"
        assert events[-1]["error_code"] == "cancelled"
        assert job_state(client, job_id)["status"] == "cancelled"
        partials = [p for p in (home / "partial").rglob("*") if p.is_file()]
        assert any(p.stat().st_size > 0 for p in partials), "the partial stays for a resume"
        assert client.get("/v1/models").json() == []

        again = client.post("/v1/downloads", json={"reference": BIG_REPO}).json()
        assert again["status"] == "started"
        final = sse_events(client, f"/v1/downloads/{again['job']['id']}/events")
        assert final[-1]["stage"] == "complete"


def test_unknown_job_is_a_json_404(home: Path) -> None:
    with serve(home) as served, served.client() as client:
        for method, url in (
            ("GET", "/v1/downloads/nope"),
            ("DELETE", "/v1/downloads/nope"),
            ("GET", "/v1/downloads/nope/events"),
            ("GET", "/v1/models/download/progress?id=nope"),
        ):
            response = client.request(method, url)
            assert response.status_code == 404, url
            assert response.json()["error"]["code"] == "job-not-found"


def test_bad_request_bodies_are_refused_with_json(home: Path) -> None:
    with serve(home) as served, served.client() as client:
        cases = [
            ({"reference": "../../etc/passwd"}, 400, "invalid-reference"),
            ({"reference": "org/repo;rm -rf /"}, 400, "invalid-reference"),
            ({"reference": "tinyllamaa"}, 400, "invalid-reference"),
            ({"reference": ""}, 422, "invalid-request"),
            ({"reference": "x" * 600}, 422, "invalid-request"),
            ({"reference": "a/b", "extra": 1}, 422, "invalid-request"),
            ({}, 422, "invalid-request"),
        ]
        for body, status, code in cases:
            response = client.post("/v1/downloads", json=body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]["code"] == code
            assert "Traceback" not in response.text
        garbage = client.post(
            "/v1/downloads", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert garbage.status_code == 422


def test_hive_routes_keep_the_original_protocol(
    home: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> None:
    with serve(home, hub_server.url) as served, served.client() as client:
        answer = client.post("/v1/models/download", json={"model_ref": f"hf:{GGUF_REPO}"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["local_path"] is None and body["download_id"] not in ("", "cached")

        with client.stream("GET", f"/v1/models/download/progress?id={body['download_id']}") as r:
            lines = [line for line in r.iter_lines() if line.startswith("data:")]
        assert lines[-1] == "data: [DONE]"
        import json

        events = [json.loads(line[5:]) for line in lines[:-1]]
        assert events[-1]["stage"] == "complete"
        assert events[-1]["local_path"].endswith("tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf")
        for event in events[:-1]:
            assert event["stage"] == "downloading"
            assert set(event) == {"stage", "bytes_downloaded", "bytes_total", "speed_mbps"}

        cached = client.post("/v1/models/download", json={"model_ref": f"hf:{GGUF_REPO}"})
        assert cached.json() == {"download_id": "cached", "local_path": events[-1]["local_path"]}

        failed = client.post("/v1/models/download", json={"model_ref": "hf:Nobody/Nothing"})
        failed_id = failed.json()["download_id"]
        with client.stream("GET", f"/v1/models/download/progress?id={failed_id}") as r:
            lines = [line for line in r.iter_lines() if line.startswith("data:")]
        assert lines[-1] == "data: [DONE]"
        error = json.loads(lines[-2][5:])
        assert error["stage"] == "error" and "Nobody/Nothing" in error["message"]


def test_a_download_request_may_allow_unverified_files(home: Path, hostile: HostileHub) -> None:
    """Without the opt-in a file no hash covers fails the job (409); with it, it is marked."""
    no_hash_anywhere(hostile)
    with serve(home, hostile.url) as served, served.client() as client:
        refused = client.post("/v1/downloads", json={"reference": EVIL_REPO})
        job_id = refused.json()["job"]["id"]
        assert sse_events(client, f"/v1/downloads/{job_id}/events")[-1]["stage"] == "error"
        failed = job_state(client, job_id)
        assert failed["status"] == "error" and failed["error"]["code"] == "integrity-error"
        assert "no published hash" in failed["error"]["message"]

        body = {"reference": EVIL_REPO, "allow_unverified": True}
        allowed = client.post("/v1/downloads", json=body)
        job_id = allowed.json()["job"]["id"]
        assert sse_events(client, f"/v1/downloads/{job_id}/events")[-1]["stage"] == "complete"
        model = job_state(client, job_id)["model"]
        assert model["unverified_files"] and model["files"][0]["hash_source"] == "first seen here"


def test_the_hive_route_never_installs_unverified_files(home: Path, hostile: HostileHub) -> None:
    """The original route is the original contract: no opt-in (its clients cannot send one, and
    one they do not know is ignored); a hashless file is its error event, and once installed
    through ``POST /v1/downloads`` with ``allow_unverified`` the hive route answers "cached"."""
    no_hash_anywhere(hostile)
    with serve(home, hostile.url) as served, served.client() as client:
        for body in ({"model_ref": EVIL_REPO}, {"model_ref": EVIL_REPO, "allow_unverified": True}):
            answer = client.post("/v1/models/download", json=body).json()
            url = f"/v1/models/download/progress?id={answer['download_id']}"
            with client.stream("GET", url) as r:
                lines = [line for line in r.iter_lines() if line.startswith("data:")]
            assert lines[-1] == "data: [DONE]"
            error = json.loads(lines[-2][5:])
            assert error["stage"] == "error" and error["code"] == "integrity-error"
            assert "no published hash" in error["message"]

        allowed = client.post(
            "/v1/downloads", json={"reference": EVIL_REPO, "allow_unverified": True}
        )
        job_id = allowed.json()["job"]["id"]
        assert sse_events(client, f"/v1/downloads/{job_id}/events")[-1]["stage"] == "complete"
        cached = client.post("/v1/models/download", json={"model_ref": EVIL_REPO}).json()
        assert cached["download_id"] == "cached" and Path(cached["local_path"]).is_file()
