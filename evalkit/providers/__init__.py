"""Providers answer chat requests: an OpenAI-compatible HTTP client and the embedded local model."""

from __future__ import annotations

from evalkit.providers._base import Completion, Provider, Request, Usage
from evalkit.providers._openai import OpenAIProvider
from evalkit.providers._retry import AdaptiveLimiter, RetryPolicy, complete_with_retries, parse_retry_after
from evalkit.providers._waits import WaitWatch
from evalkit.suite import ModelSpec

__all__ = [
    "AdaptiveLimiter",
    "Completion",
    "OpenAIProvider",
    "Provider",
    "Request",
    "RetryPolicy",
    "Usage",
    "WaitWatch",
    "complete_with_retries",
    "make_provider",
    "parse_retry_after",
]


def make_provider(spec: ModelSpec, *, concurrency: int | None = None) -> Provider:
    """Build the provider a model spec names. The local provider's heavy imports happen only here."""
    if spec.resolved_provider == "local":
        from evalkit.providers._local import LocalProvider

        return LocalProvider.from_spec(spec)
    return OpenAIProvider(
        spec.name,
        spec.base_url,
        spec.api_key_env,
        timeout=spec.timeout,
        concurrency=concurrency or spec.concurrency,
        max_response_bytes=spec.max_response_bytes,
    )
