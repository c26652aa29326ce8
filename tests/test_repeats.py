"""`--repeat N`: per-item pass rates with Wilson intervals and unstable items in summary.json."""

from __future__ import annotations

import itertools
from pathlib import Path

from helpers import run_cli, translator, write_suite

from evalkit.results import read_manifest, read_summary
from evalkit.testing import FakeOpenAIServer


def test_repeats_mark_unstable_items(tmp_path: Path) -> None:
    counter = itertools.count()

    def flaky(request: dict) -> str:
        # "Good morning" alternates between right and wrong answers; everything else is stable.
        text = request["messages"][-1]["content"]
        if "Good morning" in text and next(counter) % 2:
            return "Sorry"
        return translator(request)

    with FakeOpenAIServer(flaky) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "run"
        assert run_cli("run", suite, "--out", out, "--repeat", "3", "--prompts", "plain", "--no-report") == 0
    assert read_manifest(out).repeats == 3
    summary = read_summary(out)
    assert summary.repeats == 3
    em = {c.language: c for c in summary.cells if c.metric == "exact_match"}
    assert all(c.n == 9 for c in em.values())  # 3 cases x 3 repeats
    assert sum(c.unstable or 0 for c in em.values()) >= 1
    unstable = [r for r in summary.repeat_items if r.metric == "exact_match"]
    assert unstable and all(r.case_id == "c1" and 0 < r.passes < r.n == 3 for r in unstable)
    r = unstable[0]
    assert r.ci_low < r.rate < r.ci_high


def test_report_shows_unstable_counts(tmp_path: Path) -> None:
    counter = itertools.count()

    def flaky(request: dict) -> str:
        text = request["messages"][-1]["content"]
        return "Sorry" if "Good morning" in text and next(counter) % 2 else translator(request)

    with FakeOpenAIServer(flaky) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "run"
        assert run_cli("run", suite, "--out", out, "--repeat", "2", "--prompts", "plain", "--languages", "de") == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<span class="ci unstable">1 unstable</span>' in html
