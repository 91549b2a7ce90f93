"""Every error the provisioner raises, in one place.

The CLI maps each class to its exit code and the HTTP service to its status, by reading the
class attributes; nothing else decides them.

    ProvisionerError                 exit 1  (500)
    ├── InvalidReference             exit 2  (400)  malformed reference, unknown alias
    ├── UsageError                   exit 2  (400)  bad option or argument
    │   └── RequestTooLarge          exit 2  (413)  a request body over the service's limit
    ├── ModelNotFound                exit 3  (404)  not installed, or not on the Hub
    │   ├── JobNotFound              exit 3  (404)  no such download job (service)
    │   ├── RepoNotFound             exit 3  (404)  the mirror holds nothing of a repo (service)
    │   ├── RevisionNotFound         exit 3  (404)  ... nor this revision of it
    │   └── EntryNotFound            exit 3  (404)  ... nor this file of that commit
    ├── IntegrityError               exit 4  (409)  hash, size or structure mismatch
    │   ├── MetadataError            exit 4  (422)  a model header that cannot be parsed
    │   └── DamagedManifest          exit 4  (409)  a catalog entry that does not read back
    ├── DiskSpaceError               exit 5  (507)  not enough room, before or during a pull
    ├── StoreNotWritable             exit 1  (503)  the home is read-only or not ours to write
    ├── AuthError                    exit 6  (401)  gated or private repo, bad token
    │   └── Unauthorized             exit 6  (401)  the service wants its bearer token
    ├── NetworkError                 exit 1  (502)  the Hub or a mirror failed us
    │   └── TLSError                 exit 1  (502)  a certificate rejected, or no TLS at all
    ├── OfflineError                 exit 1  (503)  HF_HUB_OFFLINE and the model is not here
    ├── Cancelled                    exit 1  (499)  a download was cancelled; its partial stays
    ├── ShuttingDown                 exit 1  (503)  the service is stopping (service)
    └── PortInUse                    exit 1  (500)  ``serve`` cannot bind its address

``hub_code`` is the Hub's X-Error-Code for the errors the store-as-a-mirror answers with.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class ProvisionerError(Exception):
    """Base class: something the user can act on, said in one line."""

    code: ClassVar[str] = "provisioner-error"  # stable, machine-readable; the HTTP ``code``
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    hub_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class InvalidReference(ProvisionerError):
    """A model reference that does not parse, or names an unknown alias."""

    code = "invalid-reference"
    exit_code = 2
    http_status = 400


class UsageError(ProvisionerError):
    """An option or argument the provisioner cannot act on."""

    code = "usage-error"
    exit_code = 2
    http_status = 400


class ModelNotFound(ProvisionerError):
    """The model is not installed, or the Hub has no such repo, revision or file."""

    code = "model-not-found"
    exit_code = 3
    http_status = 404


class IntegrityError(ProvisionerError):
    """Bytes on disk or on the wire do not match what they should be."""

    code = "integrity-error"
    exit_code = 4
    http_status = 409

    def __init__(
        self, message: str, *, hint: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []


class MetadataError(IntegrityError):
    """A GGUF or safetensors header that is malformed or hostile."""

    code = "metadata-error"
    http_status = 422


class DamagedManifest(IntegrityError):
    """A manifest that is not valid JSON, or whose fields have the wrong type or form."""

    code = "damaged-manifest"

    def __init__(self, manifest: Path, problem: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"manifest {manifest} is damaged: {problem}",
            hint=hint or "pull the model again to rewrite it, or remove the file",
            problems=[f"{manifest}: {problem}"],
        )
        self.manifest = manifest
        self.problem = problem


class DiskSpaceError(ProvisionerError):
    """Not enough free space for what remains to be fetched."""

    code = "disk-space"
    exit_code = 5
    http_status = 507


class StoreNotWritable(ProvisionerError):
    """The store's home cannot be written (read-only mount, permissions)."""

    code = "store-not-writable"
    http_status = 503


class AuthError(ProvisionerError):
    """The repo is gated or private and the token is missing or refused."""

    code = "auth-error"
    exit_code = 6
    http_status = 401


class NetworkError(ProvisionerError):
    """The Hub or a mirror failed after retries."""

    code = "network-error"
    exit_code = 1
    http_status = 502


class TLSError(NetworkError):
    """A server's certificate was rejected (untrusted, expired, another host's): not retried."""

    code = "tls-error"


class OfflineError(ProvisionerError):
    """Offline mode is on and the model is not in the store."""

    code = "offline"
    exit_code = 1
    http_status = 503


class Cancelled(ProvisionerError):
    """A download was cancelled; its partial file stays for a later resume."""

    code = "cancelled"
    exit_code = 1
    http_status = 499


class JobNotFound(ModelNotFound):
    """No such download job, or it finished long enough ago to be forgotten."""

    code = "job-not-found"


class RepoNotFound(ModelNotFound):
    """The mirror holds nothing of this repo."""

    code = "repo-not-found"
    hub_code = "RepoNotFound"


class RevisionNotFound(ModelNotFound):
    """The repo is here, but not at this revision."""

    code = "revision-not-found"
    hub_code = "RevisionNotFound"


class EntryNotFound(ModelNotFound):
    """The commit is here, but not this file (or folder)."""

    code = "entry-not-found"
    hub_code = "EntryNotFound"


class Unauthorized(AuthError):
    """No bearer token, or the wrong one, on a service that requires one."""

    code = "unauthorized"


class RequestTooLarge(UsageError):
    """A request body over the service's limit; refused before it is read to the end."""

    code = "too-large"
    http_status = 413


class ShuttingDown(ProvisionerError):
    """The service is stopping and takes no new downloads."""

    code = "shutting-down"
    http_status = 503


class PortInUse(ProvisionerError):
    """``serve`` cannot bind: another process holds the port (or the address is not ours)."""

    code = "port-in-use"
