"""Classified retries (transient / rate limited / never) and concurrency that adapts to 429s."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time

from evalkit.errors import ProviderError


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time() if now is None else now))


_RESET_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_RESET_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate_limit_reset(value: str | None) -> float | None:
    """Seconds from OpenAI's ``x-ratelimit-reset-requests`` (``"20ms"``, ``"1.5s"``, ``"6m0s"``)."""
    if not value:
        return None
    text = value.strip()
    parts = _RESET_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _RESET_UNIT[u] for n, u in parts)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds before the next attempt, or None when this error must not be retried."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None:  # the server said when (429, or 503 with Retry-After)
            return min(error.retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return backoff * (0.5 + random.random() / 2)  # "equal jitter"


class AdaptiveLimiter:
    """A concurrency limit that halves on 429 and creeps back up (AIMD), never above ``maximum``."""

    def __init__(self, maximum: int, minimum: int = 1, recover_after: int = 8) -> None:
        self.maximum = maximum
        self.minimum = minimum
        self.limit = maximum
        self.in_flight = 0
        self._successes = 0
        self._recover_after = recover_after
        self._cond = asyncio.Condition()
        self.decreases = 0
        self.increases = 0

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self, rate_limited: bool = False) -> None:
        async with self._cond:
            self.in_flight -= 1
            if rate_limited:
                new = max(self.minimum, self.limit // 2)
                if new < self.limit:
                    self.decreases += 1
                self.limit = new
                self._successes = 0
            else:
                self._successes += 1
                if self.limit < self.maximum and self._successes >= self._recover_after:
                    self.limit += 1
                    self.increases += 1
                    self._successes = 0
            self._cond.notify_all()
