"""Load on ``provisioner serve`` while a large download runs.

    .venv/bin/python benchmarks/serve_load.py [--size-mib 1024] [--subscribers 200] [--lists 50]

Builds a fixture Hub (tests/hub) with one large GGUF and ``--models`` small ones, pulls the small
ones into a fresh home, starts the fixture Hub and ``provisioner serve`` as subprocesses (so the
load generator does not share their GIL), then starts the large download and, while it runs,
holds ``--subscribers`` SSE streams on its job and fires waves of ``--lists`` concurrent
``GET /v1/models``. Prints list latency p50/p99, request failures, and whether every subscriber
got exactly one terminal event. A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_provisioner import ModelProvisioner  # noqa: E402
from tests.hub import FixtureHub, start_subprocess_server  # noqa: E402
from tests.makers import make_gguf_repo  # noqa: E402

BIG_REPO = "Bench/Big-GGUF"


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    list_failures: int = 0
    events: list[int] = field(default_factory=list)
    terminal_ok: int = 0
    subscriber_failures: int = 0
    terminal_stage: set[str] = field(default_factory=set)


def build_hub(root: Path, size: int, models: int) -> FixtureHub:
    hub = FixtureHub(root)
    make_gguf_repo(hub, BIG_REPO, quants=("Q4_K_M",), stem="big", pad_to=size)
    for i in range(models):
        make_gguf_repo(hub, f"Bench/Small-{i:03d}-GGUF", quants=("Q4_K_M",))
    return hub


def start_service(home: Path, endpoint: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PROVISIONER_"))}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", "from model_provisioner.cli import main; main()"),
            *("--home", str(home), "--endpoint", endpoint, "--json"),
            *("serve", "--port", "0", "--log-level", "warning"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["url"]


async def subscribe(
    client: httpx.AsyncClient, url: str, results: Results, joined: Callable[[], None]
) -> None:
    count, terminal = 0, []
    try:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                count += 1
                if count == 1:
                    joined()
                if event["stage"] in ("complete", "error"):
                    terminal.append(event["stage"])
    except httpx.HTTPError:
        results.subscriber_failures += 1
        return
    results.events.append(count)
    if len(terminal) == 1:
        results.terminal_ok += 1
        results.terminal_stage.add(terminal[0])


async def list_once(client: httpx.AsyncClient, results: Results) -> None:
    started = time.perf_counter()
    try:
        response = await client.get("/v1/models")
        response.raise_for_status()
        response.json()
    except (httpx.HTTPError, ValueError):
        results.list_failures += 1
        return
    results.latencies.append(time.perf_counter() - started)


async def idle_lists(url: str, lists: int, waves: int = 5) -> Results:
    """The same waves with nothing else going on, for comparison."""
    results = Results()
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for _ in range(waves):
            await asyncio.gather(*(list_once(client, results) for _ in range(lists)))
    return results


def subscriber_process(
    url: str, jobs: Queue[str], n: int, out: Queue[dict[str, object]], ready: EventType
) -> None:
    """Holds the SSE streams in a process of its own (started before the download, so its
    start-up is not timed), so list timings are not queued behind 200 streams in one client
    event loop. Sets ``ready`` once every subscriber has its first event."""
    events_url = f"/v1/downloads/{jobs.get()}/events"
    pending = [n]

    def joined() -> None:
        pending[0] -= 1
        if pending[0] == 0:
            ready.set()

    async def run() -> Results:
        results = Results()
        limits = httpx.Limits(max_connections=n + 10)
        async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
            streams = (subscribe(client, events_url, results, joined) for _ in range(n))
            await asyncio.gather(*streams)
        return results

    results = asyncio.run(run())
    out.put(
        {
            "events": results.events,
            "terminal_ok": results.terminal_ok,
            "failures": results.subscriber_failures,
            "stages": sorted(results.terminal_stage),
        }
    )


async def load(url: str, subscribers: int, lists: int) -> tuple[Results, float]:
    """POST the download, hand its id to the subscribers, list in waves until it ends."""
    results = Results()
    context = multiprocessing.get_context("spawn")
    out: Queue[dict[str, object]] = context.Queue()
    jobs: Queue[str] = context.Queue()
    ready = context.Event()
    proc = context.Process(target=subscriber_process, args=(url, jobs, subscribers, out, ready))
    proc.start()
    limits = httpx.Limits(max_connections=lists + 10)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await client.get("/health")
        await asyncio.sleep(2)  # let the subscriber process finish importing
        started = time.perf_counter()
        answer = (await client.post("/v1/downloads", json={"reference": BIG_REPO})).json()
        job_id = answer["job"]["id"]
        jobs.put(job_id)
        joined_at: float | None = None

        async def running() -> bool:
            job = (await client.get(f"/v1/downloads/{job_id}")).json()
            return bool(job["status"] == "running")

        while await running():
            await asyncio.gather(*(list_once(client, results) for _ in range(lists)))
            if joined_at is None and ready.is_set():
                joined_at = time.perf_counter() - started
        elapsed = time.perf_counter() - started
        summary = await asyncio.to_thread(out.get, True, 300)
        proc.join(30)
    results.events = list(summary["events"])  # type: ignore[call-overload]
    results.terminal_ok = int(summary["terminal_ok"])  # type: ignore[call-overload]
    results.subscriber_failures = int(summary["failures"])  # type: ignore[call-overload]
    results.terminal_stage = set(summary["stages"])  # type: ignore[call-overload]
    when = f"{joined_at:.2f}s after the POST" if joined_at else "only after the end"
    print(f"all {subscribers} subscribers streaming: {when}")
    return results, elapsed


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (nearest rank)."""
    if not latencies:
        return float("nan"), float("nan")
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--lists", type=int, default=50)
    parser.add_argument("--models", type=int, default=20, help="small models installed first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        t0 = time.perf_counter()
        hub = build_hub(Path(tmp) / "hub", args.size_mib << 20, args.models)
        hub_proc, hub_url = start_subprocess_server(hub.root)
        service = None
        try:
            home = Path(tmp) / "home"
            provisioner = ModelProvisioner(home, endpoint=hub_url)
            for i in range(args.models):
                provisioner.pull(f"Bench/Small-{i:03d}-GGUF")
            print(f"setup: {time.perf_counter() - t0:.1f}s ({args.models} models installed)")
            service, url = start_service(home, hub_url)
            idle = asyncio.run(idle_lists(url, args.lists))
            results, elapsed = asyncio.run(load(url, args.subscribers, args.lists))
        finally:
            for proc in (service, hub_proc):
                if proc is not None:
                    proc.terminate()
                    proc.wait(10)

    p50, p99 = percentiles(idle.latencies)
    print(f"list idle: {len(idle.latencies)} requests, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    lat = sorted(results.latencies)
    p50, p99 = percentiles(lat)
    print(f"download: {args.size_mib} MiB in {elapsed:.2f}s ({args.size_mib / elapsed:.0f} MiB/s)")
    print(
        f"list under load: {len(lat)} requests in waves of {args.lists}, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1] * 1000 if lat else 0:.1f} ms, "
        f"failures {results.list_failures}"
    )
    events = results.events or [0]
    print(
        f"subscribers: {results.terminal_ok}/{args.subscribers} got exactly one terminal event "
        f"({', '.join(sorted(results.terminal_stage))}); failures {results.subscriber_failures}; "
        f"events per subscriber min {min(events)} max {max(events)}"
    )
    ok = results.terminal_ok == args.subscribers and not results.list_failures
    print("ALL OK" if ok else "PROBLEMS")


if __name__ == "__main__":
    main()
