"""A 429 that is about quota or billing is not a rate limit (issue #12 edges).

OpenAI answers an account without credit, or over its spend limit, with HTTP 429 and an error ``type``/``code``
such as ``insufficient_quota`` or ``credit_balance_exhausted``; waiting does not help. Such a refusal is its own
error kind (``quota_exceeded``), is never retried, costs the rate limiter nothing, and a run whose every request
is refused that way exits 3 with one line naming the cause. A 429 with ``rate_limit_exceeded``, without a body
code, or whose ``x-ratelimit-remaining-*`` header says the window is spent stays a rate limit (retried).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, translator, write_suite

from evalkit.errors import QuotaExceeded, RateLimited
from evalkit.items import Selection
from evalkit.providers import OpenAIProvider, Request
from evalkit.providers._openai import is_quota_refusal
from evalkit.results import read_manifest
from evalkit.runner import Run, RunOptions
from evalkit.suite import load_suite
from evalkit.testing import FakeOpenAIServer, Fault

ONE = ("--languages", "de", "--prompts", "plain")  # 3 items
QUICK = ("--no-report", "--no-cache")


def _body(type_: str | None, code: str | None, message: str = "m") -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


@pytest.mark.parametrize(("headers", "raw", "quota"), [
    # OpenAI, an account without credit (code null in older answers, the same as the type in newer ones)
    ({}, _body("insufficient_quota", None), True),
    ({}, _body("insufficient_quota", "insufficient_quota"), True),
    # OpenAI's billing codes name the cause; the type may still be insufficient_quota
    ({}, _body("insufficient_quota", "credit_balance_exhausted"), True),
    ({}, _body("invalid_request_error", "project_spend_limit_exceeded"), True),
    ({"Retry-After": "20"}, _body("insufficient_quota", "organization_spend_limit_exceeded"), True),
    # rate limits: OpenAI's own code, a bare 429, a non-JSON body, the AI/ML API's free-tier hour
    ({"x-ratelimit-remaining-requests": "0"}, _body("requests", "rate_limit_exceeded"), False),
    ({}, b"", False),
    ({}, b"<html>Too Many Requests</html>", False),
    ({}, json.dumps({"message": "Free-tier limit: You've reached your free limit for the hour.",
                     "statusCode": "429"}).encode(), False),
    # a recognised transient code wins over the type; a spent window says rate, whatever the type says
    ({}, _body("insufficient_quota", "rate_limit_exceeded"), False),
    ({"x-ratelimit-remaining-tokens": "0"}, _body("insufficient_quota", None), False),
])
def test_a_429_is_about_quota_only_when_the_server_says_so(headers: dict[str, str], raw: bytes, quota: bool) -> None:
    assert is_quota_refusal({k.lower(): v for k, v in headers.items()}, raw) is quota


def _complete(server: FakeOpenAIServer) -> BaseException | None:
    async def go() -> BaseException | None:
        provider = OpenAIProvider("m", server.base_url, "NO_SUCH_KEY_VAR")
        try:
            await provider.complete(Request(({"role": "user", "content": "Good morning"},)))
        except Exception as exc:  # the error is the result
            return exc
        finally:
            await provider.aclose()
        return None

    return asyncio.run(go())


@pytest.mark.parametrize(("kind", "error"), [("429-quota", QuotaExceeded), ("429-billing", QuotaExceeded),
                                             ("429", RateLimited), ("429-bare", RateLimited)])
def test_the_provider_classifies_the_fake_servers_429s(kind: str, error: type[Exception],
                                                      server: FakeOpenAIServer) -> None:
    server.set_faults([Fault(kind, retry_after=5)])
    exc = _complete(server)
    assert type(exc) is error
    if error is QuotaExceeded:
        assert exc is not None and not exc.retryable  # type: ignore[attr-defined]
        message = str(exc)
        assert "\n" not in message and "quota" in message and "retrying does not help" in message


def test_a_quota_429_is_not_retried_and_every_refusal_exits_3(tmp_path: Path, server: FakeOpenAIServer,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    server.set_faults([Fault("429-quota", retry_after=1)])  # even with a Retry-After (some gateways send one)
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, *ONE, *QUICK) == 3
    assert len(server.chat_requests) == 3  # one request per item: none retried
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(x["error"]["kind"], x["attempts"]) for x in lines] == [("quota_exceeded", 1)] * 3
    assert all("insufficient_quota" in x["error"]["message"] for x in lines)
    assert read_manifest(out).counts.errors_by_kind == {"quota_exceeded": 3}
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("evalkit: error")]
    assert len(err) == 1 and "quota" in err[0] and "insufficient_quota" in err[0], err


def test_quota_refusals_cost_the_rate_limiter_nothing(tmp_path: Path) -> None:
    # One case of three is refused for quota on every attempt; the other cases' items are answered.
    with FakeOpenAIServer(translator, latency=0.01) as srv:
        srv.set_faults([Fault("429-quota", match="Thank you", retry_after=1)])
        suite = load_suite(write_suite(tmp_path, srv.base_url))
        options = RunOptions(out_dir=tmp_path / "run", selection=Selection(repeats=4), concurrency=8,
                             use_cache=False, write_report=False, max_attempts=6, max_error_rate=1.0)
        the_run = Run(suite, options)
        outcome = asyncio.run(the_run.execute())
        statuses: dict[int | None, int] = {}
        for r in srv.chat_requests:
            statuses[r.status] = statuses.get(r.status, 0) + 1
    counts = outcome.manifest.counts
    assert counts.done == 72 and counts.errors_by_kind == {"quota_exceeded": 24}
    assert statuses == {429: 24, 200: 48}  # each refused item asked once
    assert the_run.limiter is not None
    lim: Any = the_run.limiter
    assert (lim.rate_limited, lim.decreases, lim.limit) == (0, 0, 8)
