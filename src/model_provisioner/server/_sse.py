"""Server-Sent Events on Starlette's StreamingResponse.

FastAPI's own SSE support runs two extra tasks and memory streams per connection and logs a
client that goes away as an application error; a stream here is one async generator, and a
disconnect simply cancels it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

PING = b": ping\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
OPENAPI: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}
}


def data(payload: Any) -> bytes:
    """One event whose ``data:`` is ``payload`` as compact JSON (a str is sent raw)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return b"".join(b"data: " + line.encode() + b"\n" for line in text.split("\n")) + b"\n"


class EventStream(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        super().__init__(chunks, headers=HEADERS)
