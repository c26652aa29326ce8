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
from pathlib import Path
from time import time
from typing import Any

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


def cache_key(base_url: str, model: str, params: dict[str, Any], messages: Any, repeat: int) -> str:
    material = json.dumps(
        {"base_url": base_url.rstrip("/"), "model": model, "params": params, "messages": messages, "repeat": repeat},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()


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
        if row is None:
            self.misses += 1
            return None
        try:
            d = json.loads(row[0])
            completion = Completion(
                text=d["text"],
                finish_reason=d.get("finish_reason"),
                usage=Usage(**d.get("usage", {})),
                response_id=d.get("response_id"),
                latency_ms=float(d.get("latency_ms", 0.0)),
            )
        except (json.JSONDecodeError, KeyError, TypeError):
            self.misses += 1
            return None  # a damaged entry is treated as absent and overwritten
        self.hits += 1
        return completion

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
        row = self._db.execute("SELECT body FROM scores WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            body = json.loads(row[0])
        except json.JSONDecodeError:
            return None
        return body if isinstance(body, dict) else None

    def put_scores(self, key: str, body: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO scores (key, body) VALUES (?, ?)",
                         (key, json.dumps(body, ensure_ascii=False)))

    def close(self) -> None:
        self._db.close()


def score_key(versions: str, scorers: Any, target_language: str, output: str, references: Any) -> str:
    material = json.dumps(
        {"versions": versions, "scorers": scorers, "target": target_language, "output": output, "refs": references},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()
