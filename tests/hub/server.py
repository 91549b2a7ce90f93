"""A Hugging Face Hub look-alike over aiohttp, with a CDN on another host and fault injection.

Two listeners share one handler object: the Hub (``host``, default 127.0.0.1) and a "CDN"
(``cdn_host``, default 127.0.0.2, a different host name on loopback) that large LFS files are
redirected to, as huggingface.co redirects to its CDN. Paths are routed by hand from the raw URL
so that ``%2F`` in a revision stays one segment, as on the Hub.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import hmac
import json
import secrets
import socket
import ssl
import struct
import termios
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from . import protocol
from .faults import Fault, FaultKind, FaultSet
from .repos import FileEntry, FixtureHub, Repo
from .requestlog import LoggedRequest, RequestLog
from .shaping import PIECE, Pacer, pace

DEFAULT_TOKENS = frozenset({"hf_fixture_token"})
GATE_EXEMPT = frozenset({"README.md", ".gitattributes"})
_SENDFILE_PIECE = 8 << 20
_CHUNK = 1 << 20


@dataclass
class ServerOptions:
    """Knobs of the fixture server; all can be passed to ``HubServer(hub, **options)``."""

    host: str = "127.0.0.1"
    port: int = 0
    cdn_host: str = "127.0.0.2"
    cdn_port: int = 0
    page_size: int = 50
    cdn_threshold: int = 1 << 20
    tokens: frozenset[str] = DEFAULT_TOKENS
    mirror: bool = False  # no model-info or paths-info route: tree listing and resolve only
    miss_status: int = 404  # 401: answer every miss (repo, revision, file, route) with a bare 401
    weak_etags: bool = False  # ETag: W/"..." as some proxies rewrite it
    ignore_range: bool = False  # every GET answers 200 with the whole body
    linked_headers: bool = True  # False: no X-Linked-Etag / X-Linked-Size on resolve
    listing_hashes: bool = True  # False: model info siblings carry only rfilename, blobs or not
    # Test hooks for hostile answers: (route, repo id, JSON body) -> body, where route is
    # "model_info", "tree" or "paths_info"; (repo id, path, headers) -> headers on resolve.
    rewrite: Callable[[str, str, Any], Any] | None = None
    moved: dict[str, str] = field(default_factory=dict)  # repo id -> id its API routes 307 to
    rewrite_headers: Callable[[str, str, dict[str, str]], dict[str, str]] | None = None
    # A WAN model (0: off): bytes/s per connection, bytes/s for the whole server (Hub and CDN
    # together), and seconds before each answer (a round trip).
    connection_rate: float = 0.0
    link_rate: float = 0.0
    response_delay: float = 0.0
    tls: ssl.SSLContext | None = None  # serve https on both listeners
    cdn_tls: ssl.SSLContext | None = None  # the CDN's own certificate (default: ``tls``'s)
    # Redirect file bodies to this base URL instead of our CDN listener: a server we did not
    # write (benchmarks/pull.py's nginx) serving ``/repos/<repo>/<commit>/<path>``.
    external_cdn: str = ""


class HubError(Exception):
    """An error answer in the Hub's shape: status, X-Error-Code, X-Error-Message, JSON body."""

    def __init__(
        self, status: int, code: str | None, message: str, body: str | None = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers
        self.body = body

    def response(self) -> web.Response:
        """The aiohttp answer."""
        headers = dict(self.headers)
        if self.code is not None:
            headers["X-Error-Code"] = self.code
            headers["X-Error-Message"] = self.message
        body = json.dumps({"error": self.message}) if self.body is None else self.body
        return web.Response(
            status=self.status, text=body, content_type="application/json", headers=headers
        )


class _HardReset(Exception):
    """Raised after the connection was aborted on purpose, so aiohttp just drops it."""


@dataclass
class _Request:
    """A parsed request: who it is about, for routing, access checks and fault matching."""

    raw: web.Request
    log: LoggedRequest
    listener: str
    segments: list[str]
    repo_id: str | None = None
    file: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def targets(self) -> tuple[str, ...]:
        """Strings a fault glob is matched against."""
        return tuple(t for t in (self.file, self.repo_id, self.raw.path) if t)


class HubApp:
    """The request handlers; state (faults, log, options) is shared with ``HubServer``."""

    def __init__(self, hub: FixtureHub, options: ServerOptions, faults: FaultSet, log: RequestLog):
        self.hub, self.options, self.faults, self.log = hub, options, faults, log
        self.cdn_url = ""
        self._secret = secrets.token_bytes(16)
        self.link = Pacer(options.link_rate) if options.link_rate > 0 else None

    # -- entry points ----------------------------------------------------------------------------

    async def handle_hub(self, request: web.Request) -> web.StreamResponse:
        """Every request to the Hub listener."""
        return await self._dispatch(request, "hub", self._route_hub)

    async def handle_cdn(self, request: web.Request) -> web.StreamResponse:
        """Every request to the CDN listener."""
        return await self._dispatch(request, "cdn", self._route_cdn)

    async def _dispatch(
        self,
        request: web.Request,
        listener: str,
        route: Callable[[_Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        segments = [unquote(s) for s in request.rel_url.raw_path.split("/")[1:]]
        if listener == "hub" and segments[:1] == ["_fixture"]:
            return await self._control(request, segments[1:])
        entry = LoggedRequest(
            method=request.method,
            host=request.host,
            path=request.path,
            query=request.query_string,
            listener=listener,
            range=request.headers.get("Range"),
            authorization="Authorization" in request.headers,
            peer=_peer_port(request),
            peer_host=request.remote or "",
        )
        req = _Request(request, entry, listener, segments)
        self.log.begin()
        try:
            try:
                if self.options.response_delay > 0:
                    await asyncio.sleep(self.options.response_delay)
                response = await route(req)
            except HubError as error:
                response = self._miss(error).response()
            except (_HardReset, ConnectionError, asyncio.CancelledError):
                # A cut on purpose or a client gone mid-body: log it and let aiohttp drop the
                # connection quietly (it logs a ConnectionError from a handler as an error).
                self._record(req, 499)
                raise asyncio.CancelledError() from None
            req.log.complete = True
            self._record(req, response.status)
            return response
        finally:
            self.log.end()

    def _miss(self, error: HubError) -> HubError:
        """A mirror that answers 401 for every miss says nothing more (no code, no commit)."""
        if self.options.miss_status == 404 or error.status not in (401, 404):
            return error
        return HubError(self.options.miss_status, None, "Unauthorized")

    def _record(self, req: _Request, status: int) -> None:
        """Log a finished request; 499 if it broke before its status line was sent."""
        req.log.status = req.log.status or status
        req.log.repo_id = req.log.repo_id or req.repo_id
        req.log.file = req.file
        self.log.record(req.log)

    # -- routing ---------------------------------------------------------------------------------

    async def _route_hub(self, req: _Request) -> web.StreamResponse:
        seg, method = req.segments, req.raw.method
        if seg in (["api", "models"], ["api", "models", ""]) and method == "GET":
            await self._request_fault(req)
            return self._search(req)
        if len(seg) >= 4 and seg[:2] == ["api", "models"]:
            req.repo_id, rest = f"{seg[2]}/{seg[3]}", seg[4:]
            if req.repo_id in self.options.moved:
                target = self.options.moved[req.repo_id]
                location = req.raw.rel_url.raw_path_qs.replace(req.repo_id, target, 1)
                return web.Response(status=307, headers={"Location": location})
            await self._request_fault(req)
            if not rest and method == "GET" and not self.options.mirror:
                return await self._model_info(req, "main", pinned=False)
            if (
                rest[:1] == ["revision"]
                and len(rest) > 1
                and method == "GET"
                and not self.options.mirror
            ):
                return await self._model_info(req, "/".join(rest[1:]), pinned=True)
            if rest[:1] == ["tree"] and len(rest) > 1 and method == "GET":
                return await self._tree(req, rest[1], "/".join(rest[2:]).strip("/"))
            if (
                rest[:1] == ["paths-info"]
                and len(rest) > 1
                and method == "POST"
                and not self.options.mirror
            ):
                return await self._paths_info(req, "/".join(rest[1:]))
        elif len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
            req.repo_id, req.file = f"{seg[0]}/{seg[1]}", "/".join(seg[4:])
            await self._request_fault(req)
            return await self._resolve(req, seg[3])
        raise HubError(404, None, "Not Found")

    async def _route_cdn(self, req: _Request) -> web.StreamResponse:
        seg = req.segments
        if len(seg) < 5 or seg[0] != "repos" or req.raw.method not in ("GET", "HEAD"):
            raise HubError(404, None, "Not Found")
        req.repo_id, commit, req.file = f"{seg[1]}/{seg[2]}", seg[3], "/".join(seg[4:])
        await self._request_fault(req)
        query = req.raw.query
        expected = self._sign(req.repo_id, commit, req.file, query.get("Expires", ""))
        if not hmac.compare_digest(expected, query.get("Signature", "")):
            raise HubError(403, None, "Request has expired or the signature does not match")
        repo = self.hub.find_repo(req.repo_id)
        entry = self.hub.entries(repo, commit).get(req.file) if repo else None
        if repo is None or entry is None:
            raise HubError(404, None, "NoSuchKey")
        req.repo_id = repo.id
        headers = protocol.file_headers(entry, None)
        headers["ETag"] = f'"{entry.sha256}"'
        for key in ("X-Linked-Etag", "X-Linked-Size"):
            headers.pop(key)
        if self.options.weak_etags:
            headers["ETag"] = "W/" + headers["ETag"]
        return await self._serve_file(
            req, self.hub.file_path(repo, commit, req.file), entry, headers
        )

    # -- API -------------------------------------------------------------------------------------

    async def _model_info(self, req: _Request, rev: str, *, pinned: bool) -> web.Response:
        repo, commit = self._open(req, rev)
        entries = list(self.hub.entries(repo, commit).values())
        if self._listing_fault(req):
            entries += protocol.hostile_entries()
        query = req.raw.query
        info = protocol.model_info_json(
            repo,
            commit,
            entries,
            blobs=query.get("blobs", "").lower() in ("true", "1") and self.options.listing_hashes,
            last_modified=self.hub.commit_date(repo, commit),
        )
        expand = query.getall("expand", []) + query.getall("expand[]", [])
        body = protocol.select_expand(info, expand) if expand else info
        return web.json_response(self._rewrite("model_info", repo, body))

    def _search(self, req: _Request) -> web.Response:
        """``GET /api/models?search=&filter=&sort=&direction=&limit=``, as the Hub answers
        ``HfApi.list_models``: public repos whose id contains the text and that carry every
        filter tag; "downloads" counts the file requests this server logged for the repo."""
        query = req.raw.query
        text = query.get("search", "").lower()
        wanted = set(query.getall("filter", []))
        try:
            limit = int(query.get("limit", "1000"))
        except ValueError:
            raise HubError(400, None, "limit must be an integer") from None
        downloads: dict[str, int] = {}
        for logged in self.log.entries():
            if logged.file and logged.repo_id:
                downloads[logged.repo_id.lower()] = downloads.get(logged.repo_id.lower(), 0) + 1
        hits = []
        for repo in self.hub.repos():
            commit = self.hub.resolve(repo, "main")
            if repo.private or text not in repo.id.lower() or commit is None:
                continue
            info = protocol.model_info_json(
                repo,
                commit,
                self.hub.entries(repo, commit).values(),
                blobs=False,
                last_modified=self.hub.commit_date(repo, commit),
            )
            if wanted <= set(info["tags"]):
                info["downloads"] = downloads.get(repo.id.lower(), 0)
                hits.append({k: v for k, v in info.items() if k not in ("siblings", "sha")})
        key = query.get("sort")
        if key in ("downloads", "likes", "lastModified"):
            hits.sort(key=lambda h: (h[key], h["id"]), reverse=query.get("direction") != "1")
        return web.json_response(hits[: max(0, limit)])

    async def _tree(self, req: _Request, rev: str, folder: str) -> web.Response:
        repo, commit = self._open(req, rev)
        query = req.raw.query
        recursive = query.get("recursive", "").lower() in ("true", "1")
        expand = query.get("expand", "").lower() in ("true", "1")
        entries = self.hub.entries(repo, commit)
        if self._listing_fault(req):
            entries = {**entries, **{e.path: e for e in protocol.hostile_entries()}}
        items = protocol.tree_listing(entries, folder, recursive=recursive)
        if items is None:
            raise HubError(404, "EntryNotFound", f'{folder} does not exist on "{rev}"')
        date = self.hub.commit_date(repo, commit)
        start = _decode_cursor(query.get("cursor"))
        page = items[start : start + self.options.page_size]
        body = [self._listing_json(item, expand, commit, date) for item in page]
        response = web.json_response(self._rewrite("tree", repo, body))
        if start + self.options.page_size < len(items):
            cursor = base64.urlsafe_b64encode(str(start + len(page)).encode()).decode()
            next_url = req.raw.url.update_query(cursor=cursor)
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    async def _paths_info(self, req: _Request, rev: str) -> web.Response:
        repo, commit = self._open(req, rev)
        paths, expand = await _paths_form(req.raw)
        entries = self.hub.entries(repo, commit)
        if self._listing_fault(req):
            entries = {**entries, **{e.path: e for e in protocol.hostile_entries()}}
            paths = [*paths, *(e.path for e in protocol.hostile_entries())]
        dirs = protocol.directories(entries)
        date = self.hub.commit_date(repo, commit)
        found: list[FileEntry | str] = [
            entries.get(p, p) for p in paths if p in entries or p in dirs
        ]
        body = [self._listing_json(item, expand, commit, date) for item in found]
        return web.json_response(self._rewrite("paths_info", repo, body))

    def _rewrite(self, route: str, repo: Repo, body: Any) -> Any:
        hook = self.options.rewrite
        return body if hook is None else hook(route, repo.id, body)

    def _file_headers(
        self, repo: Repo, entry: FileEntry, headers: dict[str, str]
    ) -> dict[str, str]:
        """Resolve headers after the mirror switches and the test hook."""
        if self.options.weak_etags and "ETag" in headers:
            headers["ETag"] = "W/" + headers["ETag"]
        if not self.options.linked_headers:
            headers = {k: v for k, v in headers.items() if not k.startswith("X-Linked-")}
        hook = self.options.rewrite_headers
        return headers if hook is None else hook(repo.id, entry.path, headers)

    @staticmethod
    def _listing_json(
        item: FileEntry | str, expand: bool, commit: str, date: str
    ) -> dict[str, Any]:
        if isinstance(item, str):
            return protocol.folder_json(item, expand=expand, commit=commit, date=date)
        return protocol.tree_entry_json(item, expand=expand, commit=commit, date=date)

    # -- files -----------------------------------------------------------------------------------

    async def _resolve(self, req: _Request, rev: str) -> web.StreamResponse:
        assert req.file is not None
        repo, commit = self._open(req, rev)
        entry = self.hub.entries(repo, commit).get(req.file)
        if entry is None:
            raise HubError(404, "EntryNotFound", "Entry not found", **{"X-Repo-Commit": commit})
        self._check_gate(req, repo)
        headers = self._file_headers(repo, entry, protocol.file_headers(entry, commit))
        if entry.lfs and entry.size > self.options.cdn_threshold:
            return self._redirect_to_cdn(req, repo, commit, entry, headers)
        return await self._serve_file(
            req, self.hub.file_path(repo, commit, entry.path), entry, headers
        )

    def _redirect_to_cdn(
        self, req: _Request, repo: Repo, commit: str, entry: FileEntry, headers: dict[str, str]
    ) -> web.Response:
        """302 to a signed CDN URL; the metadata headers ride on the redirect itself."""
        expires = str(int(time.time()) + 3600)
        location = (
            f"{self.cdn_url}/repos/{quote(repo.id)}/{commit}/{quote(entry.path)}"
            f"?Expires={expires}&Signature={self._sign(repo.id, commit, entry.path, expires)}"
        )
        headers = {k: v for k, v in headers.items() if k not in ("Accept-Ranges", "Content-Type")}
        if self._headers_fault(req):
            headers = protocol.strip_linked_headers(headers)
        headers["Location"] = location
        text = "" if req.raw.method == "HEAD" else f"Found. Redirecting to {location}"
        return web.Response(status=302, text=text, headers=headers)

    async def _serve_file(
        self, req: _Request, path: Path, entry: FileEntry, headers: dict[str, str]
    ) -> web.StreamResponse:
        """Headers, Range, then the body (sendfile unless a body fault wants byte control)."""
        if self._headers_fault(req):
            headers = protocol.strip_linked_headers(headers)
        wanted = req.raw.headers.get("Range")
        if wanted is not None and "If-Range" in req.raw.headers:
            wanted = wanted if req.raw.headers["If-Range"] == headers.get("ETag") else None
        try:
            span = protocol.parse_range(wanted, entry.size)
        except protocol.RangeNotSatisfiable:
            raise HubError(
                416, None, "Range Not Satisfiable", **{"Content-Range": f"bytes */{entry.size}"}
            ) from None
        start, end = span if span is not None else (0, entry.size - 1)
        fault = self._body_fault(req, start, end + 1, ranged=span is not None)
        if self.options.ignore_range:
            span, start, end = None, 0, entry.size - 1
            headers = {k: v for k, v in headers.items() if k != "Accept-Ranges"}
        if fault is not None and fault.kind == "ignore_range":
            span, start, end = None, 0, entry.size - 1
        response = web.StreamResponse(status=206 if span is not None else 200, headers=headers)
        if span is not None:
            response.headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        if fault is not None and fault.kind == "chunked":
            response.enable_chunked_encoding()
        else:
            response.content_length = end - start + 1
        await response.prepare(req.raw)
        if req.raw.method == "HEAD" or end < start:
            await response.write_eof()
            return response
        req.log.status = response.status
        if fault is None or fault.kind == "ignore_range":
            await self._sendfile(req, response, path, start, end + 1 - start)
        else:
            await self._send_faulty(req, response, path, start, end + 1, fault)
        await response.write_eof()
        return response

    async def _sendfile(
        self, req: _Request, response: web.StreamResponse, path: Path, offset: int, count: int
    ) -> None:
        loop = asyncio.get_running_loop()
        transport = req.raw.transport
        if transport is None:
            raise ConnectionResetError("client went away")
        rate = self.options.connection_rate
        # One request at a time runs on a connection, so a pacer per request caps the connection.
        own = Pacer(rate) if rate > 0 else None
        shaped = own is not None or self.link is not None
        with path.open("rb") as fobj:
            while count > 0:
                piece = min(count, PIECE if shaped else _SENDFILE_PIECE)
                await pace(piece, own, self.link)
                fobj.seek(offset)
                try:
                    await loop.sendfile(transport, fobj, offset, piece)
                except BaseException as error:
                    # asyncio leaves the file position just after the bytes it did send
                    req.log.bytes_sent += max(fobj.tell() - offset, 0)
                    if isinstance(error, RuntimeError) and transport.is_closing():
                        # the client closed between two pieces (paced bodies wait between
                        # them): it went away, like a reset
                        raise ConnectionResetError("client went away") from None
                    raise
                req.log.bytes_sent += piece
                offset, count = offset + piece, count - piece

    async def _send_faulty(
        self,
        req: _Request,
        response: web.StreamResponse,
        path: Path,
        start: int,
        stop: int,
        fault: Fault,
    ) -> None:
        """Send [start, stop) by hand so the fault lands at an exact byte."""
        cut = ("reset", "short_body", "stall", "slow_body")
        limit = start + fault.after_bytes if fault.kind in cut else stop
        with path.open("rb") as fobj:
            fobj.seek(start)
            position = start
            while position < stop:
                if position >= limit:
                    if fault.kind == "stall":
                        await asyncio.sleep(fault.seconds)
                        limit = stop
                        continue
                    if fault.kind == "slow_body":  # a tenth of ``rate`` ten times a second
                        await asyncio.sleep(0.1)
                        limit = position + max(1, fault.rate // 10)
                    else:
                        await self._cut(req, hard=fault.kind == "reset")
                chunk = fobj.read(min(_CHUNK, stop - position, max(limit - position, 0)))
                if fault.kind == "corrupt":
                    chunk = _flip(chunk, position, fault.offset, fault.length)
                await response.write(chunk)
                req.log.bytes_sent += len(chunk)
                position += len(chunk)

    async def _cut(self, req: _Request, *, hard: bool) -> None:
        """End the connection mid-body: RST for ``reset``, a clean FIN for ``short_body``."""
        transport = req.raw.transport
        if transport is not None:
            await _flushed(transport)
            sock = transport.get_extra_info("socket")
            if hard and sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort() if hard else transport.close()
        raise _HardReset()

    # -- access and faults -----------------------------------------------------------------------

    def _open(self, req: _Request, rev: str) -> tuple[Repo, str]:
        """Repo and commit, or the Hub's RepoNotFound / RevisionNotFound answers."""
        assert req.repo_id is not None
        repo = self.hub.find_repo(req.repo_id)
        if repo is None or (repo.private and self._token_state(req) != "valid"):
            raise HubError(404 if repo is None else 401, "RepoNotFound", "Repository not found")
        req.repo_id = req.log.repo_id = repo.id
        commit = self.hub.resolve(repo, rev)
        if commit is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return repo, commit

    def _check_gate(self, req: _Request, repo: Repo) -> None:
        if not repo.gated or req.file in GATE_EXEMPT:
            return
        state = self._token_state(req)
        if state == "none":
            message = (
                f"Access to model {repo.id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in."
            )
            raise HubError(401, "GatedRepo", message)
        if state == "invalid":
            message = (
                f"Access to model {repo.id} is restricted and you are not in the authorized list. "
                f"Visit https://huggingface.co/{repo.id} to ask for access."
            )
            raise HubError(403, "GatedRepo", message)

    def _token_state(self, req: _Request) -> str:
        header = req.raw.headers.get("Authorization")
        if header is None:
            return "none"
        token = header.removeprefix("Bearer ").strip()
        return "valid" if token in self.options.tokens else "invalid"

    async def _request_fault(self, req: _Request) -> None:
        fault = self.faults.take("request", req.targets, req.raw.method, req.listener)
        if fault is None:
            return
        req.log.fault = fault.kind
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return
        if fault.kind == "junk":
            raise HubError(200, None, "junk", body=protocol.JUNK_JSON)
        if fault.kind == "rate_limit":
            limits = {
                "Retry-After": str(fault.retry_after),
                "RateLimit": f'"resolvers";r=0;t={fault.retry_after}',
                "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300',
            }
            raise HubError(429, None, "Too Many Requests", **limits)
        raise HubError(fault.status, None, f"fixture fault: {fault.status}")

    def _headers_fault(self, req: _Request) -> bool:
        fault = self.faults.take("headers", req.targets, req.raw.method, req.listener)
        if fault is not None:
            req.log.fault = fault.kind
        return fault is not None

    def _body_fault(self, req: _Request, start: int, stop: int, *, ranged: bool) -> Fault | None:
        """A body fault that can land in [start, stop); one that cannot stays armed."""
        if req.raw.method != "GET":
            return None
        fault = self.faults.take(
            "body",
            req.targets,
            req.raw.method,
            req.listener,
            lands=lambda f: f.lands_in(start, stop, ranged=ranged),
        )
        if fault is not None:
            req.log.fault = fault.kind
        return fault

    def _listing_fault(self, req: _Request) -> bool:
        fault = self.faults.take("listing", req.targets, req.raw.method, req.listener)
        if fault is not None:
            req.log.fault = fault.kind
        return fault is not None

    def _sign(self, repo_id: str, commit: str, path: str, expires: str) -> str:
        message = f"{repo_id.lower()}\n{commit}\n{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    # -- fixture control -------------------------------------------------------------------------

    async def _control(self, request: web.Request, segments: list[str]) -> web.Response:
        """``/_fixture/log``, ``/_fixture/faults``, ``/_fixture/bytes``: test hooks over HTTP."""
        what, method = "/".join(segments), request.method
        if what == "log" and method == "GET":
            return web.json_response([e.to_json() for e in self.log.entries()])
        if what == "log" and method == "DELETE":
            self.log.clear()
            return web.json_response({"cleared": True})
        if what == "bytes" and method == "GET":
            return web.json_response(self.log.counters())
        if what == "faults" and method == "GET":
            return web.json_response([f.to_json() for f in self.faults.list()])
        if what == "faults" and method == "POST":
            return await self._post_faults(request)
        if what == "faults" and method == "DELETE":
            self.faults.clear()
            return web.json_response({"cleared": True})
        return web.json_response({"error": "unknown fixture route"}, status=404)

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            items = data if isinstance(data, list) else [data]
            faults = [Fault.from_json(item) for item in items]
        except (ValueError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        self.faults.add(*faults)
        return web.json_response([f.to_json() for f in faults])


async def _paths_form(request: web.Request) -> tuple[list[str], bool]:
    """``paths`` and ``expand`` from a form (what huggingface_hub sends) or a JSON body."""
    if request.content_type == "application/json":
        data = await request.json()
        paths = data.get("paths", [])
        return ([paths] if isinstance(paths, str) else list(paths)), bool(data.get("expand"))
    form = await request.post()
    paths = [str(p) for p in form.getall("paths", [])]
    return paths, str(form.get("expand", "")).lower() in ("true", "1")


def _peer_port(request: web.Request) -> int:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return int(peer[1]) if isinstance(peer, tuple) and len(peer) > 1 else 0


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(int(base64.urlsafe_b64decode(cursor.encode())), 0)
    except ValueError:
        raise HubError(400, None, "Invalid cursor") from None


def _flip(chunk: bytes, position: int, offset: int, length: int) -> bytes:
    """Invert the bytes of ``chunk`` (starting at file ``position``) in [offset, offset+length)."""
    lo, hi = max(offset, position), min(offset + length, position + len(chunk))
    if lo >= hi:
        return chunk
    data = bytearray(chunk)
    for i in range(lo - position, hi - position):
        data[i] ^= 0xFF
    return bytes(data)


async def _flushed(transport: asyncio.BaseTransport, timeout: float = 2.0) -> None:
    """Wait until what was written is acknowledged, so a reset lands after exactly N bytes."""
    deadline = time.monotonic() + timeout
    sock = transport.get_extra_info("socket")
    while time.monotonic() < deadline:
        buffered = (
            transport.get_write_buffer_size()
            if isinstance(transport, asyncio.WriteTransport)
            else 0
        )
        if buffered == 0 and (sock is None or _unsent(sock.fileno()) == 0):
            return
        await asyncio.sleep(0.005)


def _unsent(fd: int) -> int:
    """Bytes the kernel has not yet had acknowledged (TIOCOUTQ = SIOCOUTQ on Linux)."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0])
    except OSError:
        return 0


class HubServer:
    """The fixture server on its own event loop thread; ``start()`` returns the Hub base URL."""

    def __init__(self, hub: FixtureHub, **options: Any) -> None:
        if "tokens" in options:
            options["tokens"] = frozenset(options["tokens"])
        self.hub = hub
        self.options = ServerOptions(**options)
        self.faults = FaultSet()
        self.request_log = RequestLog()
        self.app = HubApp(hub, self.options, self.faults, self.request_log)
        self.url = ""
        self.cdn_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []

    def start(self) -> str:
        """Bind both listeners (port 0 by default) and serve in a daemon thread."""
        ready = threading.Event()
        errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready, errors), daemon=True, name="hub-fixture"
        )
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self.url

    def stop(self) -> None:
        """Close listeners and the loop; safe to call twice."""
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop, self._thread = None, None

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> list[LoggedRequest]:
        """Requests so far, oldest first."""
        return self.request_log.entries()

    def clear_log(self) -> None:
        """Forget requests and byte counters."""
        self.request_log.clear()

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (a client may finish reading a body before
        the server has logged it); False if some still were after ``timeout`` seconds."""
        return self.request_log.wait_idle(timeout)

    def bytes_served(self, path: str) -> int:
        """File body bytes sent for ``path`` (``file`` or ``org/name/file``), Hub and CDN."""
        return self.request_log.bytes_served(path)

    def inject(self, path: str, kind: FaultKind, *, times: int | None = 1, **params: Any) -> Fault:
        """Arm a fault (see ``tests.hub.faults``); returns it so ``.fired`` can be checked."""
        return self.faults.inject(path, kind, times=times, **params)

    def _run(self, ready: threading.Event, errors: list[BaseException]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:
            errors.append(error)
            ready.set()
            return
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _serve(self) -> None:
        opts = self.options
        scheme = "https" if opts.tls else "http"
        cdn_tls = opts.cdn_tls or opts.tls
        cdn_port = await self._listen(self.app.handle_cdn, opts.cdn_host, opts.cdn_port, cdn_tls)
        self.cdn_url = self.app.cdn_url = (
            opts.external_cdn.rstrip("/") or f"{scheme}://{opts.cdn_host}:{cdn_port}"
        )
        port = await self._listen(self.app.handle_hub, opts.host, opts.port, opts.tls)
        self.url = f"{scheme}://{opts.host}:{port}"

    async def _listen(
        self,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
    ) -> int:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls)
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[-1][1])

    async def _cleanup(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
