"""Download jobs over HTTP: start or join, list, get, cancel, and follow over SSE.

A POST answers at once; the pull runs in the job manager. The event stream sends the job's
current state first, so a subscriber that comes late (even after the end) still sees where the
job is, then live states, then exactly one terminal event, and closes.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from fastapi import APIRouter, Response, status

from .._progress import DownloadProgress
from . import _sse as sse
from ._deps import JobById, Jobs
from ._schemas import DownloadAccepted, DownloadRequest, ErrorBody, JobOut
from ._sse import EventStream

router = APIRouter(tags=["downloads"])


@router.post(
    "/v1/downloads",
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"model": DownloadAccepted, "description": "already installed"}},
)
async def start_download(body: DownloadRequest, jobs: Jobs, response: Response) -> DownloadAccepted:
    """Start a pull, or join the one already running for this model (202); installed: 200."""
    accepted = DownloadAccepted.of(
        jobs.submit(body.reference, update=body.update, allow_unverified=body.allow_unverified)
    )
    if accepted.status == "installed":
        response.status_code = status.HTTP_200_OK
    return accepted


@router.get("/v1/downloads")
async def list_downloads(jobs: Jobs) -> list[JobOut]:
    """Running jobs and those that finished in the last few minutes."""
    return [JobOut.of(job) for job in jobs.list()]


@router.get("/v1/downloads/{job_id}", responses={404: {"model": ErrorBody}})
async def get_download(job_id: str, jobs: Jobs) -> JobOut:
    return JobOut.of(jobs.get(job_id))


@router.delete("/v1/downloads/{job_id}", responses={404: {"model": ErrorBody}})
async def cancel_download(job_id: str, jobs: Jobs) -> JobOut:
    """Stop the transfer at a resumable point (the partial stays); a finished job is unchanged."""
    return JobOut.of(jobs.cancel(job_id))


@router.get(
    "/v1/downloads/{job_id}/events",
    response_class=EventStream,
    status_code=200,
    responses={**sse.OPENAPI, 404: {"model": ErrorBody}},
)
async def download_events(job: JobById) -> EventStream:
    """Server-Sent Events, each a DownloadProgress; the last has stage complete or error."""

    async def stream() -> AsyncIterator[bytes]:
        async for event in job.events():
            yield sse.PING if event is None else progress_frame(event)

    return EventStream(stream())


@functools.lru_cache(maxsize=64)
def progress_frame(event: DownloadProgress) -> bytes:
    """One event's frame, encoded once for all its subscribers (200 streams on one job encoded
    each state 200 times); events are frozen, so equal events share a frame."""
    return sse.data(event.to_dict())
