"""Stage 2, send: each pending item's request, answered from the cache when it can be, else by the provider.

* ``Requests`` gives every item its parameters and cache key: the suite's parameters, with the item's own seed
  (``Item.seed``: repeat r > 0 sends a seed derived from the suite's, see ``evalkit.items.repeat_seed``).
* ``serve`` is the workers' queue: with a cache, items are looked up a batch at a time and those whose response
  and scores are both cached are written at once, without a request, a task or the limiter.
* ``Sender`` sends one request under the concurrency limit, retrying as the retry policy says, and gives up
  (``Unfinished``) as soon as a stop is requested.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from evalkit.cache import ResponseCache, response_keys
from evalkit.errors import AuthError, ProviderError
from evalkit.items import Item
from evalkit.providers import AdaptiveLimiter, Completion, Provider, Request, RetryPolicy

HIT_BATCH = 256  # items looked up in the cache together; their cache hits are written without a request


class Unfinished(Exception):
    """A stop was requested before this item got an answer: it is left for the resume."""


@dataclass(frozen=True)
class Todo:
    """An item for the request path: its cache key and, when only its scores are missing, its cached response."""

    item: Item
    key: str
    completion: Completion | None = None


class Requests:
    """Request parameters and cache keys. An item's seed replaces the suite's; both are built once per seed, so
    per item this is a dictionary look-up (and repeat 0, which sends the suite's seed, keeps its old keys)."""

    def __init__(self, endpoint: str, model: str, params: dict[str, Any]) -> None:
        self.endpoint, self.model, self.params = endpoint, model, params
        self._by_seed: dict[int | None, tuple[dict[str, Any], Callable[[Any, int], str]]] = {}

    def _for(self, seed: int | None) -> tuple[dict[str, Any], Callable[[Any, int], str]]:
        got = self._by_seed.get(seed)
        if got is None:
            params = self.params if seed is None or self.params.get("seed") == seed else {**self.params, "seed": seed}
            got = self._by_seed[seed] = (params, response_keys(self.endpoint, self.model, params))
        return got

    def params_for(self, item: Item) -> dict[str, Any]:
        return self._for(item.seed)[0]

    def key(self, item: Item) -> str:
        return self._for(item.seed)[1](item.messages, item.repeat)


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


WriteHit = Callable[[Item, Completion, dict[str, Any]], None]


def serve(items: Iterator[Item], cache: ResponseCache | None, requests: Requests,
          score_key: Callable[[Item, str], str], write_hit: WriteHit) -> Iterator[Todo | None]:
    """The workers' queue. ``None`` after each batch lets the worker that asked yield to the event loop."""
    if cache is None:
        for item in items:
            yield Todo(item, requests.key(item))
        return
    for batch in _batches(items, HIT_BATCH):
        yield from _serve_batch(batch, cache, requests, score_key, write_hit)
        yield None


def _serve_batch(batch: list[Item], cache: ResponseCache, requests: Requests,
                 score_key: Callable[[Item, str], str], write_hit: WriteHit) -> Iterator[Todo]:
    keys = [requests.key(item) for item in batch]
    responses = cache.get_many(keys)
    skeys = [
        score_key(item, responses[key].text) if key in responses else None
        for item, key in zip(batch, keys, strict=True)
    ]
    scores = cache.get_scores_many(k for k in skeys if k is not None)
    for item, key, skey in zip(batch, keys, skeys, strict=True):
        completion = responses.get(key)
        hit = scores.get(skey) if skey is not None else None
        if completion is not None and hit is not None:
            write_hit(item, completion, hit)
        else:
            yield Todo(item, key, completion)


class Sender:
    """Sends requests under the run's concurrency limit, with retries, until a stop is requested."""

    def __init__(self, provider: Provider, limiter: AdaptiveLimiter, policy: RetryPolicy, requests: Requests,
                 stop: asyncio.Event) -> None:
        self.provider, self.limiter, self.policy, self.requests, self.stop = provider, limiter, policy, requests, stop

    async def send(self, item: Item) -> tuple[Completion | None, ProviderError | None, int]:
        """(the answer, or the error that ended the item; attempts made). Raises ``Unfinished`` when stopped and
        ``AuthError`` at once (every further request would be refused the same way)."""
        request = Request(item.messages, self.requests.params_for(item))
        limiter = self.limiter
        attempt = 0
        while True:
            attempt += 1
            await limiter.acquire(attempt)
            if self.stop.is_set():  # stopped while waiting for a slot: send nothing new
                await limiter.release()
                raise Unfinished
            try:
                completion = await self.provider.complete(request)
            except ProviderError as exc:
                await limiter.release(exc)
                if isinstance(exc, AuthError):
                    raise
                delay = self.policy.delay(exc, attempt)
                if delay is None:
                    return None, exc, attempt
                if await self._stopped_within(delay):
                    raise Unfinished from None
                continue
            await limiter.release()
            return completion, None, attempt

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds`` (a retry delay) unless a stop is requested first."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True
