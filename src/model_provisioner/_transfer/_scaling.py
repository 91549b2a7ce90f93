"""How many connections to keep open: measured, not fixed (a CDN caps each connection).

Hill climbing on total throughput. Start with a few connections; after each step up, let the
new ones ramp for ``settle`` seconds, then measure for ``measure`` seconds. If throughput grew
by at least ``gain`` of the step's share, step up again (doubling, up to ``cap``); if not, go
back to the level its gain paid for (the last level that paid, or a little above if the step
bought some throughput) and hold there, probing one step up again every ``reprobe`` seconds
(the link may have freed up). A server pushing back (429, 503, reset) halves the level
and holds it for ``cooldown`` seconds.

Pure: no threads, no I/O; the run feeds it byte counts and the time (an injected clock in the
tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingPolicy:
    start: int = 8
    cap: int = 32
    settle: float = 0.1  # seconds for new connections to ramp up before measuring
    measure: float = 0.2  # seconds over which a level's throughput is measured
    gain: float = 0.25  # a step that adds k% connections must add gain * k% throughput
    reprobe: float = 5.0  # seconds at a plateau before trying one step up again
    cooldown: float = 10.0  # seconds without stepping up after the server pushed back


class Scaler:
    """``level`` is the number of connections wanted now."""

    def __init__(self, policy: ScalingPolicy, now: float) -> None:
        self.policy = policy
        self.level = max(1, min(policy.start, policy.cap))
        self._paid = 0  # the last level whose throughput was measured and kept
        self._paid_rate = 0.0
        self._per_connection = 0.0  # bytes/s of one connection at the last level measured
        self._since = now  # when the current level was set
        self._mark: tuple[float, int] | None = None  # (time, bytes) where measuring began
        self._hold_until = now  # no stepping up before this
        self._plateau = False

    def sample(self, now: float, received: int) -> int:
        """Total bytes received so far at ``now``; returns the level wanted."""
        policy = self.policy
        if received == 0:  # nothing has arrived yet (connecting, redirects): not a rate
            self._since = now
            return self.level
        if now < self._since + policy.settle:
            return self.level
        if self._mark is None:
            self._mark = (now, received)
            return self.level
        start, base = self._mark
        if now - start < policy.measure:
            return self.level
        rate = (received - base) / (now - start)
        self._judge(now, rate)
        return self.level

    def _judge(self, now: float, rate: float) -> None:
        policy = self.policy
        paid, level = self._paid, self.level
        self._per_connection = rate / level
        if paid and level > paid:
            needed = self._paid_rate * (1 + policy.gain * (level - paid) / paid)
            if rate < needed:  # the step did not pay: back to what it did pay for, and hold
                self._set(self._paid_for(paid, rate), now)
                self._paid = 0  # the level held is measured afresh, not judged
                self._plateau = True
                self._hold_until = now + policy.reprobe
                return
        self._paid, self._paid_rate = level, rate
        if now < self._hold_until or level >= policy.cap:
            self._set(level, now)
            return
        step = max(1, level // 4) if self._plateau else level  # gentle after a plateau
        self._set(min(policy.cap, level + step), now)

    def _paid_for(self, paid: int, rate: float) -> int:
        """How many connections carry ``rate`` at the rate each had at ``paid``: a step that
        bought some throughput, just not its share, found the link's knee between the two
        levels and keeps what it bought. (At ``paid`` the link was not full: each connection
        idles one round trip per part; 16 -> 32 on a 400 MB/s link of 25 MB/s connections
        measured 350 -> 400 MB/s, so 18 are kept.) No gain: back to ``paid``."""
        if rate <= self._paid_rate:
            return paid
        return max(paid, min(self.level - 1, round(paid * rate / self._paid_rate)))

    @property
    def per_connection_rate(self) -> float:
        """Bytes/s one connection moved at the last level measured (0 before any)."""
        return self._per_connection

    def pushback(self, now: float) -> int:
        """The server said slow down (429, 503, a reset): halve, and hold for a while."""
        self._set(max(1, self.level // 2), now)
        self._paid, self._paid_rate, self._per_connection = 0, 0.0, 0.0
        self._plateau = True
        self._hold_until = now + self.policy.cooldown
        return self.level

    def _set(self, level: int, now: float) -> None:
        self.level = level
        self._since = now
        self._mark = None
