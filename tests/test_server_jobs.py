"""The job manager on its own: dedupe key, late join, one terminal event, retention, shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

from model_provisioner import ModelProvisioner
from model_provisioner._errors import JobNotFound, ShuttingDown
from model_provisioner.server import JobManager, JobStatus
from model_provisioner.server._jobs import job_key
from tests.conftest import DEAD_ENDPOINT


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_job_key_ignores_spelling_but_not_selection(home: Path) -> None:
    p = ModelProvisioner(home)
    same = {job_key(p.parse(r)) for r in ("Org/Repo:q4_k_m", "hf:org/repo:Q4_K_M")}
    assert len(same) == 1
    assert job_key(p.parse("org/repo")) not in same
    assert job_key(p.parse("org/repo@v2:Q4_K_M")) not in same


async def test_failed_job_is_kept_for_a_while_then_forgotten(home: Path) -> None:
    clock = Clock()
    jobs = JobManager(ModelProvisioner(home, endpoint=DEAD_ENDPOINT), keep_finished=60, clock=clock)
    first = jobs.submit("org/repo")
    again = jobs.submit("hf:ORG/repo")
    assert again.joined and again.job is first.job
    assert first.job is not None
    assert [e async for e in first.job.events()][-1] is not None
    assert first.job.status is JobStatus.ERROR
    assert first.job.state.error_code == "network-error"

    events = [e async for e in first.job.events()]
    assert len(events) == 1 and events[0] is not None and events[0].stage.terminal

    clock.now += 59
    assert jobs.get(first.job.id) is first.job
    clock.now += 2
    try:
        jobs.get(first.job.id)
    except JobNotFound:
        pass
    else:
        raise AssertionError("a finished job is forgotten after keep_finished")
    await jobs.shutdown()


async def test_shutdown_refuses_new_jobs(home: Path) -> None:
    jobs = JobManager(ModelProvisioner(home, endpoint=DEAD_ENDPOINT))
    await jobs.shutdown(timeout=1)
    try:
        jobs.submit("org/repo")
    except ShuttingDown as exc:
        assert exc.http_status == 503
    else:
        raise AssertionError("no new jobs after shutdown")


async def test_subscribers_all_end_with_the_same_single_terminal(home: Path) -> None:
    jobs = JobManager(ModelProvisioner(home, endpoint=DEAD_ENDPOINT))
    job = jobs.submit("org/repo").job
    assert job is not None

    async def collect() -> list[str]:
        return [e.stage.value async for e in job.events() if e is not None]

    results = await asyncio.gather(*(collect() for _ in range(50)))
    for stages in results:
        assert stages[-1] == "error"
        assert sum(s in ("complete", "error") for s in stages) == 1
    await jobs.shutdown()
