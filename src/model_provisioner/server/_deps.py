"""Dependencies the routes take: the provisioner and the job manager of this app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .._provisioner import ModelProvisioner
from ._jobs import Job, JobManager


def _provisioner(request: Request) -> ModelProvisioner:
    provisioner: ModelProvisioner = request.app.state.provisioner
    return provisioner


def _jobs(request: Request) -> JobManager:
    jobs: JobManager = request.app.state.jobs
    return jobs


Provisioner = Annotated[ModelProvisioner, Depends(_provisioner)]
Jobs = Annotated[JobManager, Depends(_jobs)]


def _job(job_id: str, jobs: Jobs) -> Job:
    """Resolved before a stream starts, so an unknown id is a plain 404, not a broken stream."""
    return jobs.get(job_id)


JobById = Annotated[Job, Depends(_job)]
