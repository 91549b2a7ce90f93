"""Fetch files over HTTP into partial files, hashing as the bytes arrive.

A job is done when its partial file holds exactly the expected bytes: right size and right
sha256 (LFS) or git blob sha1 (small files). Only then may the store name it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from .._errors import Cancelled, IntegrityError, NetworkError
from .._fsutil import raise_if_no_space
from .._hub import HubSettings
from .._progress import TransferStats

CHUNK = 1 << 20


@dataclass(frozen=True)
class TransferJob:
    url: str
    path: str
    size: int
    sha256: str | None
    git_sha1: str | None
    partial: Path


@dataclass(frozen=True)
class TransferOptions:
    max_connections: int = 8
    timeout: float = 30.0
    max_redirects: int = 5


class TransferEngine:
    def __init__(self, settings: HubSettings, options: TransferOptions | None = None) -> None:
        self.settings = settings
        self.options = options or TransferOptions()

    def run(
        self, jobs: Sequence[TransferJob], stats: TransferStats, cancel: threading.Event
    ) -> dict[str, str]:
        """Fetch every job; returns repo path -> sha256 of the verified partial file."""
        for job in jobs:
            stats.add_file(job.path, job.size)
        workers = max(1, min(self.options.max_connections, len(jobs)))
        with (
            httpx.Client(timeout=self.options.timeout) as client,
            ThreadPoolExecutor(workers) as pool,
        ):
            futures = [pool.submit(self._fetch, client, job, stats, cancel) for job in jobs]
            return dict(f.result() for f in futures)

    def _fetch(
        self, client: httpx.Client, job: TransferJob, stats: TransferStats, cancel: threading.Event
    ) -> tuple[str, str]:
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % job.size) if job.git_sha1 else None
        job.partial.parent.mkdir(parents=True, exist_ok=True)
        received = 0
        url = job.url
        try:
            with open(job.partial, "wb") as out:
                for _ in range(self.options.max_redirects + 1):
                    headers = self.settings.auth_headers(url)
                    with client.stream("GET", url, headers=headers) as response:
                        if response.is_redirect:
                            url = urljoin(url, response.headers["location"])
                            continue
                        if response.status_code != 200:
                            raise NetworkError(f"{job.path}: HTTP {response.status_code}")
                        for chunk in response.iter_raw(CHUNK):
                            if cancel.is_set():
                                raise Cancelled(f"download of {job.path} cancelled")
                            out.write(chunk)
                            sha256.update(chunk)
                            if sha1 is not None:
                                sha1.update(chunk)
                            received += len(chunk)
                            stats.received(job.path, len(chunk))
                            stats.verified(job.path, len(chunk))
                        break
                out.flush()
                os.fsync(out.fileno())
        except httpx.HTTPError as exc:
            raise NetworkError(f"{job.path}: {type(exc).__name__}") from exc
        except OSError as exc:
            raise_if_no_space(exc, job.partial)
            raise
        digest = sha256.hexdigest()
        if received != job.size:
            raise IntegrityError(f"{job.path}: got {received} bytes, expected {job.size}")
        if job.sha256 and digest != job.sha256:
            raise IntegrityError(f"{job.path}: sha256 mismatch (got {digest[:12]}...)")
        if sha1 is not None and sha1.hexdigest() != job.git_sha1:
            raise IntegrityError(f"{job.path}: git sha1 mismatch")
        stats.finish(job.path)
        return job.path, digest
