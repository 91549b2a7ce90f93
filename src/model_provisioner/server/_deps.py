"""Dependencies the routes take: the provisioner, the job manager and the model list of this app.

All ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool, a hop that cost
every request (list included) a fifth of its CPU, and that ran ``JobManager`` (loop-only) off the
event loop's thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .._provisioner import ModelProvisioner
from ._jobs import Job, JobManager
from ._list_view import ListView


async def _provisioner(request: Request) -> ModelProvisioner:
    provisioner: ModelProvisioner = request.app.state.provisioner
    return provisioner


async def _jobs(request: Request) -> JobManager:
    jobs: JobManager = request.app.state.jobs
    return jobs


async def _list_view(request: Request) -> ListView:
    view: ListView = request.app.state.list_view
    return view


Provisioner = Annotated[ModelProvisioner, Depends(_provisioner)]
Jobs = Annotated[JobManager, Depends(_jobs)]
ModelList = Annotated[ListView, Depends(_list_view)]


async def _job(job_id: str, jobs: Jobs) -> Job:
    """Resolved before a stream starts, so an unknown id is a plain 404, not a broken stream."""
    return jobs.get(job_id)


JobById = Annotated[Job, Depends(_job)]
