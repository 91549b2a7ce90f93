"""Installed models: list, info, path, verify, delete, disk usage; each one library call.

The routes are plain ``def``: the library does blocking file I/O, so they run in the thread pool.
The list, the route an orchestrator polls, is the exception: requests wait on the event loop for
a scan they share (``_list_view``).
A reference is the rest of the path (it holds ``/``, ``:`` and ``@``), so actions get their own
prefix (``/v1/paths/...``, ``/v1/verify/...``) instead of a suffix a repo name could collide with.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ._deps import ModelList, Provisioner
from ._schemas import DiskUsage, ModelOut, ModelPath, ModelUsage, VerifyOut

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=list[ModelOut])
async def list_models(models: ModelList) -> Response:
    """Every installed model (reads manifests only), as of a scan that began after the request.

    The library's summaries are already the schema's JSON: sent as they are, not validated a
    second time, since this is the route an orchestrator polls.
    """
    listing = await models.listing()
    return Response(listing.body, media_type="application/json")


@router.get("/v1/models/{reference:path}")
def get_model(reference: str, provisioner: Provisioner) -> ModelOut:
    """One installed model with its files and parsed metadata; 404 if not installed."""
    return ModelOut.of(provisioner.get_model_info(reference))


@router.delete("/v1/models/{reference:path}")
def delete_model(reference: str, provisioner: Provisioner) -> ModelOut:
    """Unlist the model, then free the files no other model uses; answers what was removed."""
    return ModelOut.of(provisioner.delete_model(reference))


@router.get("/v1/paths/{reference:path}")
def model_path(reference: str, provisioner: Provisioner) -> ModelPath:
    """The path a worker loads (GGUF file, first split part, or folder); 404 if not installed,
    409 if a file is missing or known damaged (``pull`` repairs it)."""
    info = provisioner.use_model(reference)
    return ModelPath(reference=info.reference, path=str(info.model_path))


@router.post("/v1/verify/{reference:path}")
def verify_model(reference: str, provisioner: Provisioner) -> VerifyOut:
    """Re-hash every file; damage answers 409 with the problems listed, file by file."""
    return VerifyOut.of(provisioner.verify_model(reference))


@router.get("/v1/disk-usage")
def disk_usage(provisioner: Provisioner) -> DiskUsage:
    """Bytes the store occupies (shared content once), and each model's size."""
    return DiskUsage(
        home=str(provisioner.home),
        total_bytes=provisioner.get_total_disk_usage(),
        models=[
            ModelUsage(reference=m.reference, bytes=m.total_size) for m in provisioner.list_models()
        ],
    )
