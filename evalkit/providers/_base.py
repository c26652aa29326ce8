"""The provider seam: a ``Request`` in, a ``Completion`` out, ``ProviderError`` on failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from evalkit.templating import Message


@dataclass(frozen=True)
class Request:
    messages: tuple[Message, ...]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    usage: Usage
    response_id: str | None
    latency_ms: float


class Provider(Protocol):
    """Anything that answers chat requests. ``identity`` goes into cache keys and manifests."""

    name: str
    model: str
    base_url: str
    max_concurrency: int | None  # a hard cap imposed by the provider (the local model runs one at a time)

    async def complete(self, request: Request) -> Completion: ...

    async def aclose(self) -> None: ...
