"""Fault rules for the fake OpenAI server: what can go wrong, and when.

A :class:`Fault` says *what* goes wrong (``kind``), *for which requests* (``match``, a regex searched in
the last user message), *on which attempts* of one same request (``attempts``) and *how often in total*
(``times``). The server picks the first fault whose conditions hold for a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Kinds answered with an HTTP error status and an OpenAI-style error body.
ERROR_KINDS: Mapping[str, int] = {
    "429": 429,
    "429-date": 429,
    "429-bare": 429,
    "429-quota": 429,  # OpenAI's account without credit: type and code insufficient_quota, no x-ratelimit-*
    "429-billing": 429,  # OpenAI's billing code: type insufficient_quota, code credit_balance_exhausted
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

#: Kinds that break the transport or the body of an otherwise normal answer.
OTHER_KINDS: frozenset[str] = frozenset(
    {
        "drop",  # close the connection without any response
        "drop-mid",  # send the headers and half the body, then close the connection
        "slow",  # sleep ``delay`` seconds, then answer normally
        "malformed-json",  # 200, application/json, a truncated JSON document
        "no-choices",  # 200, a valid JSON object without ``choices``
        "empty-content",  # 200, message.content == ""
        "null-content",  # 200, message.content == null
        "html",  # 200, text/html error page
        "length",  # 200, finish_reason == "length"
        "huge-body",  # 200, a valid answer of ``size`` bytes (default 32 MiB)
        "gzip-bomb",  # 200, gzip-encoded: ``size`` bytes (default 1 GiB) of whitespace, then a valid answer
        "endless-body",  # 200, chunked, whitespace that never ends (until the client hangs up)
    }
)

#: Kinds answered with JSON nested ``size`` levels deep (default 100,000), and the status they use.
DEEP_JSON_KINDS: Mapping[str, int] = {
    "deep-json": 200,
    "deep-json-400": 400,
    "deep-json-429": 429,
    "deep-json-500": 500,
}

#: Every valid ``Fault.kind``.
FAULT_KINDS: frozenset[str] = frozenset(ERROR_KINDS) | OTHER_KINDS | frozenset(DEEP_JSON_KINDS)

_FIELDS = ("kind", "match", "attempts", "times", "retry_after", "delay", "size")


@dataclass(frozen=True)
class Fault:
    """One fault-injection rule.

    Attributes:
        kind: one of :data:`FAULT_KINDS` (``"429"``, ``"503"``, ``"drop"``, ``"slow"`` ...).
        match: regex searched (``re.search``) in the last user message; ``None`` matches every request.
        attempts: attempt numbers of one same request that get the fault, e.g. ``{1, 2}``; the attempt
            number counts how many times this exact body (model, messages and parameters) has been
            received, from 1. ``None`` means every attempt.
        times: stop applying this rule after it fired this many times in total (``None``: no cap).
        retry_after: seconds for the ``Retry-After`` header of ``429`` (default 1) and ``429-date``
            (default 1), also used for ``x-ratelimit-reset-requests``. ``429-bare`` never sends
            ``Retry-After``; the other error kinds (``503``, ``500``, ``429-quota``, ``429-billing`` ...)
            send it only when this is set.
        delay: seconds the ``slow`` kind waits before answering.
        size: bytes of a ``huge-body`` answer or of what a ``gzip-bomb`` expands to; nesting depth of
            ``deep-json*`` (``None``: the defaults in :mod:`evalkit.testing._hostile`).
    """

    kind: str
    match: str | None = None
    attempts: Collection[int] | None = None
    times: int | None = None
    retry_after: float | None = None
    delay: float = 2.0
    size: int | None = None
    pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid kinds: {', '.join(sorted(FAULT_KINDS))}")
        if self.attempts is not None:
            attempts = frozenset(self.attempts)
            if not attempts or any(not isinstance(a, int) or isinstance(a, bool) or a < 1 for a in attempts):
                raise ValueError(f"fault attempts must be positive integers, got {self.attempts!r}")
            object.__setattr__(self, "attempts", attempts)
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ValueError(f"fault times must be a positive integer, got {self.times!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"fault retry_after must be >= 0, got {self.retry_after!r}")
        if self.delay < 0:
            raise ValueError(f"fault delay must be >= 0, got {self.delay!r}")
        if self.size is not None and (not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1):
            raise ValueError(f"fault size must be a positive integer, got {self.size!r}")
        if self.match is not None:
            try:
                object.__setattr__(self, "pattern", re.compile(self.match))
            except re.error as exc:
                raise ValueError(f"fault match {self.match!r} is not a valid regex: {exc}") from None

    @property
    def status(self) -> int | None:
        """The HTTP status this fault answers with, or ``None`` for transport/body faults."""
        return ERROR_KINDS.get(self.kind, DEEP_JSON_KINDS.get(self.kind))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from a JSON object such as ``{"kind": "429", "attempts": [1, 2]}``.

        ``attempts`` may also be a single integer. Unknown keys are an error.
        """
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault field(s) {sorted(unknown)}; valid fields: {', '.join(_FIELDS)}")
        if "kind" not in data:
            raise ValueError("a fault needs a 'kind'")
        kwargs = dict(data)
        kwargs["kind"] = str(kwargs["kind"])
        attempts = kwargs.get("attempts")
        if isinstance(attempts, int) and not isinstance(attempts, bool):
            kwargs["attempts"] = {attempts}
        elif attempts is not None and not isinstance(attempts, list):
            raise ValueError(f"fault attempts must be a list of integers, got {attempts!r}")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form accepted by :meth:`from_dict`."""
        return {
            "kind": self.kind,
            "match": self.match,
            "attempts": sorted(self.attempts) if self.attempts is not None else None,
            "times": self.times,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "size": self.size,
        }


def parse_faults(data: Any) -> list[Fault]:
    """Faults from decoded JSON: a list of fault objects (see :meth:`Fault.from_dict`)."""
    if not isinstance(data, list):
        raise ValueError("faults must be a JSON list of objects")
    faults = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"fault #{i} must be a JSON object, got {item!r}")
        try:
            faults.append(Fault.from_dict(item))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fault #{i}: {exc}") from None
    return faults


def load_faults(path: str | Path) -> list[Fault]:
    """Faults from a JSON file holding a list of fault objects."""
    with open(path, encoding="utf-8") as fh:
        return parse_faults(json.load(fh))
