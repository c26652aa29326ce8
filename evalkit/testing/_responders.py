"""Responders: what the fake OpenAI server answers.

A responder is any callable taking the parsed request JSON and returning the assistant's text, or a
:class:`Reply` when it also wants to choose the ``finish_reason``. It runs on the server's event loop,
so it must be quick and must not block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    """An answer with an explicit ``finish_reason`` (``"stop"``, ``"length"``, ...)."""

    content: str
    finish_reason: str = "stop"


#: ``responder(request_json) -> str | Reply``.
Responder = Callable[[dict[str, Any]], str | Reply]

DEFAULT_ANSWER = "I don't know."


def message_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def last_user_message(request: dict[str, Any]) -> str:
    """The text of the last ``role: "user"`` message of a chat request ("" when there is none)."""
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return message_text(message.get("content"))
    return ""


def echo(request: dict[str, Any]) -> str:
    """Responder answering with the last user message, unchanged."""
    return last_user_message(request)


def rules(
    pairs: Iterable[tuple[str | re.Pattern[str], str | Reply]], default: str | Reply = DEFAULT_ANSWER
) -> Responder:
    """Responder applying ``(regex, answer)`` pairs to the last user message: the first match wins.

    Each regex is searched (``re.search``) in the last user message; ``default`` answers when none
    matches. Patterns are compiled once, here.
    """
    compiled = [(re.compile(pattern), answer) for pattern, answer in pairs]

    def respond(request: dict[str, Any]) -> str | Reply:
        text = last_user_message(request)
        for pattern, answer in compiled:
            if pattern.search(text):
                return answer
        return default

    respond.__doc__ = f"rules responder ({len(compiled)} rules)"
    return respond


def parse_rules(data: Any) -> Responder:
    """A :func:`rules` responder from decoded JSON.

    Accepts a list of ``{"pattern": ..., "answer": ...}`` objects, or an object
    ``{"rules": [...], "default": "..."}``.
    """
    default: Any = DEFAULT_ANSWER
    items = data
    if isinstance(data, dict):
        unknown = set(data) - {"rules", "default"}
        if unknown:
            raise ValueError(f"unknown rules field(s) {sorted(unknown)}; expected 'rules' and 'default'")
        items = data.get("rules", [])
        default = data.get("default", DEFAULT_ANSWER)
        if not isinstance(default, str):
            raise ValueError("rules 'default' must be a string")
    if not isinstance(items, list):
        raise ValueError('rules must be a JSON list of {"pattern": ..., "answer": ...} objects')
    pairs: list[tuple[str | re.Pattern[str], str | Reply]] = []
    for i, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("pattern"), str)
            or not isinstance(item.get("answer"), str)
        ):
            raise ValueError(f'rule #{i} must be {{"pattern": str, "answer": str}}, got {item!r}')
        try:
            pairs.append((re.compile(item["pattern"]), item["answer"]))
        except re.error as exc:
            raise ValueError(f"rule #{i}: pattern {item['pattern']!r} is not a valid regex: {exc}") from None
    return rules(pairs, default)


def load_rules(path: str | Path) -> Responder:
    """A :func:`rules` responder from a JSON file (see :func:`parse_rules` for the format)."""
    with open(path, encoding="utf-8") as fh:
        return parse_rules(json.load(fh))
