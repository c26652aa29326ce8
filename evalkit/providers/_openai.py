"""OpenAI-compatible ``POST /chat/completions`` over httpx (AI/ML API, vLLM, llama.cpp, Ollama...)."""

from __future__ import annotations

import json
import os
from time import perf_counter
from typing import Any

import httpx

from evalkit.errors import (
    AuthError,
    BadResponse,
    ClientError,
    RateLimited,
    ServerError,
    TransportError,
)
from evalkit.providers._base import Completion, Request, Usage
from evalkit.providers._retry import parse_retry_after

_RETRYABLE_STATUS = {408, 409, 425}


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    except (json.JSONDecodeError, ValueError):
        pass
    return response.text[:200].replace("\n", " ")


class OpenAIProvider:
    """Chat completions over HTTP. The API key is read from ``api_key_env`` and sent only as a header."""

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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        headers = {"Content-Type": "application/json", "User-Agent": "evalkit"}
        key = os.environ.get(api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
        )
        self._url = f"{self.base_url}/chat/completions"

    async def complete(self, request: Request) -> Completion:
        body: dict[str, Any] = {"model": self.model, "messages": list(request.messages), **request.params}
        start = perf_counter()
        try:
            response = await self._client.post(self._url, json=body)
        except httpx.TimeoutException as exc:
            raise TransportError(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {str(exc)[:200] or 'connection failed'}") from None
        latency_ms = (perf_counter() - start) * 1000
        self._raise_for_status(response)
        return self._parse(response, latency_ms)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        text = f"HTTP {status}: {_error_text(response)}"
        if status == 429:
            raise RateLimited(text, status, parse_retry_after(response.headers.get("retry-after")))
        if status in (401, 403):
            raise AuthError(
                f"HTTP {status}: authentication refused by {self.base_url}; "
                f"set the API key in the environment variable {self.api_key_env}",
                status,
            )
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise ServerError(text, status)
        raise ClientError(text, status)

    def _parse(self, response: httpx.Response, latency_ms: float) -> Completion:
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError):
            ctype = response.headers.get("content-type", "?")
            raise BadResponse(f"response is not JSON (content-type {ctype})", response.status_code) from None
        try:
            choice = body["choices"][0]
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BadResponse("response has no choices[0].message", response.status_code) from None
        if content is None or not isinstance(content, str):
            raise BadResponse("response message has no text content", response.status_code)
        usage = body.get("usage") or {}
        return Completion(
            text=content,
            finish_reason=choice.get("finish_reason"),
            usage=Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")),
            response_id=body.get("id"),
            latency_ms=latency_ms,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


