"""Classified retries (transient / rate limited / never) and concurrency that adapts to 429s."""

from __future__ import annotations

import asyncio
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import monotonic, time
from typing import TYPE_CHECKING, Any

from evalkit.errors import ProviderError

if TYPE_CHECKING:
    from evalkit.providers._base import Completion, Provider, Request


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

    def longest(self, timeout: float) -> float:
        """The longest an item can take when every attempt times out: attempts × timeout + the backoffs."""
        waits = sum(min(self.max_delay, self.base_delay * 2 ** (n - 1)) for n in range(1, self.max_attempts))
        return self.max_attempts * timeout + waits

    def delay(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds before the next attempt, or None when this error must not be retried."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None:  # the server said when (429, or 503 with Retry-After)
            return min(error.retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return backoff * (0.5 + random.random() / 2)  # "equal jitter"


MAX_REFUSAL_HOLD = 5.0  # seconds


@dataclass(frozen=True)
class Sent:
    """One request holding a slot of the limiter: its place in the sending order, when, which attempt."""

    seq: int
    at: float
    attempt: int = 1


class AdaptiveLimiter:
    """A concurrency limit that backs off on 429s once per window and recovers per round trip (AIMD).

    * **Back off once per window.** A 429 lowers the limit to the number of requests the server kept in
      flight over the last ``horizon`` (1 s): the time requests held their slots over that time, Little's
      law; one slot less at least. Not when the request was sent before the previous decrease (it
      reports on a rate already given up: a burst of 429s from one overload is one signal, not fifty),
      nor while the ``Retry-After`` window of the previous decrease runs (the server said when to look
      again). In the first half ``horizon`` of a run there is nothing to measure: a 429 halves the limit.
    * **Hold, then recover per round trip.** The new limit holds until the window ends; then every
      ``limit`` answers that are not 429s (a round trip with every slot busy) raise it by one, up to
      ``maximum``: additive increase in time, whatever the request rate, as TCP's congestion avoidance.
    * **A refused request keeps its slot for a round trip** (:meth:`refusal_hold`), so one slot above
      the server's rate cannot turn into a stream of instant 429s.

    Against a server that allows R requests per second this settles near R × round trip requests in
    flight and probes one above it once per window. The clock is injected so the policy is testable
    without waiting: :meth:`sent` and :meth:`answered` are the synchronous bookkeeping, :meth:`acquire`
    and :meth:`release` the async interface of the runner (they find the request by its task).
    """

    def __init__(self, maximum: int, minimum: int = 1, *, backoff: float = 0.5, horizon: float = 1.0,
                 clock: Callable[[], float] = monotonic) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum} and {maximum}")
        if not 0 < backoff < 1:
            raise ValueError(f"backoff must be between 0 and 1, got {backoff}")
        self.maximum = maximum
        self.minimum = minimum
        self.limit = maximum
        self.backoff = backoff  # the decrease at the start of a run, with nothing measured yet
        self.horizon = horizon  # seconds of answers that measure what the server sustains
        self.clock = clock
        self.in_flight = 0
        self.decreases = 0  # 429s that lowered the limit
        self.increases = 0
        self.held = 0  # 429s that did not lower it (sent before the last decrease, or inside its window)
        self.rate_limited = 0  # 429s in all
        self.successes = 0  # answers that were completions
        self.last_retry_after: float | None = None  # what the latest 429 asked for
        self.backoffs: deque[tuple[float, int]] = deque(maxlen=1000)  # (when, new limit) of each back-off
        self._seq = 0  # requests sent so far
        self._decreased_at_seq = 0  # requests sent when the limit was last lowered
        self._window_end = float("-inf")  # when the Retry-After window of the last decrease ends
        self._since_increase = 0
        self._rtt: float | None = None  # moving average of the completions' round trips
        self._recent: deque[tuple[float, float]] = deque()  # the latest answers: when, how long in flight
        self._started: float | None = None
        self._outstanding: dict[int, Sent] = {}
        self._by_task: dict[asyncio.Task[Any] | None, Sent] = {}
        self._cond = asyncio.Condition()

    # --- the policy (synchronous, clock injected) -----------------------------------------------
    def sent(self, attempt: int = 1) -> Sent:
        """A request takes a slot now."""
        self._seq += 1
        self.in_flight += 1
        ticket = Sent(self._seq, self.clock(), attempt)
        if self._started is None:
            self._started = ticket.at
        self._outstanding[ticket.seq] = ticket
        return ticket

    def answered(self, ticket: Sent | None, rate_limited: bool = False, retry_after: float | None = None,
                 failed: bool = False) -> None:
        """The request of ``ticket`` got its completion, a 429 (``rate_limited``, with this ``Retry-After``)
        or another error (``failed``): its slot is free."""
        self.in_flight -= 1
        if ticket is not None:
            self._outstanding.pop(ticket.seq, None)
        now = self.clock()
        self._measure(ticket, now)
        if rate_limited:
            self.rate_limited += 1
            self.last_retry_after = retry_after
            self._back_off(ticket, retry_after, now)
            return
        if not failed:
            self.successes += 1
            if ticket is not None:
                rtt = now - ticket.at
                self._rtt = rtt if self._rtt is None else self._rtt + 0.1 * (rtt - self._rtt)
        if now < self._window_end:
            return  # hold: the server asked for this much time before it is probed again
        self._since_increase += 1
        if self._since_increase >= self.limit:
            self._since_increase = 0
            if self.limit < self.maximum:
                self.limit += 1
                self.increases += 1

    def _measure(self, ticket: Sent | None, now: float) -> None:
        """Note an answer: when it came and how long it held its slot."""
        if ticket is None:
            return
        self._recent.append((now, now - ticket.at))
        self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop the answers older than ``horizon``."""
        while self._recent and self._recent[0][0] < now - self.horizon:
            self._recent.popleft()

    def _back_off(self, ticket: Sent | None, retry_after: float | None, now: float) -> None:
        stale = ticket is not None and ticket.seq <= self._decreased_at_seq
        if stale or now < self._window_end:
            self.held += 1
            return
        sustained = self.sustained(now)
        # Down to what the server kept in flight (one slot less at least: a refusal says the limit was
        # too high, even when a busy client makes the server look busier than it is).
        new = max(self.minimum, int(self.limit * self.backoff) if sustained is None else min(self.limit - 1, sustained))
        if new == self.limit:
            self.held += 1
            return
        self.decreases += 1
        self.limit = new
        self.backoffs.append((now, new))
        self._decreased_at_seq = self._seq
        self._window_end = now + (retry_after or 0.0)  # the new limit holds as long as the server asked
        self._since_increase = 0

    def sustained(self, now: float) -> int | None:
        """Requests the server kept in flight over the last ``horizon`` seconds, on average: the time
        requests held their slots in that span, over the span (refused requests hold theirs for a moment
        only); ``None`` at the start of a run."""
        self._forget(now)
        recent = self._recent
        if self._starting(now) or self._started is None:
            return None
        since = max(self._started, now - self.horizon)
        busy = sum(min(held, when - since) for when, held in recent)
        busy += sum(now - max(s.at, since) for s in self._outstanding.values())
        return max(1, round(busy / (now - since)))

    def refusal_hold(self) -> float:
        """Seconds a refused request keeps its slot: a round trip, as if it had been answered. Otherwise
        a slot above what the server allows would send a request, get a 429 at once, send the next one
        ... as fast as requests can be made: hundreds of 429s a second for one slot too many."""
        return min(self._rtt or 0.0, MAX_REFUSAL_HOLD)

    def _starting(self, now: float) -> bool:
        """The first half ``horizon`` of the run: completions would mostly measure the server's burst
        allowance, not its rate."""
        return self._started is None or now - self._started < self.horizon / 2

    def outstanding(self) -> list[Sent]:
        """The requests in flight, oldest first."""
        return sorted(self._outstanding.values(), key=lambda s: s.seq)

    # --- the runner's interface -----------------------------------------------------------------
    async def acquire(self, attempt: int = 1) -> None:
        """Wait for a free slot and take it for the current task's request."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self._by_task[asyncio.current_task()] = self.sent(attempt)

    async def release(self, error: ProviderError | None = None) -> None:
        """Free the current task's slot: its request got a completion (or was never sent), or ``error``."""
        rate_limited = error is not None and error.kind == "rate_limited"
        if rate_limited:
            await asyncio.sleep(self.refusal_hold())
        async with self._cond:
            ticket = self._by_task.pop(asyncio.current_task(), None)
            self.answered(ticket, rate_limited, error.retry_after if error is not None else None, error is not None)
            self._cond.notify_all()


async def complete_with_retries(provider: Provider, request: Request, policy: RetryPolicy,
                                slots: asyncio.Semaphore) -> tuple[Completion | None, ProviderError | None]:
    """One request retried as ``policy`` says (Retry-After honoured, 400/401 never), a slot of ``slots`` held
    only while it is in flight: the completion, or the last error once ``policy`` gives up. (The runner's own
    requests go through ``runner._send.Sender``, which also adapts its concurrency limit and obeys a stop.)"""
    attempt = 0
    while True:
        attempt += 1
        async with slots:
            try:
                return await provider.complete(request), None
            except ProviderError as exc:
                error = exc
        delay = policy.delay(error, attempt)
        if delay is None:
            return None, error
        await asyncio.sleep(delay)
