"""Scoring in a worker process gives exactly what scoring in-process gives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from helpers import run_cli, write_suite

from evalkit.scoring._pool import ItemScorer, default_workers
from evalkit.testing import FakeOpenAIServer

DEFS = [("bleu", "bleu", {}), ("chrf++", "chrf", {"plus": True}), ("ter", "ter", {}),
        ("exact_match", "exact_match", {}), ("language", "language", {})]
CASES = [("de", "Das Wetter ist heute schön.", ["Das Wetter ist heute schön"]),
         ("zh", "今天天气很好", ["今天天气很好。"]),
         ("th", "วันนี้อากาศดี", ["วันนี้อากาศดีมาก"])]


def test_pooled_scores_equal_in_process_scores() -> None:
    local, pooled = ItemScorer(DEFS, workers=0), ItemScorer(DEFS, workers=1)
    try:
        assert pooled.pooled and not local.pooled

        async def both() -> list[tuple[object, object]]:
            return [(local.score(lang, out, refs), await pooled.ascore(lang, out, refs)) for lang, out, refs in CASES]

        for a, b in asyncio.run(both()):
            assert a == b
    finally:
        local.close()
        pooled.close()


def test_default_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVALKIT_SCORING_WORKERS", raising=False)
    assert default_workers(10, DEFS) == 0
    cheap = [("exact_match", "exact_match", {})]
    assert default_workers(100_000, cheap) == 0
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_workers(100_000, DEFS) == 1
    monkeypatch.setenv("EVALKIT_SCORING_WORKERS", "1")
    assert default_workers(10, cheap) == 1


def test_run_with_a_scoring_worker_matches_in_process(tmp_path: Path, server: FakeOpenAIServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    suite = write_suite(tmp_path, server.base_url)
    monkeypatch.setenv("EVALKIT_SCORING_WORKERS", "0")
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    monkeypatch.setenv("EVALKIT_SCORING_WORKERS", "1")
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0

    def scores(d: Path) -> dict[str, tuple[object, object]]:
        lines = [json.loads(x) for x in (d / "results.jsonl").read_text(encoding="utf-8").splitlines()]
        return {x["item_id"]: (x["scores"], x["stats"]) for x in lines}

    assert scores(tmp_path / "a") == scores(tmp_path / "b")
