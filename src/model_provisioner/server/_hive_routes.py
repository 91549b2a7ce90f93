"""The original hive daemon's routes, backed by the same jobs, so its clients work unchanged.

``POST /v1/models/download {"model_ref"}`` answers ``{"download_id", "local_path"}`` (id
``"cached"`` and the path when installed); ``GET /v1/models/download/progress?id=`` streams
``data: {"stage": ...}`` events in the original's shape, then ``data: [DONE]``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from .._progress import DownloadProgress, Stage
from . import _sse as sse
from ._deps import Jobs
from ._jobs import Job
from ._schemas import ErrorBody, HiveDownloadAnswer, HiveDownloadRequest
from ._sse import EventStream

CACHED = "cached"

router = APIRouter(tags=["hive (original API)"])


@router.post("/v1/models/download")
async def hive_download(body: HiveDownloadRequest, jobs: Jobs) -> HiveDownloadAnswer:
    """Ensure the model is present: installed answers at once, otherwise a job id to follow."""
    submission = jobs.submit(body.model_ref, update=False)
    if submission.job is None:
        assert submission.model is not None
        return HiveDownloadAnswer(download_id=CACHED, local_path=str(submission.model.model_path))
    return HiveDownloadAnswer(download_id=submission.job.id, local_path=None)


async def _job_or_cached(
    jobs: Jobs, id: Annotated[str, Query(min_length=1, max_length=64)]
) -> Job | None:
    """Looked up before the stream starts: an unknown id is a JSON 404."""
    return None if id == CACHED else jobs.get(id)


@router.get(
    "/v1/models/download/progress",
    response_class=EventStream,
    status_code=200,
    responses={**sse.OPENAPI, 404: {"model": ErrorBody}},
)
async def hive_progress(job: Annotated[Job | None, Depends(_job_or_cached)]) -> EventStream:
    """The original event stream: downloading..., then complete or error, then [DONE]."""

    async def stream() -> AsyncIterator[bytes]:
        if job is None:
            yield sse.data({"stage": "complete", "local_path": None})
        else:
            async for event in job.events():
                yield sse.PING if event is None else hive_frame(event)
        yield sse.data("[DONE]")

    return EventStream(stream())


@functools.lru_cache(maxsize=64)
def hive_frame(event: DownloadProgress) -> bytes:
    """Encoded once for all the job's subscribers (see ``_download_routes.progress_frame``)."""
    return sse.data(hive_event(event))


def hive_event(event: DownloadProgress) -> dict[str, Any]:
    """Only the stages the original sent: resolving and verifying read as downloading."""
    if event.stage is Stage.COMPLETE:
        return {"stage": "complete", "local_path": event.path}
    if event.stage is Stage.ERROR:
        return {"stage": "error", "message": event.error, "code": event.error_code}
    return {
        "stage": "downloading",
        "bytes_downloaded": event.bytes_done,
        "bytes_total": event.bytes_total,
        "speed_mbps": round(event.speed / 1_000_000, 3),
    }
