"""The FastAPI application: state, auth, error handlers and the routers, in that order.

Route order matters where paths overlap: the hive's ``/v1/models/download...`` must be matched
before ``/v1/models/{reference:path}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from .. import __version__
from .._provisioner import ModelProvisioner
from . import _docs, _download_routes, _hive_routes, _hub_routes, _model_routes, _page
from ._access_log import AccessLog
from ._auth import BearerAuth, declare_bearer
from ._errors import install_error_handlers
from ._jobs import JobManager
from ._limits import BodyLimit
from ._list_view import ListFastPath, ListView
from ._schemas import Health

OPEN_PATHS = ("/health", "/", *_docs.OPEN_PATHS)  # no data, no action: see _auth


@dataclass(frozen=True)
class ServiceOptions:
    """What ``provisioner serve`` passes beyond the provisioner itself."""

    token: str | None = None
    keep_finished: float = 600.0
    max_parallel: int = 4
    shutdown_timeout: float = 3.0
    max_body: int = 1 << 20  # request bodies are small JSON; anything bigger is refused (413)


def create_app(provisioner: ModelProvisioner, options: ServiceOptions | None = None) -> FastAPI:
    options = options or ServiceOptions()
    jobs = JobManager(
        provisioner, keep_finished=options.keep_finished, max_parallel=options.max_parallel
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await jobs.shutdown(options.shutdown_timeout)

    app = FastAPI(
        title="model-provisioner",
        version=__version__,
        summary="Models on this host: list, inspect, verify, delete, download with live progress;"
        " the store as a read-only Hub mirror.",
        lifespan=lifespan,
        docs_url=None,  # ours (_docs) serves Swagger UI from the package, not a CDN
        redoc_url=None,  # ReDoc would load from a CDN too
    )
    app.state.provisioner = provisioner
    app.state.jobs = jobs
    app.state.list_view = ListView(provisioner.list_models)
    app.add_middleware(ListFastPath, view=app.state.list_view)
    app.add_middleware(BodyLimit, limit=options.max_body)
    app.add_middleware(BearerAuth, token=options.token, open_paths=OPEN_PATHS)
    app.add_middleware(AccessLog)  # outermost: also logs the requests auth and limits refuse
    install_error_handlers(app)
    if options.token:
        generate = app.openapi

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                app.openapi_schema = declare_bearer(generate(), OPEN_PATHS)
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/health", tags=["service"])
    async def health() -> Health:
        """Liveness; the only route that never needs the token."""
        return Health(version=__version__)

    app.include_router(_hive_routes.router)
    app.include_router(_download_routes.router)
    app.include_router(_model_routes.router)
    app.include_router(_hub_routes.router)
    app.include_router(_page.router)
    app.include_router(_docs.router)
    return app
