"""A cap on request bodies: the service's routes take small JSON, never megabytes.

A pure ASGI middleware, so nothing reads a body before it: a declared ``Content-Length`` over
the limit is answered 413 before one byte of the body is read, and a chunked body is counted
as it streams and answered 413 the moment it passes the limit (Starlette would otherwise collect all
of it in memory; a 300 MB POST did exactly that).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import RequestTooLarge
from .._units import format_bytes
from ._errors import error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await error_response(self.error())(scope, receive, send)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            """The body as it arrives; past the limit, answer 413 and tell the app the client
            left (an exception here would become FastAPI's 400 "error parsing the body")."""
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    await error_response(self.error())(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, unless_refused)

    def error(self) -> RequestTooLarge:
        return RequestTooLarge(f"request body over {format_bytes(self.limit)}")
