"""The p-value floor end to end (issue #11, item 8): `compare_runs` on a real 6-item run, two prompt
variants, the second answering every item badly. Before: a bootstrap raw p "<0.001", adjusted 0.024,
marked significant. No paired test on 6 items can go below 2^(1-6) = 0.031."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli

from evalkit.compare import compare_runs
from evalkit.testing import FakeOpenAIServer

CASES = [
    {"id": f"c{i}", "source": f"Sentence {i}: the dog runs to the green market today",
     "reference": {"de": f"Satz {i}: der Hund läuft heute zum grünen Markt"}}
    for i in range(6)
]
PROMPTS = {"plain": {"user": "Translate into German: {{ source }}"},
           "sloppy": {"user": "Quickly! Translate into German: {{ source }}"}}


def _respond(request: dict[str, Any]) -> str:
    text = request["messages"][-1]["content"]
    i = int(text.split("Sentence ", 1)[1].split(":", 1)[0])
    reference = CASES[i]["reference"]["de"]
    return f"Satz {i}: Hund" if text.startswith("Quickly!") else reference


def _run(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "run"
    with FakeOpenAIServer(_respond) as srv:
        suite = tmp_path / "suite.yaml"
        suite.write_text(yaml.safe_dump({
            "name": "six",
            "model": {"name": "test-model", "base_url": srv.base_url, "params": {"temperature": 0, "max_tokens": 32}},
            "languages": ["de"],
            "prompts": PROMPTS,
            "cases": CASES,
            "scorers": [{"chrf": {"plus": True}}, "bleu", "exact_match"],
        }, allow_unicode=True, sort_keys=False), encoding="utf-8")
        assert run_cli("run", suite, "--out", out, "--no-report", "--no-cache", *args) == 0
    return out


@pytest.mark.parametrize("repeat", [[], ["--repeat", "3"]], ids=["single", "repeat3"])
def test_six_items_compared_cannot_be_significant(tmp_path: Path, repeat: list[str]) -> None:
    run = _run(tmp_path, *repeat)
    c = compare_runs(run, run, variants=("plain", "sloppy"))
    cells = {m.metric: m.result for m in c.metrics}
    assert set(cells) == {"chrf++", "bleu", "exact_match"}
    for metric, r in cells.items():
        assert r.n == 6, metric  # items, not repeats
        assert r.delta < 0, metric
        assert r.p_value >= 2**-5, (metric, r.p_value, r.method)
        assert r.p_adjusted is not None and r.p_adjusted > 0.05, (metric, r.p_adjusted)
        assert not r.regression
    assert cells["chrf++"].p_value == pytest.approx(2**-5)  # every item worse: the exact floor
    assert cells["exact_match"].p_value == pytest.approx(2**-5)
