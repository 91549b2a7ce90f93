"""Inspect a model before downloading it: read only its headers, with HTTP Range requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ._download import PullPlan
from ._errors import MetadataError, NetworkError
from ._hub import HubSettings
from ._metadata import BufferedSource, ModelMetadata, read_model_metadata

REMOTE_BLOCK = 512 << 10


class HttpRangeSource:
    """A ByteSource whose reads are Range GETs; the token stays with the endpoint's host.

    httpx drops Authorization when a redirect leaves the origin, and we only add it for the
    endpoint's own host, so a CDN never sees it.
    """

    def __init__(self, client: httpx.Client, settings: HubSettings, url: str, size: int) -> None:
        self.client = client
        self.settings = settings
        self.url = url
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        headers.update(self.settings.auth_headers(self.url))
        try:
            with self.client.stream("GET", self.url, headers=headers) as response:
                if response.status_code not in (200, 206):
                    raise NetworkError(f"HTTP {response.status_code} reading a header")
                skip = offset if response.status_code == 200 else 0
                return _take(response.iter_raw(), skip, length)
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot read a header: {type(exc).__name__}") from exc


def _take(chunks: Any, skip: int, length: int) -> bytes:
    """The wanted slice of a body, closing early: a server that ignores Range sends it all."""
    out = bytearray()
    for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        out += chunk[skip:]
        skip = 0
        if len(out) >= length:
            break
    return bytes(out[:length])


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


def inspect_remote(plan: PullPlan, settings: HubSettings) -> RemoteInspection:
    snap = plan.snapshot
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        sources = [
            (
                f.path,
                BufferedSource(
                    HttpRangeSource(
                        client, settings, settings.file_url(snap.repo, snap.commit, f.path), f.size
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
    return RemoteInspection(
        plan,
        metadata,
        error,
        bytes_read=sum(s.bytes_read for _, s in sources),
        requests=sum(s.reads for _, s in sources),
    )
