"""Test helpers for evalkit and its users: an OpenAI-compatible fake server with fault injection.

``FakeOpenAIServer`` needs aiohttp (a test/benchmark dependency, not a runtime one); it is imported
lazily so that ``python -m evalkit.testing.server`` runs without importing the module twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evalkit.testing._faults import FAULT_KINDS, Fault, load_faults, parse_faults
from evalkit.testing._responders import (
    Reply,
    Responder,
    echo,
    last_user_message,
    load_rules,
    parse_rules,
    rules,
)

if TYPE_CHECKING:
    from evalkit.testing.server import FakeOpenAIServer, RecordedRequest

__all__ = [
    "FAULT_KINDS",
    "FakeOpenAIServer",
    "Fault",
    "RecordedRequest",
    "Reply",
    "Responder",
    "echo",
    "last_user_message",
    "load_faults",
    "load_rules",
    "parse_faults",
    "parse_rules",
    "rules",
]

_LAZY = frozenset({"FakeOpenAIServer", "RecordedRequest"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from evalkit.testing import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
