"""A Hugging Face Hub look-alike for tests and benchmarks: fixture repos, server, faults."""

from .faults import Fault, FaultSet
from .process import start_subprocess_server
from .repos import FileEntry, FixtureHub, Repo
from .requestlog import LoggedRequest, RequestLog
from .server import HubServer, ServerOptions

__all__ = [
    "Fault",
    "FaultSet",
    "FileEntry",
    "FixtureHub",
    "HubServer",
    "LoggedRequest",
    "Repo",
    "RequestLog",
    "ServerOptions",
    "start_subprocess_server",
]
