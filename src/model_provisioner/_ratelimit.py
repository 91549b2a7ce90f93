"""A bandwidth cap shared by every connection of every pull of one provisioner.

A token bucket that may go into debt: a reader takes what it just received, and when that
leaves the bucket negative it waits until the debt is paid at ``rate``. Over any interval of
``t`` seconds at most ``burst + rate * t`` bytes pass, whatever the number of threads, so the
long-run rate is exact; waits are short (one buffer at a time) and a cancelled pull stops
waiting at once. Pure: the clock and the wait are injected, so tests run on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Bytes a reader may take at once after an idle spell: a tenth of a second at the cap, so the
# average over 10 s stays within 1 % (the accuracy the cap promises is 10 %).
BURST_SECONDS = 0.1
MIN_BURST = 64 << 10
# Below this a single connection would fall under the engine's minimum rate per connection.
MIN_RATE = 10_000


class RateLimiter:
    """``take(n)`` after each read of ``n`` bytes; it returns once they are within the cap."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(MIN_BURST, rate * BURST_SECONDS))
        self.clock = clock
        self.wait = wait
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()

    def debit(self, n: int) -> float:
        """Take ``n`` bytes from the bucket; returns how long the caller must wait (seconds)."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            return max(0.0, -self._tokens / self.rate)

    def take(self, n: int, stop: threading.Event | None = None) -> None:
        """Debit ``n`` bytes and wait out the debt (or until ``stop`` is set)."""
        delay = self.debit(n)
        if delay <= 0:
            return
        if stop is not None:
            stop.wait(delay)
        else:
            self.wait(delay)
