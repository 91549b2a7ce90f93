"""A WAN in front of the fixture server: per-connection and whole-server rate caps.

A CDN caps each connection far below the host's link, and all connections share the link. Each
cap is a ``Pacer``: a schedule in virtual time of when the next bytes may leave. A body goes out
in pieces; each piece waits for its connection's pacer, then for the link's, so the link's
schedule never holds a slot for a connection that is still waiting on its own cap.
"""

from __future__ import annotations

import asyncio
import time

PIECE = 256 << 10  # bytes sent at once under a cap: 10 ms at 25 MB/s


class Pacer:
    """``rate`` bytes a second, no burst credit: idle time is not saved up."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._at = 0.0

    def reserve(self, n: int, now: float) -> float:
        """Book ``n`` bytes; returns how long to wait before sending them."""
        begin = max(self._at, now)
        self._at = begin + n / self.rate
        return begin - now


async def pace(n: int, *pacers: Pacer | None) -> None:
    """Wait until ``n`` bytes may be sent under each pacer in turn (None: uncapped)."""
    for pacer in pacers:
        if pacer is not None:
            delay = pacer.reserve(n, time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
