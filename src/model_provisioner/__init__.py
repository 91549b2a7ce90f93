"""model-provisioner: make sure the model a worker needs is here, whole and correct.

A re-export of the private modules. Names resolve on first use (PEP 562), so that
``import model_provisioner`` and the commands that only read the store (``provisioner path``,
``list``, ``info``) never load huggingface_hub or the transfer engine (~0.3 s).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._download import PullPlan
    from ._errors import (
        AuthError,
        Cancelled,
        DamagedManifest,
        DiskSpaceError,
        EntryNotFound,
        IntegrityError,
        InvalidReference,
        JobNotFound,
        MetadataError,
        ModelNotFound,
        NetworkError,
        OfflineError,
        PortInUse,
        ProvisionerError,
        RepoNotFound,
        RequestTooLarge,
        RevisionNotFound,
        ShuttingDown,
        StoreNotWritable,
        TLSError,
        Unauthorized,
        UsageError,
    )
    from ._gc import GcReport
    from ._hf_export import ExportReport
    from ._imports import ImportReport
    from ._listing import ListedModel, Listing
    from ._lockfile import LockedModel, Lockfile, dump_lockfile, parse_lockfile
    from ._mirror import Mirror
    from ._models import FileCheck, ModelFile, ModelInfo, RepairReport, VerifyReport
    from ._offers import Offer, RemoteOffers
    from ._progress import DownloadProgress, Stage
    from ._provisioner import ModelProvisioner, default_home
    from ._ratelimit import RateLimiter
    from ._references import ModelReference, parse_reference
    from ._remote import RemoteInspection
    from ._search import SearchHit
    from ._sync import SyncOutcome, SyncReport
    from ._transfer import TransferOptions

__version__ = "0.1.0"

_ERRORS = (
    "AuthError",
    "Cancelled",
    "DamagedManifest",
    "DiskSpaceError",
    "EntryNotFound",
    "IntegrityError",
    "InvalidReference",
    "JobNotFound",
    "MetadataError",
    "ModelNotFound",
    "NetworkError",
    "OfflineError",
    "PortInUse",
    "ProvisionerError",
    "RepoNotFound",
    "RequestTooLarge",
    "RevisionNotFound",
    "ShuttingDown",
    "StoreNotWritable",
    "TLSError",
    "Unauthorized",
    "UsageError",
)
_WHERE: dict[str, str] = {
    **dict.fromkeys(_ERRORS, "._errors"),
    "DownloadProgress": "._progress",
    "ExportReport": "._hf_export",
    "FileCheck": "._models",
    "GcReport": "._gc",
    "RateLimiter": "._ratelimit",
    "RepairReport": "._models",
    "ImportReport": "._imports",
    "ListedModel": "._listing",
    "Listing": "._listing",
    "LockedModel": "._lockfile",
    "Lockfile": "._lockfile",
    "Mirror": "._mirror",
    "ModelFile": "._models",
    "ModelInfo": "._models",
    "ModelProvisioner": "._provisioner",
    "ModelReference": "._references",
    "Offer": "._offers",
    "PullPlan": "._download",
    "RemoteInspection": "._remote",
    "RemoteOffers": "._offers",
    "SearchHit": "._search",
    "Stage": "._progress",
    "SyncOutcome": "._sync",
    "SyncReport": "._sync",
    "TransferOptions": "._transfer",
    "VerifyReport": "._models",
    "default_home": "._provisioner",
    "dump_lockfile": "._lockfile",
    "parse_lockfile": "._lockfile",
    "parse_reference": "._references",
}

__all__ = [
    "AuthError",
    "Cancelled",
    "DamagedManifest",
    "DiskSpaceError",
    "DownloadProgress",
    "EntryNotFound",
    "ExportReport",
    "FileCheck",
    "GcReport",
    "ImportReport",
    "IntegrityError",
    "InvalidReference",
    "JobNotFound",
    "ListedModel",
    "Listing",
    "LockedModel",
    "Lockfile",
    "MetadataError",
    "Mirror",
    "ModelFile",
    "ModelInfo",
    "ModelNotFound",
    "ModelProvisioner",
    "ModelReference",
    "NetworkError",
    "Offer",
    "OfflineError",
    "PortInUse",
    "ProvisionerError",
    "PullPlan",
    "RateLimiter",
    "RemoteInspection",
    "RemoteOffers",
    "RepairReport",
    "RepoNotFound",
    "RequestTooLarge",
    "RevisionNotFound",
    "SearchHit",
    "ShuttingDown",
    "Stage",
    "StoreNotWritable",
    "SyncOutcome",
    "SyncReport",
    "TLSError",
    "TransferOptions",
    "Unauthorized",
    "UsageError",
    "VerifyReport",
    "__version__",
    "default_home",
    "dump_lockfile",
    "parse_lockfile",
    "parse_reference",
]


def _claim(obj: Any) -> Any:
    if hasattr(obj, "__module__"):
        obj.__module__ = __name__
    return obj


def __getattr__(name: str) -> Any:
    """Import the defining module on first use; tracebacks then name ``model_provisioner``."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    obj = globals()[name] = _claim(getattr(importlib.import_module(module, __name__), name))
    return obj


# Errors are cheap and raised from everywhere: claim them now, so that a traceback says
# ``model_provisioner.ModelNotFound`` even before anyone looked the name up here.
for _name in _ERRORS:
    __getattr__(_name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
