"""A re-run from the cache writes the results the first run wrote: item by item, every field but ``cached``
and ``attempts``, whether responses and scores come from the cache together, separately, or not at all,
and whatever the cache holds (damaged entries are asked again and repaired)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, write_suite
from hypothesis import given, settings
from hypothesis import strategies as st

import evalkit.runner._send
from evalkit.cache import cache_key, response_keys, score_key, score_keys
from evalkit.results import read_manifest, read_summary
from evalkit.testing import FakeOpenAIServer

PLANNED = 18
RERUN_FIELDS = ("cached", "attempts")  # what answering from the cache changes in a line


def _scores(run_dir: Path) -> dict[str, object]:
    """The summary but its usage: latency is of the requests sent, so a cached rerun has none (issue #14)."""
    return read_summary(run_dir).model_dump(exclude={"usage"})


def _lines(run: Path) -> dict[str, dict[str, Any]]:
    lines = [json.loads(raw) for raw in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    by_id = {line["item_id"]: line for line in lines}
    assert len(by_id) == len(lines), "an item was written twice"
    return by_id


def _without(line: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in fields}


def _cache_db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "cache" / "responses.sqlite")


def test_cached_rerun_writes_the_first_runs_results(tmp_path: Path, server: FakeOpenAIServer,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    asked = len(server.chat_requests)
    capsys.readouterr()
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    assert len(server.chat_requests) == asked  # nothing asked again
    assert f"{PLANNED}/{PLANNED} items  0 failed  {PLANNED} cached" in capsys.readouterr().err  # the progress line
    first, again = _lines(tmp_path / "a"), _lines(tmp_path / "b")
    assert first.keys() == again.keys() and len(first) == PLANNED
    for item_id, line in again.items():
        assert line["cached"] is True and line["attempts"] == 0
        assert _without(line, RERUN_FIELDS) == _without(first[item_id], RERUN_FIELDS)
        assert list(line) == list(first[item_id])  # same fields, in the same order
    assert _scores(tmp_path / "b") == _scores(tmp_path / "a")
    counts = read_manifest(tmp_path / "b").counts
    assert (counts.done, counts.cached, counts.failed) == (PLANNED, PLANNED, 0)


def test_hits_and_misses_mixed_across_batches(tmp_path: Path, server: FakeOpenAIServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.scoring._pool import ItemScorer

    monkeypatch.setattr(evalkit.runner._send, "HIT_BATCH", 4)  # several batches, each with hits and misses
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    with _cache_db(tmp_path) as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == PLANNED
        n_scores = db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
        forgotten = db.execute("DELETE FROM responses WHERE rowid % 3 = 0").rowcount
        rescored = db.execute("DELETE FROM scores WHERE rowid % 2 = 0").rowcount
    assert forgotten and rescored
    scored: list[Any] = []
    real = ItemScorer.ascore

    async def counting(self: ItemScorer, *args: Any) -> Any:
        scored.append(args)
        return await real(self, *args)

    monkeypatch.setattr(ItemScorer, "ascore", counting)
    server.reset()
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    assert len(server.chat_requests) == forgotten  # only the forgotten responses were asked again
    assert scored  # and the forgotten scores computed again
    first, again = _lines(tmp_path / "a"), _lines(tmp_path / "b")
    assert first.keys() == again.keys()
    asked_again = {i for i, line in again.items() if not line["cached"]}
    assert len(asked_again) == forgotten
    for item_id, line in again.items():
        if item_id in asked_again:  # a new response: same text, scores and statistics
            assert line["attempts"] == 1
            for key in ("output", "scores", "stats", "details", "messages", "references", "target_language"):
                assert line[key] == first[item_id][key], key
        else:
            assert line["attempts"] == 0
            assert _without(line, RERUN_FIELDS) == _without(first[item_id], RERUN_FIELDS)
    assert _scores(tmp_path / "b") == _scores(tmp_path / "a")
    with _cache_db(tmp_path) as db:  # the cache holds everything again
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == PLANNED
        assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == n_scores


@pytest.mark.parametrize("damage", [
    "{\"text\": ",  # torn JSON
    "[1, 2]",  # JSON, not an entry
    "{\"finish_reason\": \"stop\"}",  # no text
    "{\"text\": \"x\", \"latency_ms\": \"soon\"}",  # a value of the wrong kind
])
def test_damaged_entries_are_asked_again_and_repaired(tmp_path: Path, server: FakeOpenAIServer, damage: str) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    with _cache_db(tmp_path) as db:
        db.execute("UPDATE responses SET body = ? WHERE rowid = (SELECT MIN(rowid) FROM responses)", (damage,))
        db.execute("UPDATE scores SET body = ? WHERE rowid = (SELECT MIN(rowid) FROM scores)", (damage,))
    server.reset()
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    assert len(server.chat_requests) == 1
    first, again = _lines(tmp_path / "a"), _lines(tmp_path / "b")
    for item_id, line in again.items():
        for key in ("output", "scores", "stats", "details"):
            assert line[key] == first[item_id][key]
    assert _scores(tmp_path / "b") == _scores(tmp_path / "a")
    with _cache_db(tmp_path) as db:
        assert all(isinstance(json.loads(body)["text"], str) for (body,) in db.execute("SELECT body FROM responses"))
        assert all(set(json.loads(body)) == {"scores", "stats", "details"}
                   for (body,) in db.execute("SELECT body FROM scores"))
    server.reset()
    assert run_cli("run", suite, "--out", tmp_path / "c", "--no-report") == 0
    assert len(server.chat_requests) == 0  # repaired: a third run is answered from the cache alone


def test_cache_keys_do_not_change() -> None:
    # Caches written by earlier versions must keep answering: these keys are what they hold.
    messages = ({"role": "system", "content": "Sei präzise."},
                {"role": "user", "content": 'Übersetze: "Guten Morgen" 早上好'})
    params = {"temperature": 0, "max_tokens": 32, "seed": 1}
    expected = "8f6cb3786d9abaff15b0ed3c5a641c3be2f4708b9cebc3cd02857aeb0021f61a"
    assert cache_key("http://127.0.0.1:8000/v1/", "test-model", params, messages, 2) == expected
    assert response_keys("http://127.0.0.1:8000/v1/", "test-model", params)(messages, 2) == expected
    scorers = [("bleu", "bleu", {}), ("chrf++", "chrf", {"plus": True}), ("ter", "ter", {})]
    expected = "431b00eea4a1b176bf540807d120c99e125ae425a89f1a128ca767405e807ecf"
    refs = ("早上好", "Guten Morgen")
    assert score_key("evalkit 0.1.0, sacrebleu 2.4.3", scorers, "zh", '早上好 "x"', refs) == expected
    assert score_keys("evalkit 0.1.0, sacrebleu 2.4.3", scorers)("zh", '早上好 "x"', refs) == expected


TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
PARAMS = st.dictionaries(TEXT, st.one_of(SCALAR, st.lists(SCALAR, max_size=3)), max_size=4)
CHAT = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": TEXT})
OTHER = st.one_of(st.dictionaries(TEXT, SCALAR, max_size=3), SCALAR,  # not plain chat turns
                  st.fixed_dictionaries({"role": TEXT, "content": SCALAR}),
                  st.fixed_dictionaries({"role": TEXT, "content": TEXT, "name": TEXT}))
MESSAGES = st.one_of(st.lists(CHAT, max_size=3).map(tuple), st.lists(st.one_of(CHAT, OTHER), max_size=3),
                     PARAMS, SCALAR)
REFERENCES = st.one_of(st.lists(TEXT, max_size=3).map(tuple), st.lists(TEXT, max_size=2),
                       st.lists(st.one_of(TEXT, SCALAR), max_size=3).map(tuple), SCALAR)
SCORERS = st.lists(st.tuples(TEXT, TEXT, PARAMS), max_size=3)


@settings(max_examples=500, deadline=None)
@given(base_url=st.one_of(TEXT, st.sampled_from(["http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/", "x//"])),
       model=TEXT, params=PARAMS, messages=MESSAGES, repeat=st.integers(0, 1000))
def test_response_keys_are_cache_keys(base_url: str, model: str, params: dict[str, Any], messages: Any,
                                      repeat: int) -> None:
    assert response_keys(base_url, model, params)(messages, repeat) == cache_key(base_url, model, params, messages,
                                                                                 repeat)


@settings(max_examples=500, deadline=None)
@given(versions=TEXT, scorers=SCORERS, target=TEXT, output=TEXT, references=REFERENCES)
def test_score_keys_are_score_keys(versions: str, scorers: list[Any], target: str, output: str,
                                   references: Any) -> None:
    assert score_keys(versions, scorers)(target, output, references) == score_key(versions, scorers, target, output,
                                                                                  references)
