"""Rate limits must not collapse a run (issue #12, item 10).

The limiter's policy with an injected clock (no waiting): one back-off per ``Retry-After`` window, none for
429s of requests sent before the last decrease, recovery of one slot per round trip; a discrete-event
simulation of a token-bucket server proves it reaches >= 80% of the allowed rate. Then the fake server's
token-bucket rate limit, and ``evalkit run`` against it end to end, asserting counts.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import write_suite

from evalkit.items import Selection
from evalkit.providers import AdaptiveLimiter
from evalkit.providers._retry import Sent
from evalkit.runner import Run, RunOptions
from evalkit.suite import load_suite
from evalkit.testing import FakeOpenAIServer
from evalkit.testing._bucket import TokenBucket
from evalkit.testing.server import RATE_LIMIT_FAULT


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _limiter(maximum: int = 64) -> tuple[AdaptiveLimiter, Clock]:
    clock = Clock()
    return AdaptiveLimiter(maximum, clock=clock), clock


# --- the policy, clock injected ---------------------------------------------------------------------


def _warm(lim: AdaptiveLimiter, clock: Clock, per_second: float, rtt: float, seconds: float = 1.0) -> None:
    """Completions at ``per_second`` with round trips of ``rtt`` for ``seconds``: what the limiter measures."""
    for _ in range(round(per_second * seconds)):
        sent_at = clock.now
        t = lim.sent()
        clock.now = sent_at + rtt
        lim.answered(t)
        clock.now = sent_at + 1 / per_second


def test_a_burst_of_429s_from_one_overload_backs_off_once() -> None:
    lim, clock = _limiter(64)
    tickets = [lim.sent() for _ in range(64)]
    clock.now = 0.01
    for t in tickets[10:]:  # the server let 10 through and refused 54 at once
        lim.answered(t, rate_limited=True, retry_after=1.0)
    assert lim.decreases == 1 and lim.held == 53
    assert lim.limit == 32  # no completion to measure the server by yet: halved


def test_the_back_off_goes_to_what_the_server_sustained() -> None:
    # 50 completions per second with 0.2 s round trips: the server kept up with 10 in flight.
    lim, clock = _limiter(64)
    _warm(lim, clock, per_second=50, rtt=0.2, seconds=1.2)
    lim.answered(lim.sent(), rate_limited=True, retry_after=1.0)
    assert lim.limit == 10 and lim.decreases == 1


def test_429s_inside_the_retry_after_window_do_not_back_off_again() -> None:
    lim, clock = _limiter(64)
    _warm(lim, clock, per_second=100, rtt=0.2)  # sustains 20
    start = clock.now
    lim.answered(lim.sent(), rate_limited=True, retry_after=1.0)
    assert (lim.decreases, lim.limit) == (1, 20)
    clock.now = start + 0.5
    fresh = lim.sent()  # sent after the decrease, refused inside the window
    lim.answered(fresh, rate_limited=True, retry_after=1.0)
    assert (lim.decreases, lim.held, lim.limit) == (1, 1, 20)
    _warm(lim, clock, per_second=50, rtt=0.2, seconds=0.6)  # the window is over: a fresh 429 is news
    lim.answered(lim.sent(), rate_limited=True, retry_after=1.0)
    assert lim.decreases == 2 and lim.limit < 20
    assert [round(when - start, 6) for when, _ in lim.backoffs] == [0.0, 1.1]


def test_429s_of_requests_sent_before_the_decrease_are_stale_even_after_the_window() -> None:
    lim, clock = _limiter(64)
    old = [lim.sent() for _ in range(4)]
    lim.answered(old[0], rate_limited=True, retry_after=0.0)  # no window at all (Retry-After: 0)
    clock.now = 5.0
    for t in old[1:]:
        lim.answered(t, rate_limited=True, retry_after=0.0)
    assert (lim.decreases, lim.held) == (1, 3)


def test_a_429_while_the_server_kept_up_with_every_slot_costs_one_slot() -> None:
    # 8 slots, all busy, all answered in 0.1 s: 80 completions per second sustain 8. A 429 now may not be
    # about our rate at all (a shared overload, a random refusal): one slot less, not half.
    lim, clock = _limiter(8)
    _warm(lim, clock, per_second=80, rtt=0.1)
    lim.answered(lim.sent(), rate_limited=True, retry_after=1.0)
    assert lim.limit == 7 and lim.decreases == 1


def test_a_refused_request_keeps_its_slot_for_a_round_trip() -> None:
    lim, clock = _limiter(8)
    assert lim.refusal_hold() == 0.0  # nothing measured yet
    _warm(lim, clock, per_second=80, rtt=0.1)
    assert lim.refusal_hold() == pytest.approx(0.1)


def test_recovery_is_one_slot_per_round_trip_after_the_window() -> None:
    lim, clock = _limiter(64)
    _warm(lim, clock, per_second=160, rtt=0.2)  # sustains 32
    start = clock.now
    lim.answered(lim.sent(), rate_limited=True, retry_after=1.0)
    assert lim.limit == 32
    clock.now = start + 0.5  # inside the window: the limit holds
    for _ in range(100):
        lim.answered(lim.sent())
    assert lim.limit == 32 and lim.increases == 0
    clock.now = start + 1.5
    for _ in range(31):
        lim.answered(lim.sent())
    assert lim.limit == 32  # not per 8 answers whatever the rate: per `limit` answers, a round trip
    lim.answered(lim.sent())
    assert lim.limit == 33 and lim.increases == 1
    for _ in range(sum(range(33, 64)) + 100):
        lim.answered(lim.sent())
    assert lim.limit == 64  # back to the maximum, never above it


def test_failures_other_than_429_do_not_back_off() -> None:
    lim, _ = _limiter(8)
    for _ in range(20):
        lim.answered(lim.sent(), failed=True)
    assert lim.limit == 8 and lim.decreases == 0 and lim.successes == 0


# --- a simulated token-bucket server, clock injected ------------------------------------------------


def assert_one_back_off_per_window(lim: AdaptiveLimiter, retry_after: float) -> None:
    """Back-offs are at least a ``Retry-After`` window apart."""
    times = [when for when, _ in lim.backoffs]
    assert all(b - a >= retry_after - 1e-9 for a, b in itertools.pairwise(times)), times


def simulate(limiter: AdaptiveLimiter, clock: Clock, *, items: int, workers: int, rate: float, rtt: float,
             retry_after: float = 1.0, max_attempts: int = 6, faults: float = 0.0, refusals: float = 0.0,
             seed: int = 0) -> dict[str, Any]:
    """``items`` items through ``workers`` workers as the runner does them (a slot per request, a 429 waits
    ``Retry-After``, another failure backs off), against a server allowing ``rate`` requests per second
    (a token bucket holding one second's worth) that answers in ``rtt`` s, fails ``faults`` of them with
    a 500 and refuses ``refusals`` of them with a 429 whatever the rate."""
    rng = random.Random(seed)
    bucket = TokenBucket(rate, clock=clock)
    events: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
    order = itertools.count()
    queue: list[int] = []  # attempts of workers waiting for a slot
    stats = {"sent": 0, "429": 0, "done": 0, "failed": 0}
    todo = iter(range(items))

    def at(when: float, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(events, (when, next(order), fn, args))

    def next_item() -> None:
        if next(todo, None) is not None:
            want_slot(1)

    def want_slot(attempt: int) -> None:
        if limiter.in_flight < limiter.limit:
            send(attempt)
        else:
            queue.append(attempt)

    def send(attempt: int) -> None:
        ticket = limiter.sent(attempt)
        stats["sent"] += 1
        if bucket.take() is not None or rng.random() < refusals:
            at(clock.now + 0.001 + limiter.refusal_hold(), answer, ticket, "429")
        else:
            at(clock.now + rtt, answer, ticket, "500" if rng.random() < faults else "ok")

    def answer(ticket: Sent, what: str) -> None:
        limiter.answered(ticket, rate_limited=what == "429", retry_after=retry_after, failed=what == "500")
        while queue and limiter.in_flight < limiter.limit:
            send(queue.pop(0))
        stats["429"] += what == "429"
        if what == "ok" or ticket.attempt >= max_attempts:
            stats["done"] += 1
            stats["failed"] += what != "ok"
            next_item()
        elif what == "429":
            at(clock.now + retry_after, want_slot, ticket.attempt + 1)
        else:
            at(clock.now + min(30.0, 0.5 * 2 ** (ticket.attempt - 1)) * rng.uniform(0.5, 1), want_slot,
               ticket.attempt + 1)

    for _ in range(workers):
        at(0.0, next_item)
    while events:
        clock.now, _, fn, args = heapq.heappop(events)
        fn(*args)
    return stats | {"seconds": clock.now}


@pytest.mark.parametrize(("rate", "rtt", "faults"), [(100, 0.2, 0.0), (100, 0.2, 0.08), (50, 0.5, 0.05),
                                                     (200, 0.1, 0.05), (10, 0.5, 0.0)])
def test_simulated_run_reaches_80_percent_of_the_allowed_rate(rate: float, rtt: float, faults: float) -> None:
    lim, clock = _limiter(64)
    n = 2000 if rate >= 50 else 300
    stats = simulate(lim, clock, items=n, workers=64, rate=rate, rtt=rtt, faults=faults)
    assert stats["done"] == n and stats["failed"] == 0
    # Every attempt that got through counts against what the server allows (its burst included).
    allowed = rate * stats["seconds"] + rate
    assert (stats["sent"] - stats["429"]) / allowed >= 0.8, stats
    assert stats["sent"] / stats["429"] >= 3, stats  # 429s are the exception, not every other request
    assert_one_back_off_per_window(lim, retry_after=1.0)
    assert lim.decreases <= stats["seconds"] / 1.0 + 1


@pytest.mark.parametrize(("rate", "rtt"), [(1e9, 0.2), (100, 0.2), (1e9, 0.05)])
def test_simulated_run_with_random_429s_does_not_collapse(rate: float, rtt: float) -> None:
    # One request in five (or ten, under a rate limit) refused at random, 5% of 500s: issue #12's run.
    refusals = 0.2 if rate > 1e6 else 0.1
    lim, clock = _limiter(64)
    stats = simulate(lim, clock, items=2000, workers=64, rate=rate, rtt=rtt, faults=0.05, refusals=refusals)
    fixed, fixed_clock = _limiter(64)
    fixed.minimum = 64  # never backs off: the yardstick
    best = simulate(fixed, fixed_clock, items=2000, workers=64, rate=rate, rtt=rtt, faults=0.05, refusals=refusals)
    assert stats["done"] == 2000
    # Within 3 times a limiter that never backs off (the old one, halving per 429: 10-20 times).
    assert stats["seconds"] <= 3 * best["seconds"], (stats, best)
    assert_one_back_off_per_window(lim, retry_after=1.0)


# --- the fake server's rate limit --------------------------------------------------------------------


def test_token_bucket_counts() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [None, None, None, pytest.approx(0.1)]
    clock.now = 0.25  # 2.5 tokens back
    assert [bucket.take() is None for _ in range(3)] == [True, True, False]
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_fake_server_answers_429_with_retry_after_beyond_its_rate() -> None:
    with FakeOpenAIServer(rate_limit=5, rate_limit_burst=3) as srv, httpx.Client(base_url=srv.base_url) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        statuses = [client.post("/chat/completions", json=body) for _ in range(6)]
        assert [r.status_code for r in statuses].count(200) in (3, 4)  # 3 at once, maybe 1 refilled meanwhile
        refused = [r for r in statuses if r.status_code == 429]
        assert refused and all(r.headers["Retry-After"] == "1" for r in refused)
        assert all(r.headers["x-evalkit-fault"] == RATE_LIMIT_FAULT for r in refused)
        assert srv.stats()["rate_limited"] == len(refused)
        assert sum(r.fault == RATE_LIMIT_FAULT for r in srv.chat_requests) == len(refused)


# --- evalkit run against a rate-limited server --------------------------------------------------------


def test_run_against_a_rate_limited_server_keeps_the_rate(tmp_path: Path) -> None:
    # 40 requests/s allowed, 0.1 s per answer: about 4 in flight sustain it; evalkit starts at 64.
    rate, repeats = 40.0, 8
    with FakeOpenAIServer(latency=0.1, rate_limit=rate) as srv:
        suite = load_suite(write_suite(tmp_path, srv.base_url))
        options = RunOptions(out_dir=tmp_path / "run", selection=Selection(repeats=repeats), concurrency=64,
                             use_cache=False, write_report=False, max_attempts=6)
        the_run = Run(suite, options)
        outcome = asyncio.run(the_run.execute())
        chat = srv.chat_requests
    n = 18 * repeats
    assert outcome.manifest.counts.done == n and outcome.manifest.counts.failed == 0
    refused = [r for r in chat if r.status == 429]
    answered = [r for r in chat if r.status == 200]
    assert len(answered) == n and refused  # the server did push back
    lim = the_run.limiter
    assert lim is not None
    # One back-off per Retry-After window (1 s), not one per 429: far fewer back-offs than 429s.
    assert_one_back_off_per_window(lim, retry_after=1.0)
    assert len(lim.backoffs) <= 1 + (chat[-1].timestamp - chat[0].timestamp) / 1.0 < len(refused)
    # Fewer 429s than completions, though evalkit started 16 times above what the server sustains.
    assert len(refused) < len(answered)
    # The limit settled near what the server sustains (40/s × 0.1 s = 4), not at the floor.
    assert lim.limit >= 3
