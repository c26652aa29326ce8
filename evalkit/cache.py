"""The on-disk response cache (SQLite, WAL).

The key covers everything that can change an answer: base URL, model, every generation
parameter, the rendered messages and the repeat index. The API key is never part of it.

A second table keeps item scores, keyed on everything that can change them (evalkit and
sacrebleu versions, the scorers and their options, the target language, the output and the
references), so a cached re-run does not recompute TER and chrF for every item.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring
from pathlib import Path
from time import time
from typing import Any

from pydantic_core import from_json

from evalkit.providers import Completion, Usage

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""


def default_cache_path() -> Path:
    root = os.environ.get("EVALKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "evalkit"
    )
    return Path(root) / "responses.sqlite"


# What json.dumps(..., sort_keys=True, ensure_ascii=False, separators=(",", ":")) builds for every call:
# built once, the keys are the same text (and so the same hashes) without the per-call set-up.
_KEY_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
LOOKUP_BATCH = 500  # keys per SELECT ... IN (...): below SQLite's smallest limit on bound parameters (999)


def cache_key(base_url: str, model: str, params: dict[str, Any], messages: Any, repeat: int) -> str:
    material = _KEY_JSON.encode(
        {"base_url": base_url.rstrip("/"), "model": model, "params": params, "messages": messages, "repeat": repeat}
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _encode_messages(messages: Any) -> str:
    """``_KEY_JSON.encode(messages)`` for a sequence of {"role", "content"} string pairs, written directly
    (sorted keys: content, role); anything else through the encoder."""
    if isinstance(messages, tuple | list):
        parts = []
        for m in messages:
            if type(m) is not dict or len(m) != 2:
                break
            content, role = m.get("content"), m.get("role")
            if type(content) is not str or type(role) is not str:
                break
            parts.append('{"content":' + encode_basestring(content) + ',"role":' + encode_basestring(role) + "}")
        else:
            return "[" + ",".join(parts) + "]"
    return _KEY_JSON.encode(messages)


def _encode_strings(values: Any) -> str:
    """``_KEY_JSON.encode(values)`` for a sequence of strings, written directly; anything else through the encoder."""
    if isinstance(values, tuple | list) and all(type(v) is str for v in values):
        return "[" + ",".join(map(encode_basestring, values)) + "]"
    return _KEY_JSON.encode(values)


def response_keys(base_url: str, model: str, params: dict[str, Any]) -> Callable[[Any, int], str]:
    """``cache_key`` with its first three arguments fixed: the same keys, their part of the material encoded once
    (the material's keys are sorted: base_url, messages, model, params, repeat)."""
    encode = _KEY_JSON.encode
    head = '{"base_url":' + encode(base_url.rstrip("/")) + ',"messages":'
    middle = ',"model":' + encode(model) + ',"params":' + encode(params) + ',"repeat":'

    def key(messages: Any, repeat: int) -> str:
        material = head + _encode_messages(messages) + middle + encode(repeat) + "}"
        return hashlib.sha256(material.encode()).hexdigest()

    return key


def score_keys(versions: str, scorers: Any) -> Callable[[str, str, Any], str]:
    """``score_key`` with its first two arguments fixed: the same keys, their part of the material encoded once
    (the material's keys are sorted: output, refs, scorers, target, versions)."""
    encode = _KEY_JSON.encode
    middle = ',"scorers":' + encode(scorers) + ',"target":'
    tail = ',"versions":' + encode(versions) + "}"

    def key(target_language: str, output: str, references: Any) -> str:
        material = '{"output":' + encode(output) + ',"refs":' + _encode_strings(references) + middle \
            + encode(target_language)
        return hashlib.sha256((material + tail).encode()).hexdigest()

    return key


def _loads(text: str) -> Any:
    """json.loads, faster: pydantic-core's parser (same values, floats included), json's on anything it refuses."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


def _completion(body: str) -> Completion | None:
    """A stored response, or None when the entry is damaged (then it is treated as absent and overwritten)."""
    try:
        d = _loads(body)
        return Completion(
            text=d["text"],
            finish_reason=d.get("finish_reason"),
            usage=Usage(**d.get("usage", {})),
            response_id=d.get("response_id"),
            latency_ms=float(d.get("latency_ms", 0.0)),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _scores_body(body: str) -> dict[str, Any] | None:
    """Stored item scores, or None when the entry is damaged or incomplete (then they are computed again)."""
    try:
        d = _loads(body)
    except ValueError:
        return None
    if isinstance(d, dict) and isinstance(d.get("scores"), dict) and isinstance(d.get("stats"), dict) \
            and isinstance(d.get("details"), dict):
        return d
    return None


class ResponseCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Completion | None:
        row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        completion = _completion(row[0]) if row is not None else None
        if completion is None:
            self.misses += 1
        else:
            self.hits += 1
        return completion

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        """``get`` for many keys in few queries: the responses found, by key (damaged entries left out)."""
        wanted = list(keys)
        found = {key: c for key, body in self._bodies("responses", wanted) if (c := _completion(body)) is not None}
        hits = sum(key in found for key in wanted)
        self.hits += hits
        self.misses += len(wanted) - hits
        return found

    def put(self, key: str, completion: Completion) -> None:
        body = json.dumps(
            {
                "text": completion.text,
                "finish_reason": completion.finish_reason,
                "usage": completion.usage.__dict__,
                "response_id": completion.response_id,
                "latency_ms": completion.latency_ms,
            },
            ensure_ascii=False,
        )
        self._db.execute("INSERT OR REPLACE INTO responses (key, created, body) VALUES (?, ?, ?)", (key, time(), body))

    def get_scores(self, key: str) -> dict[str, Any] | None:
        """``{"scores": ..., "stats": ..., "details": ...}`` as stored by ``put_scores``, or None."""
        row = self._db.execute("SELECT body FROM scores WHERE key = ?", (key,)).fetchone()
        return _scores_body(row[0]) if row is not None else None

    def get_scores_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``get_scores`` for many keys in few queries: the scores found, by key."""
        return {key: d for key, body in self._bodies("scores", keys) if (d := _scores_body(body)) is not None}

    def _bodies(self, table: str, keys: Iterable[str]) -> list[tuple[str, str]]:
        unique = list(dict.fromkeys(keys))
        rows: list[tuple[str, str]] = []
        for start in range(0, len(unique), LOOKUP_BATCH):
            part = unique[start:start + LOOKUP_BATCH]
            marks = ",".join("?" * len(part))
            rows.extend(self._db.execute(f"SELECT key, body FROM {table} WHERE key IN ({marks})", part))
        return rows

    def put_scores(self, key: str, body: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO scores (key, body) VALUES (?, ?)",
                         (key, json.dumps(body, ensure_ascii=False)))

    def close(self) -> None:
        self._db.close()


def score_key(versions: str, scorers: Any, target_language: str, output: str, references: Any) -> str:
    material = _KEY_JSON.encode(
        {"versions": versions, "scorers": scorers, "target": target_language, "output": output, "refs": references}
    )
    return hashlib.sha256(material.encode()).hexdigest()
