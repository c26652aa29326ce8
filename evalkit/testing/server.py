"""An OpenAI-compatible chat-completions server with fault injection, for evalkit's tests and benchmarks.

In-process (tests)::

    from evalkit.testing import Fault, FakeOpenAIServer

    with FakeOpenAIServer(api_key="sk-test") as server:
        server.set_faults([Fault("429", attempts={1, 2}, retry_after=0)])
        ...  # point a client at server.base_url ("http://127.0.0.1:PORT/v1")
        assert server.peak_concurrency <= 8

As a process (end-to-end tests, benchmarks)::

    python -m evalkit.testing.server --port 8765 --latency 0.2
    # prints "READY http://127.0.0.1:8765/v1" once listening; stops on SIGTERM / SIGINT

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health``, and for a server run as a
process ``GET /_evalkit/stats``, ``POST /_evalkit/reset`` and ``PUT /_evalkit/faults`` (a JSON list of
faults). Requests to ``/health`` and ``/_evalkit/*`` are neither authenticated nor recorded.

aiohttp is a test/benchmark dependency of evalkit, not a runtime one: import this module only from
tests, benchmarks and the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import math
import random
import secrets
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from types import TracebackType
from typing import Any

from aiohttp import web

from evalkit.testing import _hostile
from evalkit.testing._bucket import TokenBucket
from evalkit.testing._faults import DEEP_JSON_KINDS, ERROR_KINDS, Fault, load_faults, parse_faults
from evalkit.testing._responders import Reply, Responder, echo, last_user_message, load_rules, message_text

__all__ = ["DEFAULT_MODEL", "FakeOpenAIServer", "RecordedRequest", "main"]

logger = logging.getLogger("evalkit.testing.server")

DEFAULT_MODEL = "evalkit-test-model"

#: Fault recorded for requests refused because ``max_concurrency`` requests were already in flight.
MAX_CONCURRENCY_FAULT = "max-concurrency"

#: Fault recorded for requests refused because they exceeded ``rate_limit`` requests per second.
RATE_LIMIT_FAULT = "rate-limit"

_CHAT_PATH = "/v1/chat/completions"
_MODELS_PATH = "/v1/models"
_HEALTH_PATH = "/health"
_KNOWN_PATHS = frozenset({_CHAT_PATH, _MODELS_PATH, _HEALTH_PATH})

# status -> (error.type, error.code, error.message), modelled on OpenAI's error bodies.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", "unsupported_country_region_territory", "You are not allowed to do this."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access."),
    405: ("invalid_request_error", None, "Method not allowed."),
    408: ("timeout", None, "Request timed out."),
    409: ("conflict", None, "The request conflicts with another request."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
    504: ("server_error", None, "Gateway timeout."),
}

#: 429s about quota or billing, as OpenAI sends them (type, code, message): no x-ratelimit-* headers.
_QUOTA_ERRORS: dict[str, tuple[str, str, str]] = {
    "429-quota": ("insufficient_quota", "insufficient_quota",
                  "You exceeded your current quota, please check your plan and billing details."),
    "429-billing": ("insufficient_quota", "credit_balance_exhausted",
                    "Your credit balance is exhausted: add credits to continue."),
}

_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)

_NUMBER_PARAMS: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_INT_PARAMS: dict[str, int] = {"max_tokens": 1, "max_completion_tokens": 1, "n": 1, "seed": -(2**63)}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it.

    Attributes:
        timestamp: ``time.time()`` when the request arrived.
        method: HTTP method.
        path: URL path, e.g. ``"/v1/chat/completions"``.
        headers: request headers with lower-cased names, *without* ``authorization``.
        auth_present: whether an ``Authorization`` header was sent.
        auth_valid: whether it matched ``Bearer <api_key>``; ``None`` when the server has no api_key.
        body: the parsed JSON body, or ``None`` (GET, unparsable body, or refused before reading).
        attempt: how many times this exact chat request had been received, this one included
            (``None`` for requests that were not valid chat requests).
        fault: the fault kind applied (``"429"``, ``"drop"``, ... or ``"max-concurrency"``), else ``None``.
        status: HTTP status sent; ``None`` when the connection was dropped before any response.
    """

    timestamp: float
    method: str
    path: str
    headers: dict[str, str]
    auth_present: bool
    auth_valid: bool | None
    body: Any
    attempt: int | None
    fault: str | None
    status: int | None

    @property
    def last_user_message(self) -> str:
        """The last user message of a chat request ("" otherwise)."""
        return last_user_message(self.body) if isinstance(self.body, dict) else ""


def _error_payload(status: int, message: str | None = None, param: str | None = None) -> dict[str, Any]:
    type_, code, default_message = _ERRORS.get(status, ("server_error", None, "Error."))
    return {"error": {"message": message or default_message, "type": type_, "param": param, "code": code}}


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _format_seconds(seconds: float) -> str:
    """``Retry-After`` seconds: an integer when whole ("2"), else a decimal ("0.25")."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _format_reset(seconds: float) -> str:
    """OpenAI's ``x-ratelimit-reset-requests`` format: ``"20ms"``, ``"1s"``, ``"1.5s"``, ``"6m0s"``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:g}s"


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _validate(body: Any) -> tuple[str, str | None] | None:
    """Why a chat-completions body is invalid, as ``(message, param)``; ``None`` when it is fine."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object.", None
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array of message objects", "messages"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return f"messages[{i}] must be an object with a string 'role'", f"messages.[{i}]"
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            return f"messages[{i}].content must be a string or an array of content parts", f"messages.[{i}]"
    for name, (low, high) in _NUMBER_PARAMS.items():
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high
        ):
            return f"'{name}' must be a number between {low:g} and {high:g}", name
    for name, low in _INT_PARAMS.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            return f"'{name}' must be an integer >= {low}", name
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and (not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop))
    ):
        return "'stop' must be a string or an array of at most 4 strings", "stop"
    if body.get("stream"):
        return "stream=true is not supported by evalkit's test server", "stream"
    return None


def _request_key(body: dict[str, Any]) -> bytes:
    """Identity of a chat request for attempt counting: a hash of its canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


class FakeOpenAIServer:
    """An OpenAI-compatible chat-completions server with fault injection.

    Run it in a background thread (``start()``/``stop()`` or ``with``), inside a running event loop
    (``await start_async()``/``await stop_async()`` or ``async with``), or embed :meth:`make_app`.
    Faults, responder, ``latency``, ``jitter``, ``max_concurrency`` and ``api_key`` can be changed
    while it runs; the introspection accessors are thread-safe.

    Args:
        responder: makes the answers (default :func:`~evalkit.testing.echo`).
        model: model name listed by ``GET /v1/models``. Any requested model is accepted and echoed.
        api_key: when set, ``/v1/*`` requests need ``Authorization: Bearer <api_key>`` (else 401).
        latency: seconds to wait before answering each chat request.
        jitter: up to this many extra seconds (uniformly random) on top of ``latency``.
        faults: fault rules; the first one matching a request applies.
        max_concurrency: chat requests arriving while this many are in flight get a 429.
        concurrency_retry_after: ``Retry-After`` seconds sent with those 429s (``None``: no header).
        rate_limit: chat requests beyond this many per second (a token bucket) get a 429 at once, with
            ``Retry-After`` the whole seconds until a request would be allowed (at least 1), as hosted
            APIs answer; ``None``: no rate limit.
        rate_limit_burst: requests the bucket lets through at once (default: one second's worth).
        host: address to listen on.
        port: port to listen on; 0 picks a free one (see :attr:`port`).
        seed: seed for the jitter.
        max_records: keep only this many recorded requests (``None``: all; 0: none).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: Iterable[Fault] = (),
        max_concurrency: int | None = None,
        concurrency_retry_after: float | None = None,
        rate_limit: float | None = None,
        rate_limit_burst: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        max_records: int | None = None,
    ) -> None:
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.model = model
        self.api_key = api_key
        self.latency = latency
        self.jitter = jitter
        self.max_concurrency = max_concurrency
        self.concurrency_retry_after = concurrency_retry_after
        self._bucket = TokenBucket(rate_limit, rate_limit_burst) if rate_limit is not None else None
        self._rate_refused = 0
        self.host = host
        self._requested_port = port
        self._responder: Responder = responder or echo
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults: tuple[Fault, ...] = tuple(faults)
        self._fault_hits: list[int] = [0] * len(self._faults)
        self._attempts: dict[bytes, int] = {}
        self._max_records = max_records
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)
        self._count = 0
        self._in_flight = 0
        self._peak = 0
        self._first_arrival: float | None = None  # wall clock of the first chat request since reset
        self._last_answer: float | None = None  # wall clock when the latest chat request was done
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(6)
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------------

    def set_faults(self, faults: Iterable[Fault]) -> None:
        """Replace the fault rules (their ``times`` counters restart; attempt numbers do not)."""
        new = tuple(faults)
        with self._lock:
            self._faults = new
            self._fault_hits = [0] * len(new)

    def set_responder(self, responder: Responder) -> None:
        """Replace the responder."""
        self._responder = responder

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The current fault rules."""
        return self._faults

    # -- introspection -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the recorded requests, oldest first (``/health`` and ``/_evalkit/*`` excluded)."""
        with self._lock:
            return list(self._records)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/chat/completions`` requests."""
        return [r for r in self.requests if r.path == _CHAT_PATH]

    @property
    def count(self) -> int:
        """How many requests were received (recorded or not) since start or :meth:`reset`."""
        with self._lock:
            return self._count

    @property
    def peak_concurrency(self) -> int:
        """The most chat requests that were in flight at once (refused ones included)."""
        with self._lock:
            return self._peak

    @property
    def in_flight(self) -> int:
        """Chat requests being handled right now."""
        return self._in_flight

    def reset(self) -> None:
        """Forget recorded requests, counts, peak concurrency, attempt numbers and fault counters."""
        with self._lock:
            self._records.clear()
            self._count = 0
            self._peak = self._in_flight
            self._first_arrival = self._last_answer = None
            self._rate_refused = 0
            if self._bucket is not None:
                self._bucket.refill()
            self._attempts.clear()
            self._fault_hits = [0] * len(self._faults)

    def stats(self) -> dict[str, float | int | None]:
        """``count``, ``peak_concurrency``, ``in_flight``, the wall-clock times (``time.time()``) of the
        first chat request's arrival and of the latest answer, and ``rate_limited`` (requests refused by
        ``rate_limit``), in one dict."""
        with self._lock:
            return {"count": self._count, "peak_concurrency": self._peak, "in_flight": self._in_flight,
                    "first_arrival": self._first_arrival, "last_answer": self._last_answer,
                    "rate_limited": self._rate_refused}

    # -- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (only once started)."""
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (a wildcard host is shown as the loopback address)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL: ``http://HOST:PORT/v1``."""
        return f"{self.url}/v1"

    # -- lifecycle -------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application serving this server's endpoints."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(_CHAT_PATH, self._handle_chat)
        app.router.add_get(_MODELS_PATH, self._handle_models)
        app.router.add_get(_HEALTH_PATH, self._handle_health)
        app.router.add_get("/_evalkit/stats", self._handle_stats)
        app.router.add_post("/_evalkit/reset", self._handle_reset)
        app.router.add_put("/_evalkit/faults", self._handle_set_faults)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        return app

    async def start_async(self) -> None:
        """Start listening in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.25)
        await runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            site = web.SockSite(runner, sock, backlog=2048)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def stop_async(self) -> None:
        """Stop listening; requests still in flight after 0.25 s are cancelled."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start_async()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    def start(self, timeout: float = 10.0) -> FakeOpenAIServer:
        """Run the server in a background thread with its own event loop; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []
        thread = threading.Thread(
            target=self._thread_main, args=(loop, ready, errors), name="fake-openai-server", daemon=True
        )
        thread.start()
        if not ready.wait(timeout):
            loop.call_soon_threadsafe(loop.stop)
            raise RuntimeError("the fake OpenAI server did not start in time")
        if errors:
            thread.join()
            raise errors[0]
        self._loop, self._thread = loop, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background server (no-op when not running)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _thread_main(
        self, loop: asyncio.AbstractEventLoop, ready: threading.Event, errors: list[BaseException]
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                errors.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    # -- request handling ------------------------------------------------------------------------

    def _auth(self, request: web.BaseRequest) -> tuple[bool, bool | None]:
        """``(header present, header valid)``; valid is ``None`` when no api_key is configured."""
        header = request.headers.get("Authorization")
        key = self.api_key
        if key is None:
            return header is not None, None
        return header is not None, header == f"Bearer {key}"

    def _record(
        self,
        request: web.BaseRequest,
        arrived: float,
        auth: tuple[bool, bool | None],
        body: Any,
        attempt: int | None,
        fault: str | None,
        status: int | None,
    ) -> None:
        if self._max_records == 0:
            with self._lock:
                self._count += 1
            return
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(
            arrived, request.method, request.path, headers, auth[0], auth[1], body, attempt, fault, status
        )
        with self._lock:
            self._count += 1
            self._records.append(record)

    def _unauthorized(self, request: web.BaseRequest, arrived: float, auth: tuple[bool, bool | None]) -> web.Response:
        message = (
            "Incorrect API key provided."
            if auth[0]
            else "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
        self._record(request, arrived, auth, None, None, None, 401)
        return _json_response(_error_payload(401, message), 401)

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        with self._lock:
            self._in_flight += 1
            if self._in_flight > self._peak:
                self._peak = self._in_flight
            if self._first_arrival is None:
                self._first_arrival = arrived
        try:
            return await self._chat(request, arrived)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._last_answer = time.time()

    async def _chat(self, request: web.Request, arrived: float) -> web.StreamResponse:
        auth = self._auth(request)
        if auth[1] is False:
            return self._unauthorized(request, arrived, auth)
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            self._record(request, arrived, auth, None, None, None, 400)
            return _json_response(_error_payload(400, "The request body is not valid JSON."), 400)
        problem = _validate(body)
        if problem is not None:
            self._record(request, arrived, auth, body, None, None, 400)
            return _json_response(_error_payload(400, problem[0], problem[1]), 400)

        key = _request_key(body)
        fault: Fault | None = None
        with self._lock:
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
            limit = self.max_concurrency
            refused = limit is not None and self._in_flight > limit
            over_rate = self._bucket.take() if self._bucket is not None and not refused else None
            if over_rate is not None:
                self._rate_refused += 1
                refused = True
            if not refused and self._faults:
                fault = self._pick_fault(body, attempt)
        if over_rate is not None:
            self._record(request, arrived, auth, body, attempt, RATE_LIMIT_FAULT, 429)
            return self._rate_limited(float(max(1, math.ceil(over_rate))), "429", RATE_LIMIT_FAULT)
        if refused:
            self._record(request, arrived, auth, body, attempt, MAX_CONCURRENCY_FAULT, 429)
            retry_after = self.concurrency_retry_after
            style = "429" if retry_after is not None else "429-bare"
            return self._rate_limited(retry_after, style, MAX_CONCURRENCY_FAULT)

        delay = self.latency
        if self.jitter:
            delay += self._rng.uniform(0.0, self.jitter)
        if fault is not None and fault.kind == "slow":
            delay += fault.delay
        if delay > 0:
            await asyncio.sleep(delay)

        kind = fault.kind if fault is not None else None
        if fault is not None and fault.kind in DEEP_JSON_KINDS:
            status = DEEP_JSON_KINDS[fault.kind]
            self._record(request, arrived, auth, body, attempt, kind, status)
            return self._deep_json(fault, status)
        if fault is not None and fault.kind in ERROR_KINDS:
            status = ERROR_KINDS[fault.kind]
            self._record(request, arrived, auth, body, attempt, kind, status)
            return self._error_fault(fault, status)
        if kind == "drop":
            self._record(request, arrived, auth, body, attempt, kind, None)
            if request.transport is not None:
                request.transport.close()
            return web.Response()  # never written: aiohttp ignores the closed transport
        if kind == "html":
            self._record(request, arrived, auth, body, attempt, kind, 200)
            return web.Response(text=_HTML_PAGE, content_type="text/html", headers={"x-evalkit-fault": "html"})

        if kind == "endless-body":
            self._record(request, arrived, auth, body, attempt, kind, 200)
            return await self._endless(request)
        payload = self._completion(body, kind)
        if payload is None:
            self._record(request, arrived, auth, body, attempt, kind, 500)
            return _json_response(_error_payload(500, "The test server's responder failed."), 500)
        data = json.dumps(payload, ensure_ascii=False).encode()
        if fault is not None and kind in ("huge-body", "gzip-bomb"):
            self._record(request, arrived, auth, body, attempt, kind, 200)
            return self._oversized(fault, payload, data)
        if kind is None:
            self._record(request, arrived, auth, body, attempt, None, 200)
            return web.Response(body=data, content_type="application/json")
        headers = {"x-evalkit-fault": kind}
        if kind == "malformed-json":
            self._record(request, arrived, auth, body, attempt, kind, 200)
            return web.Response(body=data[: len(data) // 2], content_type="application/json", headers=headers)
        if kind == "drop-mid":
            self._record(request, arrived, auth, body, attempt, kind, 200)
            response = web.StreamResponse(status=200, headers=headers)
            response.content_type = "application/json"
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            if request.transport is not None:
                request.transport.close()
            return response
        self._record(request, arrived, auth, body, attempt, kind, 200)
        return web.Response(body=data, content_type="application/json", headers=headers)

    def _pick_fault(self, body: dict[str, Any], attempt: int) -> Fault | None:
        """The first applicable fault (its ``times`` counter is bumped). Call with the lock held."""
        text: str | None = None
        for i, fault in enumerate(self._faults):
            if fault.attempts is not None and attempt not in fault.attempts:
                continue
            if fault.times is not None and self._fault_hits[i] >= fault.times:
                continue
            if fault.pattern is not None:
                if text is None:
                    text = last_user_message(body)
                if not fault.pattern.search(text):
                    continue
            self._fault_hits[i] += 1
            return fault
        return None

    def _rate_limited(self, retry_after: float | None, kind: str, fault: str | None) -> web.Response:
        headers = {
            "x-ratelimit-limit-requests": str(self.max_concurrency or 60),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": _format_reset(retry_after if retry_after is not None else 1.0),
        }
        if kind == "429":
            headers["Retry-After"] = _format_seconds(retry_after if retry_after is not None else 1.0)
        elif kind == "429-date":
            seconds = retry_after if retry_after is not None else 1.0
            headers["Retry-After"] = formatdate(math.ceil(time.time() + seconds), usegmt=True)
        if fault is not None:
            headers["x-evalkit-fault"] = fault
        return _json_response(_error_payload(429), 429, headers)

    def _error_fault(self, fault: Fault, status: int) -> web.Response:
        if fault.kind in _QUOTA_ERRORS:
            headers = {"x-evalkit-fault": fault.kind}
            if fault.retry_after is not None:
                headers["Retry-After"] = _format_seconds(fault.retry_after)
            type_, code, message = _QUOTA_ERRORS[fault.kind]
            return _json_response({"error": {"message": message, "type": type_, "param": None, "code": code}},
                                  status, headers)
        if status == 429:
            return self._rate_limited(fault.retry_after, fault.kind, fault.kind)
        headers = {"x-evalkit-fault": fault.kind}
        if fault.retry_after is not None:
            headers["Retry-After"] = _format_seconds(fault.retry_after)
        return _json_response(_error_payload(status, f"Injected fault {fault.kind}."), status, headers)

    def _deep_json(self, fault: Fault, status: int) -> web.Response:
        headers = {"x-evalkit-fault": fault.kind}
        if fault.retry_after is not None or status == 429:
            headers["Retry-After"] = _format_seconds(fault.retry_after if fault.retry_after is not None else 1.0)
        data = _hostile.deep_json(fault.size or _hostile.DEEP_JSON_DEPTH)
        return web.Response(body=data, status=status, content_type="application/json", headers=headers)

    def _oversized(self, fault: Fault, payload: dict[str, Any], data: bytes) -> web.Response:
        headers = {"x-evalkit-fault": fault.kind}
        if fault.kind == "huge-body":
            data = _hostile.huge_completion(payload, fault.size or _hostile.HUGE_BODY_SIZE)
        else:
            data = _hostile.gzip_bomb(data, fault.size or _hostile.GZIP_BOMB_SIZE)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=data, content_type="application/json", headers=headers)

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"x-evalkit-fault": "endless-body"})
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        # Until the client hangs up (the write fails) or the server stops (this task is cancelled).
        with contextlib.suppress(ConnectionError):
            while request.transport is not None and not request.transport.is_closing():
                await response.write(_hostile.ENDLESS_CHUNK)
        return response

    def _completion(self, body: dict[str, Any], kind: str | None) -> dict[str, Any] | None:
        """The chat.completion payload for ``body`` (``None`` when the responder fails)."""
        try:
            result = self._responder(body)
        except Exception:
            logger.exception("the responder raised")
            return None
        if isinstance(result, Reply):
            text, finish_reason = result.content, result.finish_reason
        elif isinstance(result, str):
            text, finish_reason = result, "stop"
        else:
            logger.error("the responder returned %r, not a str or Reply", type(result).__name__)
            return None
        stop = body.get("stop")
        if stop:
            found = [i for s in ([stop] if isinstance(stop, str) else stop) if s and (i := text.find(s)) >= 0]
            if found:
                text, finish_reason = text[: min(found)], "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit is not None:
            words = text.split()
            if len(words) > limit:
                text, finish_reason = " ".join(words[:limit]), "length"
        content: str | None = text
        if kind == "empty-content":
            content = ""
        elif kind == "null-content":
            content = None
        elif kind == "length":
            finish_reason = "length"
        n = body.get("n") or 1
        prompt_tokens = sum(_words(message_text(m.get("content"))) for m in body["messages"])
        completion_tokens = _words(content) * n
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{self._id_prefix}{next(self._ids):010d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_evalkit",
        }
        if kind == "no-choices":
            del payload["choices"]
        return payload

    async def _handle_models(self, request: web.Request) -> web.Response:
        arrived = time.time()
        auth = self._auth(request)
        if auth[1] is False:
            return self._unauthorized(request, arrived, auth)
        self._record(request, arrived, auth, None, None, None, 200)
        return _json_response(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "evalkit"}],
            }
        )

    async def _handle_health(self, request: web.Request) -> web.Response:
        return _json_response({"status": "ok"})

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return _json_response(self.stats())

    async def _handle_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json_response({"status": "ok"})

    async def _handle_set_faults(self, request: web.Request) -> web.Response:
        try:
            faults = parse_faults(json.loads(await request.read()))
        except ValueError as exc:
            return _json_response(_error_payload(400, str(exc)), 400)
        self.set_faults(faults)
        return _json_response({"status": "ok", "faults": len(faults)})

    async def _handle_other(self, request: web.Request) -> web.Response:
        status = 405 if request.path in _KNOWN_PATHS else 404
        message = (
            f"Method {request.method} is not allowed on {request.path}."
            if status == 405
            else f"Unknown path {request.path}."
        )
        auth = self._auth(request)
        self._record(request, time.time(), auth, None, None, None, status)
        payload = _error_payload(status, message)
        payload["error"]["code"] = None
        return _json_response(payload, status)


# -- command line ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evalkit.testing.server",
        description="OpenAI-compatible chat-completions test server with fault injection. "
        "Prints 'READY <base_url>' once listening; stops on SIGTERM or SIGINT.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name listed by /v1/models")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--jitter", type=float, default=0.0, help="up to this many extra random seconds")
    parser.add_argument("--seed", type=int, default=None, help="seed for the jitter")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--responder", choices=["echo"], default="echo", help="built-in responder")
    group.add_argument(
        "--rules",
        metavar="FILE",
        help='JSON list of {"pattern": REGEX, "answer": TEXT} (or {"rules": [...], "default": TEXT})',
    )
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--max-concurrency", type=int, default=None, help="429 beyond N requests in flight")
    parser.add_argument(
        "--concurrency-retry-after",
        type=float,
        default=None,
        help="Retry-After seconds on max-concurrency 429s (default: none)",
    )
    parser.add_argument("--rate-limit", type=float, default=None, metavar="N",
                        help="429 (Retry-After: whole seconds) beyond N requests per second (a token bucket)")
    parser.add_argument("--rate-limit-burst", type=int, default=None, metavar="B",
                        help="requests the rate limit lets through at once (default: N)")
    parser.add_argument("--faults", metavar="FILE", help="JSON list of fault objects")
    parser.add_argument(
        "--max-records", type=int, default=10_000, help="recorded requests kept in memory (default 10000)"
    )
    return parser


async def _serve(server: FakeOpenAIServer) -> None:
    await server.start_async()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    print(f"READY {server.base_url}", flush=True)
    try:
        await stopping.wait()
    finally:
        await server.stop_async()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m evalkit.testing.server --help``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        responder = load_rules(args.rules) if args.rules else echo
        faults = load_faults(args.faults) if args.faults else []
        server = FakeOpenAIServer(
            responder,
            model=args.model,
            api_key=args.api_key,
            latency=args.latency,
            jitter=args.jitter,
            faults=faults,
            max_concurrency=args.max_concurrency,
            concurrency_retry_after=args.concurrency_retry_after,
            rate_limit=args.rate_limit,
            rate_limit_burst=args.rate_limit_burst,
            host=args.host,
            port=args.port,
            seed=args.seed,
            max_records=args.max_records,
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
