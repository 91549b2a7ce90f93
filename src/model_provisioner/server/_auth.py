"""Bearer-token check for every route but the open ones (``_app.OPEN_PATHS``), and the scheme
as the OpenAPI declares it.

A pure ASGI middleware rather than a dependency, so that it also covers unknown paths. The
comparison is constant-time over the token bytes. What stays open holds no data and changes
nothing: /health, the page shell at /, and the API's description (/docs, its assets and
/openapi.json: the same for every install of this version). A browser cannot send a header with
a page load, so a token-protected /docs could not be opened at all; open, it declares the bearer
scheme, and Swagger UI's "Authorize" sends the token with every call tried from it.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .._errors import Unauthorized
from ._errors import error_response


class BearerAuth:
    def __init__(self, app: ASGIApp, *, token: str | None, open_paths: Collection[str]) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        if not self.authorized(dict(scope["headers"]).get(b"authorization", b"")):
            error = Unauthorized("missing or wrong bearer token", hint="Authorization: Bearer ...")
            response = error_response(error)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def authorized(self, header: bytes) -> bool:
        assert self.token is not None
        scheme, _, given = header.partition(b" ")
        ok_scheme = scheme.lower() == b"bearer"
        # Compare even when the scheme is wrong, so timing says nothing about the token.
        return hmac.compare_digest(given.strip(), self.token) and ok_scheme


SCHEME = "bearer"


def declare_bearer(schema: dict[str, Any], open_paths: Collection[str]) -> dict[str, Any]:
    """``schema`` with the bearer scheme required by every operation but the open ones."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The service's token (--token-file or PROVISIONER_TOKEN).",
    }
    schema["security"] = [{SCHEME: []}]
    for path, operations in schema.get("paths", {}).items():
        if path in open_paths:
            for operation in operations.values():
                operation["security"] = []
    return schema
