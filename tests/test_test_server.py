"""evalkit's OpenAI-compatible test server: reply shape, responders, auth, every fault kind, concurrency
limits, introspection and the command-line mode, exercised with httpx against the real server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from evalkit.testing import FAULT_KINDS, FakeOpenAIServer, Fault, Reply, echo, parse_faults, parse_rules, rules
from evalkit.testing.server import main as server_main

ROOT = Path(__file__).resolve().parent.parent

ERROR_STATUS = {
    "429": 429,
    "429-date": 429,
    "429-bare": 429,
    "400": 400,
    "401": 401,
    "403": 403,
    "404": 404,
    "408": 408,
    "409": 409,
    "422": 422,
    "500": 500,
    "502": 502,
    "503": 503,
    "504": 504,
}


# TODO: move to tests/conftest.py (it existed already, so this fixture lives here for now).
@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    """A running FakeOpenAIServer (echo responder, no key, no latency) on 127.0.0.1."""
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def client(fake_server: FakeOpenAIServer) -> Iterator[httpx.Client]:
    with httpx.Client(verify=False, base_url=fake_server.base_url, timeout=5) as c:
        yield c


def chat(text: str = "hello there", **params: Any) -> dict[str, Any]:
    return {"model": "test-model", "messages": [{"role": "user", "content": text}], **params}


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert {"type", "param", "code"} <= set(error)
    return dict(error)


# -- normal operation ---------------------------------------------------------------------------------


def test_reply_has_the_openai_chat_completion_shape(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat("one two three", temperature=0, seed=1))
    assert response.status_code == 200
    data = response.json()
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert isinstance(data["created"], int) and abs(data["created"] - time.time()) < 60
    assert data["model"] == "test-model"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "one two three"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert client.post("/chat/completions", json=chat()).json()["id"] != data["id"]


def test_stats_time_the_first_request_and_the_last_answer(fake_server: FakeOpenAIServer,
                                                          client: httpx.Client) -> None:
    assert fake_server.stats()["first_arrival"] is None
    before = time.time()
    client.post("/chat/completions", json=chat())
    client.post("/chat/completions", json=chat("again"))
    after = time.time()
    stats = client.get(fake_server.url + "/_evalkit/stats").json()
    assert stats["count"] == 2
    assert before <= stats["first_arrival"] <= stats["last_answer"] <= after
    fake_server.reset()
    assert fake_server.stats()["first_arrival"] is None and fake_server.stats()["last_answer"] is None


def test_models_health_and_unknown_paths(fake_server: FakeOpenAIServer, client: httpx.Client) -> None:
    models = client.get("/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["evalkit-test-model"]
    assert client.get(fake_server.url + "/health").json() == {"status": "ok"}
    assert_openai_error(client.get("/nope"), 404)
    assert_openai_error(client.get("/chat/completions"), 405)


def test_echo_and_rules_responders(fake_server: FakeOpenAIServer, client: httpx.Client) -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "last "}, {"type": "text", "text": "one"}]},
        ],
    }
    assert client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"] == "last one"
    assert echo(body) == "last one"

    fake_server.set_responder(
        rules([(r"(?i)capital of france", "Paris"), (r"\d+ \+ \d+", "4"), ("truncate", Reply("cut", "length"))])
    )

    def answer(text: str) -> tuple[str, str]:
        choice = client.post("/chat/completions", json=chat(text)).json()["choices"][0]
        return choice["message"]["content"], choice["finish_reason"]

    assert answer("What is the Capital of France?") == ("Paris", "stop")
    assert answer("2 + 2 = ?") == ("4", "stop")
    assert answer("please truncate") == ("cut", "length")
    assert answer("something else") == ("I don't know.", "stop")

    fake_server.set_responder(parse_rules({"rules": [{"pattern": "^hi", "answer": "hello"}], "default": "?"}))
    assert answer("hi you") == ("hello", "stop")
    assert answer("oh hi") == ("?", "stop")


def test_max_tokens_stop_and_n(client: httpx.Client) -> None:
    data = client.post("/chat/completions", json=chat("a b c d e f", max_tokens=3)).json()
    assert data["choices"][0]["message"]["content"] == "a b c"
    assert data["choices"][0]["finish_reason"] == "length"
    data = client.post("/chat/completions", json=chat("alpha. beta", stop=[".", "zzz"])).json()
    assert data["choices"][0]["message"]["content"] == "alpha"
    data = client.post("/chat/completions", json=chat("x y", n=2)).json()
    assert [c["index"] for c in data["choices"]] == [0, 1]
    assert data["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "m", "messages": [{"content": "hi"}]}, "messages.[0]"),
        (chat(temperature="hot"), "temperature"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(stop=[1]), "stop"),
        (chat(stream=True), "stream"),
    ],
)
def test_invalid_requests_get_400(client: httpx.Client, body: dict[str, Any], param: str) -> None:
    error = assert_openai_error(client.post("/chat/completions", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unparsable_body_gets_400(client: httpx.Client) -> None:
    response = client.post("/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert_openai_error(response, 400)


# -- auth ---------------------------------------------------------------------------------------------


def test_api_key_is_required_and_never_echoed() -> None:
    secret = "sk-very-secret-value-123"
    with FakeOpenAIServer(api_key=secret) as srv, httpx.Client(verify=False, base_url=srv.base_url) as c:
        missing = c.post("/chat/completions", json=chat())
        wrong = c.post("/chat/completions", json=chat(), headers={"Authorization": "Bearer sk-wrong"})
        models = c.get("/models")
        ok = c.post("/chat/completions", json=chat(), headers={"Authorization": f"Bearer {secret}"})
        for response in (missing, wrong, models):
            assert assert_openai_error(response, 401)["code"] == "invalid_api_key"
            assert secret not in response.text and "sk-wrong" not in response.text
        assert ok.status_code == 200
        records = srv.requests
        assert [(r.auth_present, r.auth_valid, r.status) for r in records] == [
            (False, False, 401),
            (True, False, 401),
            (False, False, 401),
            (True, True, 200),
        ]
        assert all("authorization" not in r.headers for r in records)
        assert secret not in repr(records)


# -- faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ERROR_STATUS))
def test_error_faults_then_a_normal_reply(fake_server: FakeOpenAIServer, client: httpx.Client, kind: str) -> None:
    fake_server.set_faults([Fault(kind, attempts={1, 2}, retry_after=0)])
    body = chat(f"fault {kind}")
    first, second, third = (client.post("/chat/completions", json=body) for _ in range(3))
    for response in (first, second):
        assert_openai_error(response, ERROR_STATUS[kind])
        assert response.headers["x-evalkit-fault"] == kind
    assert third.status_code == 200
    assert third.json()["choices"][0]["message"]["content"] == f"fault {kind}"
    assert [(r.attempt, r.fault, r.status) for r in fake_server.chat_requests] == [
        (1, kind, ERROR_STATUS[kind]),
        (2, kind, ERROR_STATUS[kind]),
        (3, None, 200),
    ]


def test_retry_after_formats_and_rate_limit_headers(fake_server: FakeOpenAIServer, client: httpx.Client) -> None:
    fake_server.set_faults(
        [
            Fault("429", match="seconds", retry_after=2),
            Fault("429", match="fraction", retry_after=0.25),
            Fault("429-date", match="date", retry_after=3),
            Fault("429-bare", match="bare"),
            Fault("503", match="unavailable", retry_after=5),
        ]
    )
    seconds = client.post("/chat/completions", json=chat("seconds"))
    assert seconds.headers["retry-after"] == "2"
    assert seconds.headers["x-ratelimit-limit-requests"].isdigit()
    assert seconds.headers["x-ratelimit-remaining-requests"] == "0"
    assert seconds.headers["x-ratelimit-reset-requests"] == "2s"
    assert seconds.json()["error"]["code"] == "rate_limit_exceeded"

    fraction = client.post("/chat/completions", json=chat("fraction"))
    assert fraction.headers["retry-after"] == "0.25"
    assert fraction.headers["x-ratelimit-reset-requests"] == "250ms"

    date = client.post("/chat/completions", json=chat("date"))
    when = parsedate_to_datetime(date.headers["retry-after"]).timestamp()
    assert 2 <= when - time.time() <= 4.5
    assert "x-ratelimit-reset-requests" in date.headers

    bare = client.post("/chat/completions", json=chat("bare"))
    assert bare.status_code == 429
    assert "retry-after" not in bare.headers
    assert bare.headers["x-ratelimit-remaining-requests"] == "0"

    assert client.post("/chat/completions", json=chat("unavailable")).headers["retry-after"] == "5"
    assert "retry-after" not in client.post("/chat/completions", json=chat("other")).headers


@pytest.mark.parametrize("kind", ["drop", "drop-mid"])
def test_drop_faults_raise_transport_errors(fake_server: FakeOpenAIServer, client: httpx.Client, kind: str) -> None:
    fake_server.set_faults([Fault(kind, attempts={1})])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/chat/completions", json=chat())
    assert client.post("/chat/completions", json=chat()).status_code == 200
    assert [(r.fault, r.status) for r in fake_server.chat_requests] == [
        (kind, None if kind == "drop" else 200),
        (None, 200),
    ]


def test_drop_faults_with_the_async_client(fake_server: FakeOpenAIServer) -> None:
    fake_server.set_faults([Fault("drop", match="drop"), Fault("drop-mid", match="mid")])

    async def scenario() -> None:
        async with httpx.AsyncClient(verify=False, base_url=fake_server.base_url, timeout=5) as c:
            for text in ("drop", "mid"):
                with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                    await c.post("/chat/completions", json=chat(text))
            assert (await c.post("/chat/completions", json=chat("fine"))).status_code == 200

    asyncio.run(scenario())


def test_slow_fault_triggers_a_client_read_timeout(fake_server: FakeOpenAIServer) -> None:
    fake_server.set_faults([Fault("slow", attempts={1}, delay=0.5)])
    with httpx.Client(verify=False, base_url=fake_server.base_url, timeout=0.2) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/chat/completions", json=chat())
        assert c.post("/chat/completions", json=chat()).status_code == 200


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("empty-content", lambda r: r.json()["choices"][0]["message"]["content"] == ""),
        ("null-content", lambda r: r.json()["choices"][0]["message"]["content"] is None),
        ("length", lambda r: r.json()["choices"][0]["finish_reason"] == "length"),
        ("no-choices", lambda r: "choices" not in r.json() and r.json()["object"] == "chat.completion"),
        ("html", lambda r: r.headers["content-type"].startswith("text/html") and "<html>" in r.text),
    ],
)
def test_body_faults(fake_server: FakeOpenAIServer, client: httpx.Client, kind: str, check: Any) -> None:
    fake_server.set_faults([Fault(kind, attempts={1})])
    broken = client.post("/chat/completions", json=chat("some answer"))
    assert broken.status_code == 200
    assert check(broken)
    fine = client.post("/chat/completions", json=chat("some answer"))
    assert fine.json()["choices"][0]["message"]["content"] == "some answer"


def test_malformed_json_fault(fake_server: FakeOpenAIServer, client: httpx.Client) -> None:
    fake_server.set_faults([Fault("malformed-json", attempts={1})])
    broken = client.post("/chat/completions", json=chat())
    assert broken.status_code == 200
    assert broken.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)
    assert client.post("/chat/completions", json=chat()).json()["choices"]


def test_every_fault_kind_is_tested() -> None:
    tested = set(ERROR_STATUS) | {
        "drop",
        "drop-mid",
        "slow",
        "malformed-json",
        "empty-content",
        "null-content",
        "length",
        "no-choices",
        "html",
    }
    # Hostile bodies (oversized, gzip bomb, endless, nested too deeply): tests/test_bounded_responses.py
    tested |= {"huge-body", "gzip-bomb", "endless-body", "deep-json", "deep-json-400", "deep-json-429",
               "deep-json-500"}
    tested |= {"429-quota", "429-billing"}  # tests/test_quota.py
    assert tested == FAULT_KINDS


def test_match_times_and_attempt_identity(fake_server: FakeOpenAIServer, client: httpx.Client) -> None:
    fake_server.set_faults([Fault("500", match=r"^bad"), Fault("503", times=2)])
    assert client.post("/chat/completions", json=chat("bad input")).status_code == 500
    assert client.post("/chat/completions", json=chat("good a")).status_code == 503
    assert client.post("/chat/completions", json=chat("good b")).status_code == 503
    assert client.post("/chat/completions", json=chat("good c")).status_code == 200  # times=2 used up

    # the attempt number counts identical bodies; any parameter change is another request
    fake_server.reset()
    fake_server.set_faults([Fault("429", attempts={1}, retry_after=0)])
    assert client.post("/chat/completions", json=chat("q", temperature=0)).status_code == 429
    assert client.post("/chat/completions", json=chat("q", temperature=0)).status_code == 200
    assert client.post("/chat/completions", json=chat("q", temperature=1)).status_code == 429
    assert (
        client.post(
            "/chat/completions", json={"messages": chat("q")["messages"], "model": "test-model", "temperature": 0}
        ).status_code
        == 200
    )  # key order ignored
    assert [r.attempt for r in fake_server.chat_requests] == [1, 2, 1, 3]
    fake_server.reset()
    assert fake_server.count == 0 and fake_server.requests == []
    assert client.post("/chat/completions", json=chat("q", temperature=0)).status_code == 429


def test_fault_validation_and_json_form() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("418")
    with pytest.raises(ValueError, match="attempts"):
        Fault("500", attempts={0})
    with pytest.raises(ValueError, match="regex"):
        Fault("500", match="(")
    with pytest.raises(ValueError, match="unknown fault field"):
        parse_faults([{"kind": "500", "attempt": 1}])
    faults = parse_faults([{"kind": "429", "attempts": [1, 2], "retry_after": 0}, {"kind": "slow", "delay": 3}])
    assert faults == [Fault("429", attempts={1, 2}, retry_after=0), Fault("slow", delay=3)]
    assert parse_faults([f.to_dict() for f in faults]) == faults


# -- concurrency and introspection --------------------------------------------------------------------


def test_max_concurrency_answers_429_under_load() -> None:
    asyncio.run(_max_concurrency_scenario())


async def _max_concurrency_scenario() -> None:
    # the server runs in this event loop (async context manager), the client too
    async with FakeOpenAIServer(latency=0.3, max_concurrency=2) as srv:
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(verify=False, base_url=srv.base_url, limits=limits, timeout=5) as c:
            responses = await asyncio.gather(*(c.post("/chat/completions", json=chat(f"q{i}")) for i in range(8)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200] + [429] * 6
        refused = [r for r in responses if r.status_code == 429]
        assert all(r.headers["x-ratelimit-limit-requests"] == "2" for r in refused)
        assert all("retry-after" not in r.headers for r in refused)
        assert srv.peak_concurrency >= 3  # refused requests leave at once, so they overlap less
        assert sum(r.fault == "max-concurrency" for r in srv.requests) == 6


def test_peak_concurrency_is_counted() -> None:
    asyncio.run(_peak_concurrency_scenario())


async def _peak_concurrency_scenario() -> None:
    async with FakeOpenAIServer(latency=0.2) as srv:
        async with httpx.AsyncClient(verify=False, base_url=srv.base_url, timeout=5) as c:
            responses = await asyncio.gather(*(c.post("/chat/completions", json=chat(f"q{i}")) for i in range(5)))
            assert all(r.status_code == 200 for r in responses)
            assert srv.peak_concurrency == 5
            srv.latency = 0
            for i in range(3):
                await c.post("/chat/completions", json=chat(f"sequential {i}"))
        assert srv.peak_concurrency == 5
        assert srv.count == 8 and srv.in_flight == 0
        srv.reset()
        assert srv.peak_concurrency == 0


def test_latency_is_applied_without_blocking(fake_server: FakeOpenAIServer) -> None:
    fake_server.latency = 0.2
    fake_server.jitter = 0.05

    async def burst() -> float:
        async with httpx.AsyncClient(verify=False, base_url=fake_server.base_url, timeout=5) as c:
            start = time.perf_counter()
            await asyncio.gather(*(c.post("/chat/completions", json=chat(f"q{i}")) for i in range(6)))
            return time.perf_counter() - start

    elapsed = asyncio.run(burst())
    assert 0.2 <= elapsed < 1.0  # six concurrent requests take about one latency, not six


def test_records_keep_body_headers_and_timestamps(fake_server: FakeOpenAIServer, client: httpx.Client) -> None:
    before = time.time()
    client.post("/chat/completions", json=chat("recorded", seed=7), headers={"X-Trace": "abc"})
    (record,) = fake_server.requests
    assert record.method == "POST" and record.path == "/v1/chat/completions"
    assert record.body == chat("recorded", seed=7)
    assert record.last_user_message == "recorded"
    assert record.headers["x-trace"] == "abc"
    assert record.auth_present is False and record.auth_valid is None
    assert before <= record.timestamp <= time.time()
    assert (record.attempt, record.fault, record.status) == (1, None, 200)


def test_control_endpoints(fake_server: FakeOpenAIServer, client: httpx.Client) -> None:
    root = fake_server.url
    assert client.put(root + "/_evalkit/faults", json=[{"kind": "502", "attempts": [1]}]).status_code == 200
    assert client.post("/chat/completions", json=chat()).status_code == 502
    stats = client.get(root + "/_evalkit/stats").json()
    assert {k: stats[k] for k in ("count", "peak_concurrency", "in_flight")} == {"count": 1, "peak_concurrency": 1,
                                                                                 "in_flight": 0}
    assert client.post(root + "/_evalkit/reset").status_code == 200
    assert fake_server.count == 0
    assert client.put(root + "/_evalkit/faults", json=[{"kind": "nope"}]).status_code == 400


def test_start_stop_and_restart() -> None:
    srv = FakeOpenAIServer()
    srv.start()
    url = srv.base_url
    with httpx.Client(verify=False, timeout=5) as c:
        assert c.post(url + "/chat/completions", json=chat()).status_code == 200
        srv.stop()
        srv.stop()  # idempotent
        with pytest.raises(httpx.ConnectError):
            c.post(url + "/chat/completions", json=chat())
        with pytest.raises(RuntimeError, match="not running"):
            _ = srv.base_url
        with srv:
            assert c.post(srv.base_url + "/chat/completions", json=chat()).status_code == 200


# -- command line -------------------------------------------------------------------------------------


def test_command_line_mode(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps([{"pattern": "(?i)france", "answer": "Paris"}]), encoding="utf-8")
    faults_file = tmp_path / "faults.json"
    faults_file.write_text(json.dumps([{"kind": "503", "attempts": [1], "match": "retry"}]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evalkit.testing.server",
            "--port",
            "0",
            "--latency",
            "0.01",
            "--rules",
            str(rules_file),
            "--faults",
            str(faults_file),
            "--api-key",
            "k",
            "--max-concurrency",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:") and line.rstrip().endswith("/v1"), line
        base_url = line.split()[1]
        with httpx.Client(verify=False, base_url=base_url, headers={"Authorization": "Bearer k"}, timeout=5) as c:
            answer = c.post("/chat/completions", json=chat("Capital of France?")).json()
            assert answer["choices"][0]["message"]["content"] == "Paris"
            assert c.post("/chat/completions", json=chat("please retry")).status_code == 503
            assert c.post("/chat/completions", json=chat("please retry")).status_code == 200
            assert (
                c.post("/chat/completions", json=chat("x"), headers={"Authorization": "Bearer no"}).status_code == 401
            )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_command_line_rejects_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "faults.json"
    bad.write_text('[{"kind": "teapot"}]', encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        server_main(["--faults", str(bad)])
    assert exit_info.value.code == 2
    assert "unknown fault kind" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        server_main(["--rules", str(tmp_path / "missing.json")])
