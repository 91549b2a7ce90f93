"""What the engine is asked to fetch and how: the job and options types, imported by all.

A leaf module (it imports nothing else from the engine), so the file, worker and run modules
can name these types without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ._retry import RetryPolicy
from ._scaling import ScalingPolicy

if TYPE_CHECKING:
    from .._ratelimit import RateLimiter


@dataclass(frozen=True)
class TransferJob:
    url: str
    path: str
    size: int
    sha256: str | None
    git_sha1: str | None
    partial: Path
    unverified: bool = False  # no published hash: the user opted in; sha256 is still computed


@dataclass(frozen=True)
class TransferOptions:
    """Knobs of the engine; the defaults suit both loopback and the real Hub.

    Passed whole to the run and its workers; values derived from several knobs are the
    properties below, computed here once rather than copied into per-layer configs.
    """

    max_connections: int = 32  # the cap; how many run is measured (see _scaling.py)
    # Where the scaler starts. Each step of its ramp costs about 0.35 s at half the rate, so on
    # a CDN-shaped link (12.5 MB/s per connection, 200 MB/s link) starting at 16 rather than 8
    # made a whole 512 MiB pull 0.2 s (6%) faster; on loopback the ramp climbed from 8 to 16 or
    # 32 anyway. No more are opened than there are 4 MiB parts (benchmarks/README.md, WAN).
    start_connections: int = 16
    # Where it starts when every file comes from this host (loopback): there a connection costs
    # CPU (ours and the server's) that hashing needs, not network; 2 measured best for 1 GiB
    # (8: 10% slower, and the ramp then climbed to 16-32). It still climbs if more pay.
    local_connections: int = 2
    timeout: float = 30.0  # connect timeout, and the default stall timeout
    max_redirects: int = 5
    stall_timeout: float | None = None  # no byte for this long: drop the connection, re-ask
    # Below ``min_rate`` bytes/s over a whole ``rate_window``: drop the connection, re-ask.
    # A healthy connection moves megabytes a second; one that manages under 30 KiB in 30 s
    # is a trickling or tarpitted server. 30 s rides out TCP's retransmission back-off after
    # a loss, and 1 KiB/s still leaves 32 connections on a 0.3 Mbit/s link above the floor.
    min_rate: float = 1024.0
    rate_window: float = 30.0
    retries: int = 6  # tries without progress, per part
    backoff_base: float = 0.25
    backoff_cap: float = 10.0
    retry_after_cap: float = 60.0
    buffer_size: int = 1 << 20  # per connection
    checkpoint: int = 2 << 20  # journal progress inside a part this often
    journal_interval: float = 0.5  # fdatasync journals this often
    preallocate: bool = True
    # O_DIRECT for aligned writes and hash read-back: no page-cache copy or writeback to pay
    # for, a short final fdatasync (benchmarks/README.md: -0.15 CPU-s per GiB on loopback).
    direct_io: bool = True
    hash_window: int = 64 << 20  # received buffers kept for the hasher (memory bound)
    max_part: int = 64 << 20  # largest Range request
    # A bandwidth cap shared by every worker (and every pull holding the same limiter): each
    # worker hands it the bytes of every read and waits as it says.
    limiter: RateLimiter | None = None

    @cached_property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
            retry_after_cap=self.retry_after_cap,
        )

    @property
    def stall(self) -> float:
        """Seconds without a byte before a connection is dropped and the part re-asked."""
        return self.stall_timeout or self.timeout

    @property
    def connections(self) -> int:
        """Under a low cap, fewer connections: each keeps 8 times the minimum rate."""
        wanted = max(1, self.max_connections)
        if self.limiter is None or self.min_rate <= 0:
            return wanted
        return max(1, min(wanted, int(self.limiter.rate // (8 * self.min_rate))))

    def scaling(self, local: bool = False) -> ScalingPolicy:
        """The scaler's policy; ``local``: every file comes from a server on this host."""
        start = self.local_connections if local else self.start_connections
        return ScalingPolicy(start=min(start, self.connections), cap=self.connections)
