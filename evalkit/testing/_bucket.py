"""A token bucket: how the fake server enforces "N requests per second" as hosted APIs do."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate`` requests per second on average and ``burst`` at once (default: one second's worth).

    Each request takes a token; tokens come back at ``rate`` per second, up to ``burst``. Not thread-safe:
    the server calls it with its lock held.
    """

    def __init__(self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"rate limit must be > 0 requests per second, got {rate!r}")
        if burst is None:
            burst = max(1, round(rate))
        if burst < 1:
            raise ValueError(f"rate limit burst must be >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float | None:
        """Take a token: ``None`` when the request is allowed, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self.rate

    def refill(self) -> None:
        """Back to a full bucket."""
        self._tokens = float(self.burst)
        self._at = self._clock()
