"""The response cache is never served corrupt. Bytes changed inside stored answers or scores (a bit flip on disk)
make those entries misses, asked and scored again; a file SQLite finds damaged is moved aside, named in one warning
line, and rebuilt; a cache path that cannot be used is refused naming the file and ``--no-cache``; a cache written
by an earlier evalkit (no checksums) is migrated, its answers still served."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, write_suite

from evalkit.cache import FORMAT, ResponseCache, entry_sum
from evalkit.errors import UsageError
from evalkit.providers import Completion, Usage
from evalkit.testing import FakeOpenAIServer

N_CASES = 300

SUITE = """\
name: integrity
model: {{name: test-model, base_url: '{base_url}', params: {{temperature: 0, max_tokens: 32}}}}
languages: [de]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  file: cases.jsonl
scorers: [chrf, exact_match]
"""


def answer(request: dict[str, Any]) -> str:
    source = request["messages"][-1]["content"].rsplit(": ", 1)[-1]
    return f"Antwort auf {source} lautet so"


@pytest.fixture
def srv() -> Any:
    with FakeOpenAIServer(answer) as server:
        yield server


def _suite(tmp_path: Path, base_url: str, n: int = N_CASES) -> Path:
    with (tmp_path / "cases.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(n):
            reference = f"Antwort auf sentence {i} lautet so" if i % 2 else f"Antwort {i}"
            handle.write(json.dumps({"id": f"c{i}", "source": f"sentence {i}", "reference": {"de": reference}}) + "\n")
    return write_suite(tmp_path, base_url, SUITE)


def _results(run: Path) -> dict[str, dict[str, Any]]:
    lines = [json.loads(x) for x in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {line["item_id"]: line for line in lines}


def _cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "responses.sqlite"


def _flip_inside(data: bytearray, needle: bytes, offset: int, every: int, rng: random.Random) -> int:
    """Change one byte (to another ASCII letter or digit: still valid JSON and UTF-8) ``offset`` bytes into every
    ``every``-th occurrence of ``needle``. Returns how many were changed."""
    changed = 0
    start = 0
    seen = 0
    while (at := data.find(needle, start)) >= 0:
        start = at + len(needle)
        seen += 1
        if seen % every:
            continue
        pos = at + offset
        old = data[pos]
        choices = b"0123456789" if chr(old).isdigit() else b"abcdefghijklmnopqrstuvwxyz"
        data[pos] = rng.choice([c for c in choices if c != old])
        changed += 1
    return changed


def test_bytes_changed_inside_stored_answers_and_scores_are_never_served(tmp_path: Path,
                                                                        srv: FakeOpenAIServer) -> None:
    suite = _suite(tmp_path, srv.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    first = _results(tmp_path / "a")
    assert len(first) == N_CASES and len(srv.chat_requests) == N_CASES
    path = _cache_file(tmp_path)
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0  # all in the main file
    data = bytearray(path.read_bytes())
    rng = random.Random(12)
    # Inside answers: "Antwort auf sentence 17 lautet so" -> "Antwort auf sentence 17 lautXt so".
    flipped = _flip_inside(data, b"lautet so", 4, 3, rng)
    # Inside scores: the digits of chrF values (`"chrf": 41.2...`) and exact-match scores.
    flipped_scores = _flip_inside(data, b'"chrf": ', 9, 5, rng) + _flip_inside(data, b'"exact_match": 10', 15, 4, rng)
    assert flipped >= 90 and flipped_scores >= 50
    path.write_bytes(bytes(data))
    srv.reset()
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    again = _results(tmp_path / "b")
    for item_id, line in again.items():
        assert line["output"] == first[item_id]["output"], "a damaged answer was served"
        assert line["scores"] == first[item_id]["scores"], "damaged scores were served"
        assert line["stats"] == first[item_id]["stats"]
    assert 0 < len(srv.chat_requests) <= flipped  # only damaged answers were asked again
    srv.reset()
    assert run_cli("run", suite, "--out", tmp_path / "c", "--no-report") == 0
    assert len(srv.chat_requests) == 0  # the damaged entries were overwritten


def _truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(path.stat().st_size))


def _bad_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!\0"
    path.write_bytes(bytes(data))


def _garbled_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    size = len(data)
    data[size // 4: size * 3 // 4] = random.Random(2).randbytes(size * 3 // 4 - size // 4)
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _zeroed_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:4096 * 3] = bytes(4096 * 2)
    path.write_bytes(bytes(data))


DAMAGE = {"truncated": _truncate, "garbage": _garbage, "bad_header": _bad_header, "garbled_middle": _garbled_middle,
          "empty": _empty, "zeroed_pages": _zeroed_pages}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_cache_file_is_set_aside_and_rebuilt(kind: str, tmp_path: Path, srv: FakeOpenAIServer,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, srv.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    first = _results(tmp_path / "a")
    path = _cache_file(tmp_path)
    DAMAGE[kind](path)
    capsys.readouterr()
    code = run_cli("run", suite, "--out", tmp_path / "b", "--no-report")
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    again = _results(tmp_path / "b")
    assert {k: v["output"] for k, v in again.items()} == {k: v["output"] for k, v in first.items()}
    assert {k: v["scores"] for k, v in again.items()} == {k: v["scores"] for k, v in first.items()}
    warnings = [line for line in err.splitlines() if "warning" in line]
    asides = sorted(path.parent.glob("responses.sqlite.damaged-*"))
    if kind in ("truncated", "garbage", "bad_header", "garbled_middle"):  # damage SQLite sees: moved aside
        assert len(warnings) == 1 and len(asides) == 1, err
        assert str(path) in warnings[0] and str(asides[0]) in warnings[0] and "--no-cache" in warnings[0]
    assert len(warnings) == len(asides)  # a file is moved only with a warning that names it
    # The rebuilt cache answers a third run alone.
    srv.reset()
    assert run_cli("run", suite, "--out", tmp_path / "c", "--no-report") == 0
    assert len(srv.chat_requests) == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_damage_found_at_a_later_look_up_replaces_the_cache(tmp_path: Path) -> None:
    # A truncated file opens (its first page is intact) and fails when a look-up reaches the missing pages: the
    # look-up is a miss, the file is moved aside with one warning, and writes go to a new, empty cache.
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    texts = {f"{i:064x}": f"answer {i} " + "x" * 200 for i in range(3000)}
    for key, text in texts.items():
        cache.put(key, Completion(text=text, finish_reason="stop", usage=Usage(), response_id=None, latency_ms=1.0))
    cache.close()
    _truncate(path)
    warned: list[str] = []
    cache = ResponseCache(path, warn=warned.append)
    found = cache.get_many(texts)
    assert all(found[key].text == texts[key] for key in found)
    assert len(found) < len(texts) and len(warned) == 1 and len(cache.set_aside) == 1
    assert str(path) in warned[0] and str(cache.set_aside[0]) in warned[0]
    key = next(iter(texts))
    cache.put(key, Completion(text="again", finish_reason="stop", usage=Usage(), response_id=None, latency_ms=1.0))
    assert cache.get_many([key])[key].text == "again"
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_an_old_format_cache_is_migrated_and_still_answers(tmp_path: Path, srv: FakeOpenAIServer) -> None:
    suite = _suite(tmp_path, srv.base_url, n=20)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    path = _cache_file(tmp_path)
    # Rewrite it as evalkit wrote it before checksums: the first schema, user_version 0.
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as src, sqlite3.connect(old) as dst:
        dst.executescript("CREATE TABLE responses (key TEXT PRIMARY KEY, created REAL NOT NULL, body TEXT NOT NULL);"
                          "CREATE TABLE scores (key TEXT PRIMARY KEY, body TEXT NOT NULL);")
        dst.executemany("INSERT INTO responses VALUES (?, ?, ?)",
                        src.execute("SELECT key, created, body FROM responses"))
        dst.executemany("INSERT INTO scores VALUES (?, ?)", src.execute("SELECT key, body FROM scores"))
    os.replace(old, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    srv.reset()
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    assert len(srv.chat_requests) == 0  # every answer was kept
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT
        for key, body, stored in db.execute("SELECT key, body, sum FROM responses"):
            assert stored == entry_sum(key, body)
    # An entry written by an evalkit without checksums (no `sum`) is a miss, asked again, not a crash.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE responses SET sum = NULL WHERE rowid = (SELECT MIN(rowid) FROM responses)")
    assert run_cli("run", suite, "--out", tmp_path / "c", "--no-report") == 0
    assert len(srv.chat_requests) == 1


def test_a_cache_from_a_newer_evalkit_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {FORMAT + 1}")
    with pytest.raises(UsageError, match=r"c\.sqlite was written by a newer evalkit .*--no-cache"):
        ResponseCache(path)


def test_a_cache_that_fails_mid_run_for_another_reason_stops_the_run_naming_it(tmp_path: Path) -> None:
    # Not damage (nothing to set aside): the write cannot happen, so the run stops (exit 3) with the file named.
    from evalkit.errors import RunAborted

    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache._db.close()
    cache._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)  # as if it became read-only
    completion = Completion(text="x", finish_reason="stop", usage=Usage(), response_id=None, latency_ms=1.0)
    with pytest.raises(RunAborted, match=r"c\.sqlite cannot be used \(attempt to write a readonly .*--no-cache"):
        cache.put("k", completion)
    assert cache.set_aside == [] and path.exists()
    cache.close()


def test_a_cache_damaged_twice_keeps_both_copies_aside(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    warned: list[str] = []
    for _ in range(2):
        path.write_bytes(b"garbage, not SQLite" * 100)
        ResponseCache(path, warn=warned.append).close()
    asides = sorted(tmp_path.glob("c.sqlite.damaged-*"))
    assert len(asides) == 2 and len(warned) == 2
    assert all(p.read_bytes().startswith(b"garbage") for p in asides)
