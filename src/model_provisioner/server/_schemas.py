"""Request and response bodies: the OpenAPI schema and the validation of what comes in.

Outgoing models mirror the library's stable JSON (``ModelInfo.summary()``,
``DownloadProgress.to_dict()``) field for field, so the CLI's ``--json`` and the service agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._models import ModelInfo, VerifyReport
from .._progress import DownloadProgress
from .._references import MAX_REFERENCE_LENGTH
from ._jobs import Job, JobStatus, Submission

Reference = Field(
    min_length=1,
    max_length=MAX_REFERENCE_LENGTH,
    description="[hf:]ORG/NAME[@REVISION][:QUANT|FILE|GLOB], a Hub URL, or an alias",
    examples=["TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M"],
)


class ErrorDetail(BaseModel):
    code: str = Field(description="kebab-case error code, e.g. model-not-found")
    message: str
    problems: list[str] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ModelFileOut(BaseModel):
    path: str
    size: int
    sha256: str
    git_sha1: str | None = None
    lfs: bool = False
    hash_source: str = "published"


class ModelOut(BaseModel):
    """An installed model, as ``provisioner list --json`` prints it."""

    reference: str
    repo: str
    revision: str
    selector: str | None
    commit: str
    format: str
    path: str
    total_size: int
    file_count: int
    gguf_files: list[str]
    projector: str | None = None
    unverified_files: list[str] = []
    quantization: str | None
    downloaded_at: str
    verified_at: str | None
    metadata: dict[str, Any]
    files: list[ModelFileOut]

    @classmethod
    def of(cls, info: ModelInfo) -> ModelOut:
        return cls.model_validate(info.summary())


class ModelPath(BaseModel):
    reference: str
    path: str


class DiskUsage(BaseModel):
    home: str
    total_bytes: int
    models: list[ModelUsage]


class ModelUsage(BaseModel):
    reference: str
    bytes: int


class VerifyOut(BaseModel):
    reference: str
    ok: bool
    bytes_checked: int
    problems: list[str]

    @classmethod
    def of(cls, report: VerifyReport) -> VerifyOut:
        return cls(
            reference=report.reference,
            ok=report.ok,
            bytes_checked=report.bytes_checked,
            problems=report.problems,
        )


class ActiveFile(BaseModel):
    path: str
    bytes_done: int
    bytes_total: int


class ProgressOut(BaseModel):
    """One DownloadProgress event (``bytes_done`` off the network, ``bytes_verified`` hashed)."""

    stage: Literal["resolving", "downloading", "verifying", "complete", "error"]
    reference: str
    bytes_done: int
    bytes_total: int
    bytes_verified: int
    speed: float = Field(description="bytes per second over the last few seconds")
    eta: float | None = Field(description="seconds left at the current speed")
    current_file: str | None
    files_done: int
    files_total: int
    stalled: bool
    path: str | None = Field(description="the path a worker loads, on complete")
    error: str | None
    error_code: str | None
    active_files: list[ActiveFile]

    @classmethod
    def of(cls, event: DownloadProgress) -> ProgressOut:
        return cls.model_validate(event.to_dict())


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Reference
    update: bool = Field(
        default=False,
        description="ask the Hub for a newer commit even when the model is installed",
    )
    allow_unverified: bool = Field(
        default=False,
        description="accept files the server publishes no hash for (hash first seen here)",
    )


class JobOut(BaseModel):
    id: str
    reference: str
    status: JobStatus
    created_at: str
    finished_at: str | None
    state: ProgressOut
    model: ModelOut | None
    error: ErrorDetail | None
    events_url: str

    @classmethod
    def of(cls, job: Job) -> JobOut:
        error = job.error
        return cls(
            id=job.id,
            reference=job.reference,
            status=job.status,
            created_at=_iso(job.created_at),
            finished_at=_iso(job.finished_at) if job.finished_at is not None else None,
            state=ProgressOut.of(job.state),
            model=ModelOut.of(job.model) if job.model is not None else None,
            error=ErrorDetail(code=error.code, message=str(error)) if error else None,
            events_url=f"/v1/downloads/{job.id}/events",
        )


class DownloadAccepted(BaseModel):
    """``installed``: nothing to do (``model`` is set); ``started``/``joined``: see ``job``."""

    status: Literal["installed", "started", "joined"]
    model: ModelOut | None = None
    job: JobOut | None = None

    @classmethod
    def of(cls, submission: Submission) -> DownloadAccepted:
        if submission.job is None:
            assert submission.model is not None
            return cls(status="installed", model=ModelOut.of(submission.model))
        status: Literal["started", "joined"] = "joined" if submission.joined else "started"
        return cls(status=status, job=JobOut.of(submission.job))


class HiveDownloadRequest(BaseModel):
    """The original hive's request body, kept so its clients work unchanged."""

    model_ref: str = Reference


class HiveDownloadAnswer(BaseModel):
    download_id: str = Field(description='"cached" when the model was already installed')
    local_path: str | None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


DiskUsage.model_rebuild()
