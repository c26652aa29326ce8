"""The on-disk response cache (SQLite, WAL).

The key covers everything that can change an answer: base URL, model, every generation
parameter, the rendered messages and the repeat index. The API key is never part of it.

A second table keeps item scores, keyed on everything that can change them (evalkit and
sacrebleu versions, the scorers and their options, the target language, the output and the
references), so a cached re-run does not recompute TER and chrF for every item.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from time import time
from typing import Any

from pydantic_core import from_json

from evalkit.errors import RunAborted, UsageError
from evalkit.providers import Completion, Usage

# Cache format, kept in SQLite's ``user_version``. 0: the first format (no checksums); 2: every entry carries
# ``sum``, the CRC-32 of its key, a NUL byte and its body (UTF-8), checked on every read: an entry whose bytes
# changed on disk is a miss (asked again and overwritten), never served. A format-0 file is migrated in place (its
# entries get their checksums once); evalkit versions before 2 still read and write a format-2 file (their
# entries, without a checksum, are misses here).
FORMAT = 2
TABLES = {
    "responses": "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, created REAL NOT NULL, "
                 "body TEXT NOT NULL, sum INTEGER)",
    "scores": "CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, body TEXT NOT NULL, sum INTEGER)",
}
# SQLite's result codes for a file that is not (or no longer) a well-formed database: it is set aside and rebuilt.
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_FORMAT}
_REMEDY = "pass --cache FILE to use another file, or --no-cache"


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


def entry_sum(key: str | bytes, body: str | bytes) -> int:
    """The checksum stored with an entry: CRC-32 of the key, a NUL byte and the body, as UTF-8."""
    k = key.encode() if isinstance(key, str) else key
    b = body.encode() if isinstance(body, str) else body
    return zlib.crc32(k + b"\0" + b)


def _loads(text: str | bytes) -> Any:
    """json.loads, faster: pydantic-core's parser (same values, floats included), json's on anything it refuses."""
    try:
        return from_json(text)
    except ValueError:
        try:
            return json.loads(text)
        except RecursionError:
            raise ValueError("nested too deeply") from None


def _completion(body: str | bytes) -> Completion | None:
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


def _scores_body(body: str | bytes) -> dict[str, Any] | None:
    """Stored item scores, or None when the entry is damaged or incomplete (then they are computed again)."""
    try:
        d = _loads(body)
    except ValueError:
        return None
    if isinstance(d, dict) and isinstance(d.get("scores"), dict) and isinstance(d.get("stats"), dict) \
            and isinstance(d.get("details"), dict):
        return d
    return None


def _warn(message: str) -> None:
    print(f"evalkit: warning: {message}", file=sys.stderr, flush=True)


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _damaged(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _DAMAGED


class ResponseCache:
    """Responses and item scores by key. A file that SQLite finds damaged (when opened or at any later read or write)
    is moved aside as ``<name>.damaged-<time>`` (one warning line names both) and an empty cache takes its place; a
    damaged entry is a miss. A cache that cannot be used at all is refused when opened (``UsageError``, exit 2: a
    folder in the way, no write permission, a newer format) or stops the run when that happens later (``RunAborted``,
    exit 3), the message naming the file and ``--no-cache``."""

    def __init__(self, path: Path, warn: Callable[[str], None] = _warn) -> None:
        self.path = path
        self.warn = warn
        self.hits = 0
        self.misses = 0
        self.set_aside: list[Path] = []
        try:
            self._db = self._connect()
        except sqlite3.Error as exc:
            if not _damaged(exc):
                raise UsageError(f"cache file {path}: {self._explain(exc)}; {_REMEDY}") from None
            self._move_aside(exc, UsageError)
            try:
                self._db = self._connect()
            except sqlite3.Error as again:
                raise UsageError(f"cache file {path}: {_reason(again)}; {_REMEDY}") from None

    def _explain(self, exc: sqlite3.Error) -> str:
        """SQLite's reason, and which of the file or its folder evalkit may not write when that is the cause."""
        reason = _reason(exc)
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            if not os.access(self.path.parent, os.W_OK):
                reason += f" (its folder {self.path.parent} is not writable)"
            elif self.path.exists() and not os.access(self.path, os.W_OK):
                reason += " (the file is not writable)"
        return reason

    # --- opening ---------------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise UsageError(f"cache file {path} is a directory; {_REMEDY}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or _reason(exc)
            raise UsageError(f"cache file {path}: cannot create its folder ({reason}); {_REMEDY}") from None
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._prepare(db)
        except BaseException:
            db.close()
            raise
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Create or migrate the tables in a write transaction: a file or folder that cannot be written fails here,
        before anything is asked, rather than at the first answer."""
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > FORMAT:
                raise UsageError(f"cache file {self.path} was written by a newer evalkit (cache format {version}, "
                                 f"this one reads {FORMAT}); {_REMEDY}")
            for table, create in TABLES.items():
                db.execute(create)
                if version < FORMAT:
                    self._migrate(db, table)
            if version < FORMAT:
                db.execute(f"PRAGMA user_version = {FORMAT}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @staticmethod
    def _migrate(db: sqlite3.Connection, table: str) -> None:
        """A format-0 table gets its ``sum`` column, every entry its checksum (as trusted as it was before)."""
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if "sum" in columns:
            return
        db.execute(f"ALTER TABLE {table} ADD COLUMN sum INTEGER")
        db.create_function("entry_sum", 2, entry_sum, deterministic=True)
        db.execute(f"UPDATE {table} SET sum = entry_sum(CAST(key AS BLOB), CAST(body AS BLOB))")

    def _move_aside(self, exc: sqlite3.Error, error: type[UsageError] | type[RunAborted]) -> None:
        """Rename the damaged file (and its WAL and shared-memory files) out of the way, saying so in one line."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.path.name}.damaged-{stamp}-{os.getpid()}"
        aside = self.path.with_name(name)
        n = 1
        while aside.exists():  # damaged twice within a second: keep both
            aside = self.path.with_name(f"{name}-{n}")
            n += 1
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        except OSError as move:
            raise error(f"cache file {self.path} is damaged ({_reason(exc)}) and cannot be moved aside "
                        f"({move.strerror or move}); move it away, or pass --no-cache") from None
        self.set_aside.append(aside)
        self.warn(f"cache file {self.path} is damaged ({_reason(exc)}); moved it to {aside} and started an empty "
                  "cache (pass --no-cache to run without one)")

    def _trouble(self, exc: sqlite3.Error) -> None:
        """A read or write failed after the cache was opened: a damaged file is replaced by an empty cache (the caller
        then treats its look-up as a miss, or writes again); anything else stops the run."""
        if not _damaged(exc):
            raise RunAborted(f"cache file {self.path} cannot be used ({_reason(exc)}); results so far are kept: "
                             "run the same command again, with --no-cache if this repeats") from None
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._move_aside(exc, RunAborted)
        try:
            self._db = self._connect()
        except (sqlite3.Error, UsageError) as again:
            raise RunAborted(f"cache file {self.path}: {_reason(again)}; results so far are kept: "
                             "run the same command again with --no-cache") from None

    # --- look-ups and writes -----------------------------------------------------------------------------------------
    def get(self, key: str) -> Completion | None:
        found = self.get_many([key])
        return found.get(key)

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
        self._write("INSERT OR REPLACE INTO responses (key, created, body, sum) VALUES (?, ?, ?, ?)",
                    (key, time(), body, entry_sum(key, body)))

    def get_scores(self, key: str) -> dict[str, Any] | None:
        """``{"scores": ..., "stats": ..., "details": ...}`` as stored by ``put_scores``, or None."""
        return self.get_scores_many([key]).get(key)

    def get_scores_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``get_scores`` for many keys in few queries: the scores found, by key."""
        return {key: d for key, body in self._bodies("scores", keys) if (d := _scores_body(body)) is not None}

    def _bodies(self, table: str, keys: Iterable[str]) -> list[tuple[str, bytes]]:
        """The entries found whose checksum holds, as (key, body as UTF-8). A damaged file: none (it is replaced)."""
        unique = list(dict.fromkeys(keys))
        rows: list[tuple[str, bytes]] = []
        crc32 = zlib.crc32
        try:
            for start in range(0, len(unique), LOOKUP_BATCH):
                part = unique[start:start + LOOKUP_BATCH]
                marks = ",".join("?" * len(part))
                found = self._db.execute(
                    f"SELECT CAST(key AS BLOB), CAST(body AS BLOB), sum FROM {table} WHERE key IN ({marks})", part
                ).fetchall()
                try:
                    rows += [(k.decode("utf-8", "replace"), b) for k, b, s in found if s == crc32(k + b"\0" + b)]
                except TypeError:  # a NULL where a damaged entry had bytes: check row by row
                    rows += [(k.decode("utf-8", "replace"), b) for k, b, s in found
                             if type(k) is bytes and type(b) is bytes and s == crc32(k + b"\0" + b)]
        except sqlite3.Error as exc:
            self._trouble(exc)
            return []
        return rows

    def put_scores(self, key: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, ensure_ascii=False)
        self._write("INSERT OR REPLACE INTO scores (key, body, sum) VALUES (?, ?, ?)",
                    (key, text, entry_sum(key, text)))

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as exc:
            self._trouble(exc)  # a damaged file was replaced by an empty one: write there
            try:
                self._db.execute(sql, params)
            except sqlite3.Error as again:
                raise RunAborted(f"cache file {self.path} cannot be written ({_reason(again)}); results so far are "
                                 "kept: run the same command again with --no-cache") from None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


def score_key(versions: str, scorers: Any, target_language: str, output: str, references: Any) -> str:
    material = _KEY_JSON.encode(
        {"versions": versions, "scorers": scorers, "target": target_language, "output": output, "refs": references}
    )
    return hashlib.sha256(material.encode()).hexdigest()
