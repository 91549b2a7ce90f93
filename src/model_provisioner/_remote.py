"""Inspect a model before downloading it: read only its headers, with HTTP Range requests."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from typing import Any

from ._download import PullPlan
from ._errors import MetadataError, NetworkError
from ._hub import HubSettings
from ._metadata import BufferedSource, ModelMetadata, read_model_metadata
from ._transfer import TransferOptions
from ._transfer._retry import Attempts
from ._transfer._wire import (
    Connections,
    Transient,
    check_status,
    open_url,
    parse_content_range,
    redact,
    wire_errors,
)

REMOTE_BLOCK = 512 << 10
_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "model-provisioner"}


class HttpRangeSource:
    """A ByteSource whose reads are Range GETs over the transfer engine's connections, so
    proxies, TLS trust, retries, the per-host token and error translation are the engine's.

    The first read follows the Hub's redirect; later reads go straight to where it led (a CDN
    URL), back to the Hub if that stops working, as the engine's workers do.
    """

    def __init__(
        self,
        conns: Connections,
        settings: HubSettings,
        options: TransferOptions,
        path: str,
        url: str,
        size: int,
    ) -> None:
        self.conns = conns
        self.settings = settings
        self.options = options
        self.path = path
        self.url = url
        self.size = size
        self.final: str | None = None  # where the last redirect led

    def read(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length), retried like a part of a download."""
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        policy = self.options.policy
        attempts = Attempts(policy)
        while True:
            try:
                with wire_errors(self.final or self.url):
                    return self._read_once(offset, length)
            except Transient as exc:
                if not attempts.failed(0):
                    raise NetworkError(
                        f"{self.path}: {exc.reason} (gave up after {attempts.total} tries)"
                    ) from exc
                time.sleep(policy.delay(attempts.failures, exc.retry_after))

    def _read_once(self, offset: int, length: int) -> bytes:
        url = self.final or self.url
        headers = {**_HEADERS, "Range": f"bytes={offset}-{offset + length - 1}"}
        try:
            response, final = open_url(
                self.conns, url, headers, self.settings.auth_headers, self.options.max_redirects
            )
            if url != self.url and response.status in (401, 403, 404, 410):
                self.final = None  # a remembered CDN URL expired: ask the Hub again
                raise Transient(f"HTTP {response.status} from {redact(final)}")
            check_status(response, final, self.path)
            self.final = final if final != self.url else None
            data = _body(response, final, offset, length)
        except BaseException:
            self.conns.close()  # mid-answer, a connection's state is unknown
            raise
        if response.status == 200:
            self.conns.drop(final)  # the rest of a whole-file answer is not wanted
        return data


def _body(response: http.client.HTTPResponse, url: str, offset: int, length: int) -> bytes:
    """The wanted slice: a 206 must be exactly it; a 200 (Range ignored) is cut short."""
    skip = 0
    if response.status == 206:
        got = parse_content_range(response.getheader("Content-Range"))
        if got is None or got[:2] != (offset, offset + length):
            raise Transient(f"wrong Content-Range from {redact(url)}")
    else:
        skip = offset
    while skip > 0:
        chunk = response.read(min(skip, 1 << 20))
        if not chunk:
            break
        skip -= len(chunk)
    data = response.read(length) if skip == 0 else b""
    if len(data) < length:
        raise Transient(f"short body from {redact(url)}")
    return data


@dataclass(frozen=True)
class RemoteInspection:
    plan: PullPlan
    metadata: ModelMetadata | None
    error: str | None
    bytes_read: int
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "metadata": self.metadata.to_dict() if self.metadata else None,
            "metadata_error": self.error,
            "bytes_read": self.bytes_read,
            "requests": self.requests,
        }


def inspect_remote(
    plan: PullPlan, settings: HubSettings, options: TransferOptions | None = None
) -> RemoteInspection:
    options = options or TransferOptions()
    snap = plan.snapshot
    conns = Connections(options.stall)
    try:
        sources = [
            (
                f.path,
                BufferedSource(
                    HttpRangeSource(
                        conns,
                        settings,
                        options,
                        f.path,
                        settings.file_url(snap.repo, snap.commit, f.path),
                        f.size,
                    ),
                    REMOTE_BLOCK,
                ),
            )
            for f in plan.files
        ]
        try:
            metadata, error = read_model_metadata(sources), None
        except MetadataError as exc:
            metadata, error = None, exc.message
    finally:
        conns.close()
    return RemoteInspection(
        plan,
        metadata,
        error,
        bytes_read=sum(s.bytes_read for _, s in sources),
        requests=sum(s.reads for _, s in sources),
    )
