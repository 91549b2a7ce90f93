"""Bearer-token check for every route but /health (and the static page shell at /).

A pure ASGI middleware rather than a dependency, so that it also covers /openapi.json, /docs and
unknown paths. The comparison is constant-time over the token bytes.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

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
