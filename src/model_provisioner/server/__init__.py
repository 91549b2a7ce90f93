"""``provisioner serve``: the HTTP service over a ModelProvisioner; the store as a Hub mirror."""

from ._app import ServiceOptions, create_app
from ._jobs import Job, JobManager, JobStatus
from ._serve import Service, build_service, run_service

__all__ = [
    "Job",
    "JobManager",
    "JobStatus",
    "Service",
    "ServiceOptions",
    "build_service",
    "create_app",
    "run_service",
]
