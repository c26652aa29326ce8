"""Say what a wait is (issue #12, item 9): one line per stall on stderr, not one per retry, with the cap
that bounds the wait: the per-request timeout × attempts, or the cap on ``Retry-After``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import run_cli, translator, write_suite

from evalkit.errors import RateLimited
from evalkit.providers import AdaptiveLimiter, RetryPolicy, WaitWatch
from evalkit.runner import Run, RunOptions
from evalkit.suite import load_suite
from evalkit.testing import FakeOpenAIServer, Fault

ONE = ("--languages", "de", "--prompts", "plain")  # 3 items


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _watch(timeout: float = 60.0) -> tuple[WaitWatch, AdaptiveLimiter, Clock]:
    clock = Clock()
    limiter = AdaptiveLimiter(64, clock=clock)
    return WaitWatch(limiter, RetryPolicy(), timeout, None, clock=clock), limiter, clock


def test_defaults_bound_an_unanswered_item_to_about_six_minutes() -> None:
    # 6 attempts × 60 s + backoffs of at most 0.5 + 1 + 2 + 4 + 8 s: the figure docs/reliability.md gives.
    assert RetryPolicy().longest(60.0) == 6 * 60 + 15.5


def test_one_line_per_stall_of_unanswered_requests() -> None:
    watch, limiter, clock = _watch()
    tickets = [limiter.sent(attempt=2) for _ in range(12)]
    clock.now = 29.0
    assert watch.check() is None  # quiet for less than half the timeout: nothing to say yet
    clock.now = 30.0
    assert watch.check() == ("waiting: 12 requests without an answer for 30 s (timeout 60 s, attempt 2/6; "
                             "an item gives up after at most 376 s)")
    clock.now = 45.0
    assert watch.check() is None  # the same stall: said once
    limiter.answered(tickets[0])  # a completion ends the stall
    assert watch.check() is None
    clock.now = 76.0
    assert watch.check() == ("waiting: 11 requests without an answer for 76 s (timeout 60 s, attempt 2/6; "
                             "an item gives up after at most 376 s)")
    assert len(watch.lines) == 2


def test_a_retry_after_beyond_the_cap_is_said_once() -> None:
    watch, limiter, clock = _watch()
    for _ in range(3):
        limiter.answered(limiter.sent(), rate_limited=True, retry_after=3600.0)
        assert RetryPolicy().delay(RateLimited("x", 429, 3600.0), 1) == 120.0
        clock.now += 0.1
        watch.check()
    assert watch.lines == ["rate limited: the server asks 3600 s, waiting 120 s (the cap on Retry-After, "
                           "--max-retry-wait)"]


def test_a_long_retry_after_under_the_cap_is_said_and_a_short_one_is_not() -> None:
    watch, limiter, _ = _watch()
    limiter.answered(limiter.sent(), rate_limited=True, retry_after=1.0)
    assert watch.check() is None
    limiter.answered(limiter.sent(), rate_limited=True, retry_after=90.0)
    assert watch.check() == "rate limited: the server asks 90 s, waiting that long (cap 120 s)"


def test_a_server_that_never_answers_gets_one_line(tmp_path: Path, server: FakeOpenAIServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    server.set_faults([Fault("slow", delay=5.0)])  # accepts, then says nothing within the timeout
    suite = write_suite(tmp_path, server.base_url)
    code = run_cli("run", suite, "--out", tmp_path / "run", *ONE, "--no-report", "--no-cache",
                   "--timeout", "1", "--max-attempts", "2")
    assert code == 3  # every item failed: too many errors
    waits = [line for line in capsys.readouterr().err.splitlines() if line.startswith("waiting:")]
    assert len(waits) == 1, waits  # one stall (no answer ever comes), one line: not one per retry
    # The 3 requests leave within milliseconds of each other, but on a loaded machine a check may fall
    # between them: the line counts those already waiting half the timeout (1 to 3), never more.
    assert re.fullmatch(r"waiting: (1 request|[23] requests) without an answer for 0\.[5-9] s \(timeout 1 s, "
                        r"attempt 1/2; "
                        r"an item gives up after at most 2\.5 s\)", waits[0]), waits


def test_a_capped_retry_after_is_said_during_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(translator, faults=[Fault("429", attempts={1}, retry_after=3600)]) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        code = run_cli("run", suite, "--out", tmp_path / "run", *ONE, "--no-report", "--no-cache",
                       "--timeout", "1", "--max-retry-wait", "0.5")  # waits 0.5 s, not 3600 s (nor 120 s)
        refused = sum(r.status == 429 for r in srv.chat_requests)
    assert code == 0 and refused == 3
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rate limited:")]
    assert lines == ["rate limited: the server asks 3600 s, waiting 0.5 s (the cap on Retry-After, --max-retry-wait)"]


def test_the_retry_after_cap_reaches_the_policy(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = load_suite(write_suite(tmp_path, server.base_url))
    assert Run(suite, RunOptions(out_dir=tmp_path / "a")).policy.max_retry_after == 120.0
    assert Run(suite, RunOptions(out_dir=tmp_path / "b", max_retry_wait=5.0)).policy.max_retry_after == 5.0
