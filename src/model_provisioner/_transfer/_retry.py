"""When to try again and how long to wait: exponential backoff with full jitter.

A bounded loop, never recursion: ``Attempts`` counts failures that made no progress, so a
connection that breaks every few megabytes still finishes, while one that never delivers a byte
gives up after ``retries`` tries.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 6
    backoff_base: float = 0.25
    backoff_cap: float = 10.0
    retry_after_cap: float = 60.0
    max_total: int = 64  # failures of any kind before giving up on a part, progress or not

    def delay(
        self, failures: int, retry_after: float | None, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds before try number ``failures + 1``: Retry-After if the server said, capped."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(failures - 1, 0)))
        return float(ceiling * (0.5 + 0.5 * rand()))


@dataclass
class Attempts:
    """Failure bookkeeping for one unit of work."""

    policy: RetryPolicy
    failures: int = 0
    total: int = 0
    last_progress: int = field(default=-1)

    def failed(self, progress: int) -> bool:
        """Record a failure at ``progress`` bytes done; True if another try is allowed."""
        self.total += 1
        if progress > self.last_progress:
            self.failures = 1
            self.last_progress = progress
        else:
            self.failures += 1
        return self.failures <= self.policy.retries and self.total <= self.policy.max_total
