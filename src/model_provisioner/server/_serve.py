"""Running the app on uvicorn, with the bind check and a graceful shutdown.

uvicorn's own shutdown stops accepting, then waits for open connections, and only then runs the
lifespan shutdown. An SSE stream stays open until its job ends, so waiting first would hang for
the whole download; here jobs are cancelled (to a resumable point) right after accepting stops,
which ends every stream with its terminal event, and the connections drain within seconds.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable

import uvicorn

from .._errors import PortInUse, UsageError
from .._provisioner import ModelProvisioner
from ._app import ServiceOptions, create_app
from ._jobs import JobManager
from ._logging import configure_logging


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Loopback needs no token; anything else (0.0.0.0, a LAN address, a name) does."""
    if not is_loopback(host) and not token:
        raise UsageError(
            f"refusing to serve on {host} without a token",
            hint="pass --token-file FILE or set PROVISIONER_TOKEN, or bind to 127.0.0.1",
        )


class Service(uvicorn.Server):
    """uvicorn's Server, cancelling download jobs as soon as it stops accepting."""

    def __init__(self, config: uvicorn.Config, jobs: JobManager, shutdown_timeout: float) -> None:
        super().__init__(config)
        self.jobs = jobs
        self.shutdown_timeout = shutdown_timeout

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting now; uvicorn closes them again, harmlessly
        await self.jobs.shutdown(self.shutdown_timeout)
        await super().shutdown(sockets)

    @property
    def url(self) -> str:
        """The bound address once started (useful with port 0)."""
        sock = self.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_service(
    provisioner: ModelProvisioner,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    options: ServiceOptions | None = None,
    log_level: str = "info",
) -> Service:
    """The app and its server, after refusing an unsafe bind."""
    options = options or ServiceOptions()
    check_bind(host, options.token)
    app = create_app(provisioner, options)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=int(options.shutdown_timeout) + 1,
        server_header=False,
        log_config=None,  # run_service sets up logging; an embedding host keeps its own
        access_log=False,  # replaced by our AccessLog middleware
    )
    return Service(config, app.state.jobs, options.shutdown_timeout)


def run_service(service: Service, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; ``on_ready`` gets the URL once the socket listens."""
    configure_logging(str(service.config.log_level or "info"))
    if on_ready is not None:
        original = service.startup

        async def startup(sockets: list[socket.socket] | None = None) -> None:
            await original(sockets)
            if service.started:
                on_ready(service.url)

        service.startup = startup  # type: ignore[method-assign]
    service.run(sockets=[bind(service.config.host, service.config.port)])


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before uvicorn starts: a busy port is one clear error
    (PortInUse, exit 1), not uvicorn's log lines and its exit 3 (which reads as "not found")."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise PortInUse(
            f"cannot listen on {host}:{port}: {reason}", hint="pick another with --port"
        ) from exc
    return sock
