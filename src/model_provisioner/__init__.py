"""model-provisioner: make sure the model a worker needs is here, whole and correct."""

from ._download import PullPlan
from ._errors import (
    AuthError,
    Cancelled,
    DiskSpaceError,
    EntryNotFound,
    IntegrityError,
    InvalidReference,
    JobNotFound,
    MetadataError,
    ModelNotFound,
    NetworkError,
    OfflineError,
    ProvisionerError,
    RepoNotFound,
    RevisionNotFound,
    ShuttingDown,
    Unauthorized,
    UsageError,
)
from ._models import FileCheck, ModelFile, ModelInfo, VerifyReport
from ._progress import DownloadProgress, Stage
from ._provisioner import ModelProvisioner, default_home
from ._references import ModelReference, parse_reference
from ._transfer import TransferOptions

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "Cancelled",
    "DiskSpaceError",
    "DownloadProgress",
    "EntryNotFound",
    "FileCheck",
    "IntegrityError",
    "InvalidReference",
    "JobNotFound",
    "MetadataError",
    "ModelFile",
    "ModelInfo",
    "ModelNotFound",
    "ModelProvisioner",
    "ModelReference",
    "NetworkError",
    "OfflineError",
    "ProvisionerError",
    "PullPlan",
    "RepoNotFound",
    "RevisionNotFound",
    "ShuttingDown",
    "Stage",
    "TransferOptions",
    "Unauthorized",
    "UsageError",
    "VerifyReport",
    "__version__",
    "default_home",
    "parse_reference",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        _obj.__module__ = "model_provisioner"
