"""``provisioner serve``: the HTTP service over a ModelProvisioner; the store as a Hub mirror."""

from ._app import ServiceOptions, create_app
from ._jobs import Job, JobManager, JobStatus

__all__ = ["Job", "JobManager", "JobStatus", "ServiceOptions", "create_app"]
