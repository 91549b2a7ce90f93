"""One log line per request: method, path, status, duration.

A pure ASGI middleware (outermost), so it also times refused requests and whole SSE streams. It
logs the path only: never the query string (a client may put a secret there) nor any header, so
neither the Authorization header nor the token can reach the log. The path is percent-quoted, so
a hostile path cannot forge a second log line.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("model_provisioner.server.access")

_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def loggable_path(path: str) -> str:
    """The path as one printable token (control characters, spaces and non-ASCII quoted)."""
    return quote(path, safe=_PATH_SAFE, errors="backslashreplace")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # what the client gets if the app fails before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            log.info(
                "request method=%s path=%s status=%d duration_ms=%.1f",
                loggable_path(str(scope["method"])),
                loggable_path(str(scope["path"])),
                status,
                (time.monotonic() - started) * 1000,
            )
