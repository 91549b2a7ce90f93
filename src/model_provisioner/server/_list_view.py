"""``GET /v1/models``: one catalog scan and one JSON body shared by every request that waits.

This is the route an orchestrator polls, and it used to cost each request a thread-pool hop, a
walk of the manifests and a JSON rendering of its own: 50 requests at once queued behind 50
scans (list p99 0.5-1.4 s under a download, benchmarks/serve_load.py). Here a request waits on
the event loop for a scan that *starts after it arrived*, and every request that arrived during
one scan shares the next: at most one scan runs, a wave of any size costs at most two, and no
answer is older than its request (a pull that committed, an ``rm`` or a manifest edited by
another process before the request came is always seen: the scan is the library's own
``list_models``, which checks each manifest's stat). The body is rendered again only when the
entries differ from the last scan's (the library hands back the same objects for unchanged
manifests, so the comparison is nearly free).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from .._errors import ProvisionerError
from .._models import ModelInfo
from ._errors import error_response


@dataclass(frozen=True)
class Listing:
    """One scan's entries and their JSON body (the schema's ``list[ModelOut]``)."""

    models: list[ModelInfo]
    body: bytes
    length: bytes = field(init=False)  # the Content-Length header's value

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", str(len(self.body)).encode())


def render(models: list[ModelInfo]) -> bytes:
    """The same bytes Starlette's JSONResponse would send for the summaries."""
    summaries = [info.summary() for info in models]
    return json.dumps(summaries, ensure_ascii=False, separators=(",", ":")).encode()


class ListView:
    """Coalesces list requests into scans; must be used from the event loop's thread."""

    def __init__(self, scan: Callable[[], list[ModelInfo]]) -> None:
        self._scan = scan
        self._last: Listing | None = None
        self._running: asyncio.Task[None] | None = None
        # Those who came during a scan; an error is a result too, so that a scan nobody waits
        # for any more (every client left) leaves no "exception never retrieved" behind.
        self._next: asyncio.Future[Listing | Exception] | None = None

    async def listing(self) -> Listing:
        """The catalog as a scan that started after this call saw it.

        Raises:
            Whatever the library's scan raised (StoreNotWritable, ...), to every waiter.
        """
        waiting = self._next
        if waiting is None:
            loop = asyncio.get_running_loop()
            waiting = self._next = loop.create_future()
            if self._running is None:
                # on the next turn of the loop, so the requests read in this one share it
                loop.call_soon(self._start)
        # shield: one waiter going away must not cancel the scan the others wait for
        found = await asyncio.shield(waiting)
        if isinstance(found, Exception):
            raise found
        return found

    def _start(self) -> None:
        waiting, self._next = self._next, None
        assert waiting is not None and self._running is None
        self._running = asyncio.get_running_loop().create_task(self._run(waiting))

    async def _run(self, waiting: asyncio.Future[Listing | Exception]) -> None:
        try:
            waiting.set_result(await asyncio.to_thread(self._fresh))
        except asyncio.CancelledError:
            # The service is stopping: its waiters and the next scan's end with it, and no scan
            # starts now (asyncio would wait for that scan's thread before it exits).
            waiting.cancel()
            if self._next is not None:
                self._next.cancel()
                self._next = None
            raise
        except Exception as exc:  # the library's error, for every waiter to raise
            waiting.set_result(exc)
        finally:
            self._running = None
            if self._next is not None:
                self._start()

    def _fresh(self) -> Listing:
        models = self._scan()
        last = self._last
        if last is None or last.models != models:
            last = self._last = Listing(models, render(models))
        return last


class ListFastPath:
    """``GET /v1/models`` answered before FastAPI's own layers (innermost of our middlewares:
    after the access log, the token check and the body cap).

    Under a download with 200 SSE streams the service's event loop spent 61 % of its time in
    the framework's per-request layers (exception middlewares, routing over every route,
    dependency solving, Response) and 4 % in the list itself: with this path a list request
    costs the service 0.09 ms of CPU instead of 0.17 (50 in flight). The FastAPI route stays as
    the schema's declaration, answering the same (a test holds both to it). An error is the one
    mapping's answer (``_errors``); anything unexpected reaches the app's 500 handler, as from
    a route.
    """

    PATH = "/v1/models"

    def __init__(self, app: ASGIApp, *, view: ListView) -> None:
        self.app = app
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        try:
            listing = await self.view.listing()
        except ProvisionerError as exc:
            await error_response(exc)(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", listing.length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": listing.body})
