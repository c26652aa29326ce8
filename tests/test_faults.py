"""Faults from the endpoint: every item ends with an output or a recorded error after a bounded number
of attempts, retries are classified, waits honour what the server asked, and the run explains itself.

Three layers: the provider alone against the fake server (classification), ``evalkit run`` in-process
against the fake server (retries, aborts, counts), and a scripted raw-HTTP server for odd sequences
(429 → 200, truncated JSON, a body shorter than its Content-Length, badly typed fields).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, translator, write_suite

from evalkit.errors import (
    AuthError,
    BadResponse,
    ClientError,
    ProviderError,
    RateLimited,
    ServerError,
    TransportError,
)
from evalkit.items import Selection
from evalkit.providers import OpenAIProvider, Request, RetryPolicy, parse_retry_after
from evalkit.providers._retry import parse_rate_limit_reset
from evalkit.results import iter_results, read_manifest
from evalkit.runner import Run, RunOptions
from evalkit.suite import load_suite
from evalkit.testing import FakeOpenAIServer, Fault, RecordedRequest

ONE = ("--languages", "de", "--prompts", "plain")  # 3 items
QUICK = ("--no-report", "--no-cache")


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    text = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    return [json.loads(x) for x in text.splitlines()]


def _attempts_by_prompt(requests: list[RecordedRequest]) -> dict[str, list[RecordedRequest]]:
    out: dict[str, list[RecordedRequest]] = defaultdict(list)
    for r in requests:
        out[r.last_user_message].append(r)
    return out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the provider alone: each fault is classified --------------------------------------------------

CLASSIFIED: list[tuple[str, type[ProviderError], int | None]] = [
    ("429", RateLimited, 429),
    ("429-date", RateLimited, 429),
    ("429-bare", RateLimited, 429),
    ("400", ClientError, 400),
    ("401", AuthError, 401),
    ("403", AuthError, 403),
    ("404", ClientError, 404),
    ("408", ServerError, 408),
    ("409", ServerError, 409),
    ("422", ClientError, 422),
    ("500", ServerError, 500),
    ("502", ServerError, 502),
    ("503", ServerError, 503),
    ("504", ServerError, 504),
    ("drop", TransportError, None),
    ("drop-mid", TransportError, None),
    ("slow", TransportError, None),
    ("malformed-json", BadResponse, 200),
    ("no-choices", BadResponse, 200),
    ("null-content", BadResponse, 200),
    ("html", BadResponse, 200),
]
NEVER_RETRIED = {"400", "401", "403", "404", "422"}


async def _complete(base_url: str, timeout: float = 5.0, key_env: str = "EVALKIT_TEST_NO_KEY") -> Any:
    provider = OpenAIProvider("m", base_url, key_env, timeout=timeout)
    try:
        return await provider.complete(Request(({"role": "user", "content": "Translate into German: hi"},)))
    finally:
        await provider.aclose()


@pytest.fixture(scope="module")
def bare_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(translator) as srv:
        yield srv


@pytest.mark.parametrize(("kind", "error", "status"), CLASSIFIED)
def test_provider_classifies(kind: str, error: type[ProviderError], status: int | None,
                             bare_server: FakeOpenAIServer) -> None:
    bare_server.set_faults([Fault(kind, delay=1.0)])
    with pytest.raises(error) as exc:
        asyncio.run(_complete(bare_server.base_url, timeout=0.3 if kind == "slow" else 5.0))
    assert exc.value.status == status
    assert exc.value.retryable == (kind not in NEVER_RETRIED)
    assert exc.value.message  # every failure explains itself


def test_provider_reads_retry_after_and_rate_limit_headers(bare_server: FakeOpenAIServer) -> None:
    for kind, expected in (("429", 3.0), ("429-date", 3.0), ("429-bare", 3.0)):
        bare_server.set_faults([Fault(kind, retry_after=3)])
        with pytest.raises(RateLimited) as exc:
            asyncio.run(_complete(bare_server.base_url))
        # 429-bare has no Retry-After: x-ratelimit-reset-requests ("3s") is used instead.
        assert exc.value.retry_after is not None and expected - 1.5 <= exc.value.retry_after <= expected + 1.0
    bare_server.set_faults([Fault("503", retry_after=2)])
    with pytest.raises(ServerError) as server_exc:
        asyncio.run(_complete(bare_server.base_url))
    assert server_exc.value.retry_after == 2.0


def test_empty_content_is_a_valid_empty_output(bare_server: FakeOpenAIServer) -> None:
    bare_server.set_faults([Fault("empty-content")])
    completion = asyncio.run(_complete(bare_server.base_url))
    assert completion.text == "" and completion.finish_reason == "stop"


def test_connection_refused_is_a_transport_error() -> None:
    with pytest.raises(TransportError) as exc:
        asyncio.run(_complete(f"http://127.0.0.1:{_closed_port()}/v1"))
    assert exc.value.retryable and "cannot connect" in exc.value.message


def test_retry_header_parsing() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_rate_limit_reset("20ms") == pytest.approx(0.02)
    assert parse_rate_limit_reset("1.5s") == 1.5
    assert parse_rate_limit_reset("6m0s") == 360.0
    assert parse_rate_limit_reset("1h2m3s") == 3723.0
    assert parse_rate_limit_reset("tomorrow") is None and parse_rate_limit_reset("5") is None


def test_retry_policy_classification_and_backoff() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=2.0)
    for attempt in (1, 2, 3):
        delay = policy.delay(ServerError("x", 500), attempt)
        full = min(2.0, 0.5 * 2 ** (attempt - 1))
        assert delay is not None and full / 2 <= delay <= full  # equal jitter
    assert policy.delay(ServerError("x", 500), 4) is None  # bounded
    assert policy.delay(ClientError("x", 400), 1) is None
    assert policy.delay(AuthError("x", 401), 1) is None
    assert policy.delay(RateLimited("x", 429, 7.0), 1) == 7.0
    assert policy.delay(RateLimited("x", 429, 1e6), 1) == policy.max_retry_after


# --- evalkit run against the fake server -----------------------------------------------------------


def _gap(reqs: list[RecordedRequest]) -> float:
    return reqs[1].timestamp - reqs[0].timestamp


@pytest.mark.parametrize("kind", ["429", "429-date"])
def test_retry_after_is_honoured(kind: str, tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault(kind, attempts={1}, retry_after=2)])
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK) == 0
    assert all(x["error"] is None and x["attempts"] == 2 for x in _lines(tmp_path / "run"))
    for reqs in _attempts_by_prompt(server.chat_requests).values():
        assert [r.status for r in reqs] == [429, 200]
        # An HTTP date has one-second resolution (the server rounds up): generous bounds.
        low = 1.9 if kind == "429" else 0.9
        assert low <= _gap(reqs) <= 10, _gap(reqs)


def test_429_without_retry_after_backs_off(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault("429-bare", attempts={1, 2}, retry_after=0)])  # x-ratelimit-reset: 0ms
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK) == 0
    assert all(x["error"] is None and x["attempts"] == 3 for x in _lines(tmp_path / "run"))
    for reqs in _attempts_by_prompt(server.chat_requests).values():
        assert [r.status for r in reqs] == [429, 429, 200]


def test_concurrency_adapts_to_429_and_recovers(tmp_path: Path) -> None:
    # The server refuses (429, no Retry-After) whatever exceeds 2 requests in flight; evalkit starts at 16.
    with FakeOpenAIServer(translator, max_concurrency=2, latency=0.02, concurrency_retry_after=0) as srv:
        suite = load_suite(write_suite(tmp_path, srv.base_url))
        options = RunOptions(out_dir=tmp_path / "run", selection=Selection(repeats=4), concurrency=16,
                             use_cache=False, write_report=False, max_attempts=10)
        the_run = Run(suite, options)
        outcome = asyncio.run(the_run.execute())
        refused = [r for r in srv.chat_requests if r.status == 429]
        answered = [r for r in srv.chat_requests if r.status == 200]
    assert outcome.manifest.status == "complete"
    assert outcome.manifest.counts.done == 72 and outcome.manifest.counts.failed == 0
    assert len(answered) == 72 and refused  # the server did push back
    assert the_run.limiter is not None
    assert the_run.limiter.decreases >= 1 and the_run.limiter.increases >= 1  # adapted down, then recovered
    assert the_run.limiter.limit < 16
    # After adapting, far fewer requests are refused than a fixed 16 would cause (>= 14 of every 16).
    assert len(refused) < len(answered)


@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "408", "drop", "drop-mid", "malformed-json",
                                  "no-choices", "html"])
def test_transient_fault_is_retried(kind: str, tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault(kind, attempts={1})])
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK) == 0
    lines = _lines(tmp_path / "run")
    assert len(lines) == 3 and all(x["error"] is None and x["attempts"] == 2 for x in lines)
    assert all(x["output"] for x in lines)


@pytest.mark.parametrize(("kind", "error_kind"), [("503", "server_error"), ("null-content", "bad_response"),
                                                  ("drop", "transport_error")])
def test_persistent_fault_ends_as_a_recorded_error(kind: str, error_kind: str, tmp_path: Path,
                                                   server: FakeOpenAIServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    server.set_faults([Fault(kind, match="Thank you")])  # 1 item of 3 always fails
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, *ONE, *QUICK, "--max-error-rate", "0.5") == 0
    failed = [x for x in _lines(out) if x["error"]]
    assert len(failed) == 1
    assert failed[0]["error"]["kind"] == error_kind and failed[0]["attempts"] == 3  # the suite's max_attempts
    assert failed[0]["output"] is None and failed[0]["scores"] == {}
    assert read_manifest(out).counts.errors_by_kind == {error_kind: 1}
    assert f"errors: {error_kind} 1" in capsys.readouterr().out


def test_slow_response_times_out_and_is_retried(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault("slow", attempts={1}, delay=3.0)])
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK, "--timeout", "0.5") == 0
    assert all(x["error"] is None and x["attempts"] == 2 for x in _lines(tmp_path / "run"))


def test_empty_output_is_scored_not_an_error(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault("empty-content", match="Good morning")])
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK) == 0
    empty = [x for x in _lines(tmp_path / "run") if x["case_id"] == "c1"]
    assert empty[0]["error"] is None and empty[0]["output"] == "" and empty[0]["attempts"] == 1
    assert empty[0]["scores"]["exact_match"] == 0.0 and empty[0]["scores"]["chrf++"] == 0.0


def test_finish_reason_length_is_recorded_as_truncated(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault("length")])
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK) == 0
    lines = _lines(tmp_path / "run")
    assert all(x["finish_reason"] == "length" and x["truncated"] is True and x["error"] is None for x in lines)


@pytest.mark.parametrize("kind", ["401", "403"])
def test_auth_failure_aborts_at_once(kind: str, tmp_path: Path, server: FakeOpenAIServer,
                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_EVAL_KEY", "sk-do-not-print-me-1234")
    server.set_faults([Fault(kind)])
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    code = run_cli("run", suite, "--out", out, *QUICK, "--api-key-env", "MY_EVAL_KEY", "--base-url", server.base_url,
                   "--concurrency", "2", "--repeat", "5")
    assert code == 3
    captured = capsys.readouterr()
    assert "MY_EVAL_KEY" in captured.err and "sk-do-not-print-me" not in captured.err + captured.out
    assert len(server.chat_requests) <= 2  # the requests already in flight, nothing after
    manifest = read_manifest(out)
    assert manifest.status == "aborted" and "MY_EVAL_KEY" in (manifest.abort_reason or "")


@pytest.mark.parametrize("kind", ["400", "404", "422"])
def test_client_errors_are_not_retried(kind: str, tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault(kind, match="Good morning")])
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK, "--max-error-rate", "0.9") == 0
    failed = [x for x in _lines(tmp_path / "run") if x["error"]]
    assert len(failed) == 1 and failed[0]["attempts"] == 1 and failed[0]["error"]["kind"] == "client_error"
    assert failed[0]["error"]["status"] == int(kind)
    assert len(server.chat_requests) == 3


def test_connection_refused_aborts_by_error_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, f"http://127.0.0.1:{_closed_port()}/v1")
    out = tmp_path / "run"
    code = run_cli("run", suite, "--out", out, *QUICK, "--max-attempts", "2", "--repeat", "3")
    assert code == 3
    captured = capsys.readouterr()
    assert "transport_error" in captured.err and "stopped early" in captured.err
    assert "errors: transport_error" in captured.out
    manifest = read_manifest(out)
    lines = _lines(out)
    assert manifest.status == "aborted" and manifest.counts.planned == 54
    assert 10 <= len(lines) < 54  # stopped early, everything finished is kept
    assert all(x["error"]["kind"] == "transport_error" and x["attempts"] == 2 for x in lines)
    assert manifest.counts.errors_by_kind == {"transport_error": len(lines)}


def test_error_rate_limit_stops_early_and_keeps_results(tmp_path: Path, server: FakeOpenAIServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    server.set_faults([Fault("500", match="Thank you|weather")])  # 2 of 3 cases fail
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    code = run_cli("run", suite, "--out", out, *QUICK, "--max-attempts", "1", "--max-error-rate", "0.3",
                   "--repeat", "5", "--concurrency", "2")
    assert code == 3
    assert "more than the limit of 30%" in capsys.readouterr().err
    manifest = read_manifest(out)
    assert manifest.status == "aborted" and manifest.counts.done < manifest.counts.planned == 90
    assert manifest.counts.done == len(_lines(out)) and manifest.counts.failed > 0
    assert manifest.counts.errors_by_kind == {"server_error": manifest.counts.failed}


def test_small_run_that_fails_entirely_exits_3(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault("400")])
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", *ONE, *QUICK) == 3  # 3 items < 10, all failed
    assert read_manifest(tmp_path / "run").status == "aborted"


def test_every_item_ends_with_output_or_error(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([
        Fault("503", match="Good morning", attempts={1, 2}),
        Fault("drop", match="Thank you", attempts={1}),
        Fault("400", match="weather", attempts={1}, times=2),
        Fault("malformed-json", match="weather", attempts={1, 2, 3}),
    ])
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, *QUICK, "--max-error-rate", "0.9") == 0
    lines = _lines(out)
    assert len(lines) == len({x["item_id"] for x in lines}) == 18
    for x in lines:
        assert (x["output"] is None) != (x["error"] is None)
        assert 1 <= x["attempts"] <= 3
    manifest = read_manifest(out)
    assert sum(manifest.counts.errors_by_kind.values()) == manifest.counts.failed == sum(
        1 for x in lines if x["error"])
    assert manifest.counts.errors_by_kind == {"client_error": 2, "bad_response": 4}


# --- odd sequences from a scripted raw HTTP server --------------------------------------------------


def _http(status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> bytes:
    reason = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "X")
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
            f"Content-Length: {len(body) if length is None else length}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _ok(content: Any = "Guten Morgen", finish_reason: Any = "stop", **extra: Any) -> bytes:
    payload = {"id": "x", "object": "chat.completion",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": finish_reason}], **extra}
    return _http(200, json.dumps(payload).encode())


class ThenClose(bytes):
    """A scripted response after which the connection is closed (e.g. a body cut short)."""


CLOSE = ThenClose(b"")  # close the connection without answering


class ScriptedServer:
    """Answers the n-th request with the n-th scripted raw response (then a good one), on 127.0.0.1."""

    def __init__(self, script: list[bytes]) -> None:
        self.script = list(script)
        self.seen = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                response = self.script.pop(0) if self.script else _ok()
                self.seen += 1
                writer.write(response)
                if isinstance(response, ThenClose):
                    await writer.drain()
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


SINGLE = """\
name: scripted
model: {{name: m, base_url: "{base_url}", max_attempts: 4, concurrency: 1}}
languages: [de]
prompts: {{p: {{user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"}}}}
cases: [{{id: c1, source: Good morning, reference: Guten Morgen}}]
scorers: [exact_match]
"""

SEQUENCES: dict[str, tuple[list[bytes], int]] = {
    "429 then 200": ([_http(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})], 2),
    "503 with Retry-After then 200": ([_http(503, b"{}", {"Retry-After": "0"})], 2),
    "truncated JSON then 200": ([_http(200, b'{"choices": [{"message": {"content": "Gut')], 2),
    "body shorter than Content-Length": ([ThenClose(_http(200, b'{"choices": [', length=9999))], 2),
    "connection closed, 429, then 200": ([CLOSE, _http(429, b"{}", {"Retry-After": "0"})], 3),
    "JSON list then 200": ([_http(200, b"[]")], 2),
    "content parts list then 200": ([_ok([{"type": "text", "text": "x"}])], 2),
    "non-UTF-8 body then 200": ([_http(200, b"\xff\xfe{")], 2),
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_odd_sequences(name: str, tmp_path: Path) -> None:
    script, attempts = SEQUENCES[name]
    with ScriptedServer(script) as srv:
        suite = write_suite(tmp_path, srv.base_url, SINGLE)
        assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK) == 0
    (line,) = _lines(tmp_path / "run")
    assert line["error"] is None and line["output"] == "Guten Morgen" and line["attempts"] == attempts


def test_badly_typed_fields_do_not_crash(tmp_path: Path) -> None:
    odd = _ok(finish_reason=7, id=5, usage={"prompt_tokens": "many", "completion_tokens": 2.5, "total_tokens": True})
    with ScriptedServer([odd]) as srv:
        suite = write_suite(tmp_path, srv.base_url, SINGLE)
        assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK) == 0
    (result,) = iter_results(tmp_path / "run" / "results.jsonl")
    assert result.output == "Guten Morgen" and result.finish_reason is None and result.response_id is None
    assert result.usage is not None and result.usage.prompt_tokens is None and result.usage.total_tokens is None


def test_error_text_echoing_the_key_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-echoed-secret-9876"
    monkeypatch.setenv("ECHO_KEY", key)
    body = json.dumps({"error": {"message": f"bad request for key {key}"}}).encode()
    with ScriptedServer([_http(400, body)]) as srv, pytest.raises(ClientError) as exc:
        asyncio.run(_complete(srv.base_url, key_env="ECHO_KEY"))
    assert key not in str(exc.value) and key not in exc.value.message and "***" in exc.value.message


def test_half_surrogate_in_output_is_replaced_not_fatal(tmp_path: Path) -> None:
    body = b'{"choices": [{"message": {"content": "Guten \\ud800Morgen"}, "finish_reason": "stop"}]}'
    with ScriptedServer([_http(200, body)]) as srv:
        suite = write_suite(tmp_path, srv.base_url, SINGLE)
        assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK) == 0
    (result,) = iter_results(tmp_path / "run" / "results.jsonl")
    assert result.output == "Guten \ufffdMorgen" and result.error is None
