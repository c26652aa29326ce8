"""Say what a run is waiting for: one line per stall, not one per retry.

A stall starts when no completion has come for a while. :class:`WaitWatch` looks at the limiter (what is
in flight, since when, at which attempt; what the latest 429 asked for) and, once per stall, describes
the wait with the cap that bounds it::

    waiting: 12 requests without an answer for 30 s (timeout 60 s, attempt 2/6; an item gives up after at most 376 s)
    rate limited: the server asks 3600 s, waiting 120 s (the cap on Retry-After, --max-retry-wait)

The next completion ends the stall. The clock is injected: :meth:`WaitWatch.check` is a pure step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import monotonic

from evalkit.providers._retry import AdaptiveLimiter, RetryPolicy

LONGEST_QUIET = 30.0  # seconds without a completion that make a stall worth a line, at most


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or float(value).is_integer() else f"{value:.1f}"


class WaitWatch:
    """Describes stalls of the requests that go through ``limiter``; ``say`` gets one line per stall.

    ``quiet`` is how long without a completion makes a stall (default: half the timeout, at most 30 s).
    """

    def __init__(self, limiter: AdaptiveLimiter, policy: RetryPolicy, timeout: float,
                 say: Callable[[str], None] | None, *, quiet: float | None = None,
                 clock: Callable[[], float] = monotonic) -> None:
        self.limiter = limiter
        self.policy = policy
        self.timeout = timeout
        self.say = say
        self.quiet = quiet if quiet is not None else min(LONGEST_QUIET, timeout / 2)
        self.clock = clock
        self.lines: list[str] = []
        self._successes = limiter.successes
        self._rate_limited = limiter.rate_limited
        self._since = clock()  # the latest completion (or the start)
        self._told = False  # this stall was described already
        self._told_rate_limit_until = float("-inf")  # the waits told about last are over by then

    def check(self) -> str | None:
        """One step: the line describing a stall that started since the last completion, once; else None."""
        now = self.clock()
        lim = self.limiter
        if lim.successes != self._successes:  # progress: a new stall may be told again
            self._successes = lim.successes
            self._since, self._told = now, False
            return None
        line = None
        if now >= self._told_rate_limit_until:
            line = self._rate_limit_line()
            if line is not None:  # told once for all the requests that wait as long
                self._told_rate_limit_until = now + min(lim.last_retry_after or 0.0, self.policy.max_retry_after)
        self._rate_limited = lim.rate_limited
        if line is None and not self._told:
            line = self._quiet_line(now)
        if line is not None:
            self._told = True
            self.lines.append(line)
            if self.say is not None:
                self.say(line)
        return line

    def _rate_limit_line(self) -> str | None:
        """A 429 since the last check asked for a long wait (or one longer than the cap)."""
        lim = self.limiter
        asked = lim.last_retry_after
        if lim.rate_limited == self._rate_limited or asked is None:
            return None
        cap = self.policy.max_retry_after
        if asked < self.quiet and asked <= cap:
            return None
        if asked > cap:
            waiting = f"waiting {_seconds(cap)} s (the cap on Retry-After, --max-retry-wait)"
        else:
            waiting = f"waiting that long (cap {_seconds(cap)} s)"
        return f"rate limited: the server asks {_seconds(asked)} s, {waiting}"

    def _quiet_line(self, now: float) -> str | None:
        """Requests in flight for ``quiet`` seconds and more, none answered since."""
        if now - self._since < self.quiet:
            return None
        old = [s for s in self.limiter.outstanding() if now - s.at >= self.quiet]
        if not old:
            return None
        n, attempt = len(old), max(s.attempt for s in old)
        return (f"waiting: {n} request{'s' if n != 1 else ''} without an answer for {_seconds(now - old[0].at)} s "
                f"(timeout {_seconds(self.timeout)} s, attempt {attempt}/{self.policy.max_attempts}; an item gives "
                f"up after at most {_seconds(self.policy.longest(self.timeout))} s)")

    async def watch(self) -> None:
        """Check every so often until cancelled (a no-op without ``say``)."""
        if self.say is None:
            return
        while True:
            await asyncio.sleep(min(1.0, self.quiet / 4))
            self.check()
