"""OpenAI-compatible ``POST /chat/completions`` (AI/ML API, vLLM, llama.cpp, Ollama, Together...).

Built on aiohttp: at 64 requests in flight against a local server it sustains ~10x the request
rate of httpx/httpcore, whose connection pool costs grow with the number of connections
(measured in benchmarks; see reports/benchmarks/latest.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from base64 import b64encode
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

import aiohttp

from evalkit.errors import (
    AuthError,
    BadResponse,
    ClientError,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    ServerError,
    TransportError,
    UsageError,
)
from evalkit.providers._base import Completion, Request, Usage
from evalkit.providers._body import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES, read_body
from evalkit.providers._retry import parse_rate_limit_reset, parse_retry_after
from evalkit.redact import Redactor, split_url_credentials

_RETRYABLE_STATUS = {408, 409, 425}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Error ``code``/``type`` values that say a 429 is about quota or billing, not the rate: OpenAI sends type
#: ``insufficient_quota`` with code ``insufficient_quota`` (or null, or one of the billing codes). Waiting does not
#: help; only credit, a higher limit or the next billing period does.
QUOTA_CODES = frozenset({
    "insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded", "organization_usage_limit_exceeded", "billing_hard_limit_reached",
    "billing_not_active",
})
#: Codes of a rate limit: they win over a quota ``type`` next to them.
RATE_CODES = frozenset({"rate_limit_exceeded", "slow_down"})
_WINDOW_HEADERS = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens")


def _error_fields(raw: bytes) -> tuple[str | None, str | None]:
    """(``error.type``, ``error.code``) of an OpenAI-style error body; None where absent or not a string."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, None
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None, None
    type_, code = err.get("type"), err.get("code")
    return (type_ if isinstance(type_, str) else None), (code if isinstance(code, str) else None)


def is_quota_refusal(headers: Mapping[str, str], raw: bytes) -> bool:
    """Whether a 429 (its headers, with lower-case names, and body) is about quota or billing, not the rate.

    Only a body that says so: its ``code`` is one of :data:`QUOTA_CODES`, or its ``type`` is and its code is not
    a rate limit's. A spent window (``x-ratelimit-remaining-requests`` or ``-tokens`` at 0) makes it a rate limit
    unless the code names a billing state outright (Azure OpenAI has answered per-minute saturation with type
    ``insufficient_quota``). A bare 429, or the AI/ML API's free-tier 429, is a rate limit."""
    type_, code = _error_fields(raw)
    if code in RATE_CODES:
        return False
    if code in QUOTA_CODES and code != "insufficient_quota":
        return True
    if code not in QUOTA_CODES and type_ not in QUOTA_CODES:
        return False
    return not any((headers.get(h) or "").strip() == "0" for h in _WINDOW_HEADERS)


def _error_text(status: int, raw: bytes, clip: Callable[[str, int], str]) -> str:
    # ``clip`` redacts the key, then cuts: a key straddling the cut-off must not leave half of itself.
    try:
        body = json.loads(raw)
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return clip(str(err["message"]), 300)
        if isinstance(err, str):
            return clip(err, 300)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested too deeply
        pass
    return clip(raw[:8192].decode("utf-8", "replace").replace("\n", " "), 200)


class OpenAIProvider:
    """Chat completions over HTTP. The API key is read from ``api_key_env`` and sent only as a header.

    A user name and password in ``base_url`` are sent as HTTP basic auth (when no key is set) and
    never shown: ``self.base_url``, which messages and manifests use, is the URL without them."""

    name = "openai"
    max_concurrency: int | None = None

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str,
        *,
        timeout: float = 60.0,
        concurrency: int = 8,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        clean_url, user, password = split_url_credentials(base_url)
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"the base URL must start with http:// or https:// (got {clean_url!r})")
        self.model = model
        self.base_url = clean_url.rstrip("/")
        self.api_key_env = api_key_env
        self._headers = {"Content-Type": "application/json", "User-Agent": "evalkit",
                         "Accept-Encoding": ACCEPT_ENCODING}
        self._max_response_bytes = max_response_bytes
        key = os.environ.get(api_key_env)
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        elif user or password:
            self._headers["Authorization"] = "Basic " + b64encode(f"{user or ''}:{password or ''}".encode()).decode()
        self._redact = Redactor([key, password])
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._url = f"{self.base_url}/chat/completions"

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily: a session belongs to the event loop that runs the requests.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency)
            # auto_decompress=False: read_body decodes gzip/deflate itself, with a bounded output.
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout, connector=connector, raise_for_status=False,
                auto_decompress=False,
            )
        return self._session

    async def complete(self, request: Request) -> Completion:
        try:
            return await self._complete(request)
        except ProviderError as exc:
            # Defence in depth: a server that echoes the key in an error body must not get it into
            # results, logs or the terminal.
            redacted = self._redact(exc.message)
            if redacted != exc.message:
                exc.message = redacted
                exc.args = (exc.message,)
            raise

    async def _complete(self, request: Request) -> Completion:
        body: dict[str, Any] = {"model": self.model, "messages": list(request.messages), **request.params}
        start = perf_counter()
        try:
            async with self._client().post(self._url, json=body) as response:
                raw = await read_body(response, self._max_response_bytes)
                status = response.status
                headers = response.headers
        except TimeoutError:
            raise TransportError("timed out") from None
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(f"cannot connect to {self.base_url}: {exc.os_error.strerror or exc}") from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError, ConnectionError) as exc:
            detail = self._redact.clip(str(exc), 200) or "connection failed"
            raise TransportError(f"{type(exc).__name__}: {detail}") from None
        latency_ms = (perf_counter() - start) * 1000
        self._raise_for_status(status, headers, raw)
        return self._parse(status, headers, raw, latency_ms)

    def _raise_for_status(self, status: int, headers: Any, raw: bytes) -> None:
        if status < 400:
            return
        said = _error_text(status, raw, self._redact.clip)
        text = f"HTTP {status}: {said}"
        if status == 429 and is_quota_refusal(headers, raw):
            type_, code = _error_fields(raw)
            raise QuotaExceeded(
                f"HTTP 429: quota or billing limit reached ({code or type_}) at {self.base_url}: {said.rstrip('. ')}; "
                "add credit or raise the limit with the provider, then run the same command again "
                "(retrying does not help)", status)
        if status == 429:
            # Retry-After first; OpenAI-style servers may send only x-ratelimit-reset-requests.
            wait = parse_retry_after(headers.get("retry-after"))
            if wait is None:
                wait = parse_rate_limit_reset(headers.get("x-ratelimit-reset-requests"))
            raise RateLimited(text, status, wait)
        if status in (401, 403):
            if "Authorization" in self._headers:
                hint = f"check the API key in the environment variable {self.api_key_env}"
            else:  # nothing was sent: the variable is empty (a suite's endpoint never gets a key)
                hint = (f"no key was sent: set the API key in the environment variable {self.api_key_env} "
                        f"and choose this endpoint with --base-url {self.base_url}")
            raise AuthError(f"HTTP {status}: authentication refused by {self.base_url}; {hint}", status)
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise ServerError(text, status, parse_retry_after(headers.get("retry-after")))
        raise ClientError(text, status)

    def _parse(self, status: int, headers: Any, raw: bytes, latency_ms: float) -> Completion:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            ctype = headers.get("content-type", "?")
            raise BadResponse(f"response is not JSON (content-type {ctype})", status) from None
        except RecursionError:
            raise BadResponse("response JSON is nested too deeply", status) from None
        try:
            choice = body["choices"][0]
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BadResponse("response has no choices[0].message", status) from None
        if content is None or not isinstance(content, str):
            raise BadResponse("response message has no text content", status)
        if _LONE_SURROGATE.search(content):
            # JSON may escape half a surrogate pair ("\ud800"): not text, and not writable as UTF-8.
            content = _LONE_SURROGATE.sub("\ufffd", content)
        usage = body.get("usage") or {}
        if not isinstance(usage, dict):
            usage = {}
        # Odd servers send odd types: keep what is well-typed, drop the rest (never crash on it).
        finish_reason = choice.get("finish_reason")
        return Completion(
            text=content,
            finish_reason=finish_reason if isinstance(finish_reason, str) else None,
            usage=Usage(*(_int_or_none(usage.get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))),
            response_id=body.get("id") if isinstance(body.get("id"), str) else None,
            latency_ms=latency_ms,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
