"""The run report in headless Chromium: truncated answers are flagged and filterable, every item's full
rendered conversation (system, few-shot, user) is there, collapsed until clicked (issue #14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_browser import Watched, browser, open_report  # noqa: F401  (fixture)

from evalkit.report import write_run_report
from evalkit.report._synthetic import demo_runs
from evalkit.results import RESULTS, iter_results, read_manifest, summarize, write_json_atomic

pytestmark = pytest.mark.browser

FEW_SHOT = [{"role": "system", "content": "You are a translator."},
            {"role": "user", "content": "Translate into German: Yes"},
            {"role": "assistant", "content": "Ja"}]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo candidate run, with few-shot turns in every conversation and 5 Thai answers cut at max_tokens."""
    tmp = tmp_path_factory.mktemp("usage-browser")
    _, cand = demo_runs(tmp / "runs")
    results = list(iter_results(cand / RESULTS))
    cut = 0
    for r in results:
        r.messages = [*FEW_SHOT, r.messages[-1]]
        r.usage = None
        if r.language == "th" and r.ok and cut < 5:
            r.truncated, r.finish_reason, cut = True, "length", cut + 1
    (cand / RESULTS).write_text("".join(r.model_dump_json() + "\n" for r in results), encoding="utf-8")
    write_json_atomic(cand / "summary.json", summarize(read_manifest(cand), results))
    return write_run_report(cand, tmp / "run.html")


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Watched]:  # noqa: F811
    yield from open_report(browser, report)


def test_truncated_answers_are_flagged_and_filterable(page: Watched) -> None:
    p, t = page.page, "run-items"
    p.check(f"#{t} input[data-toggle=truncated]")
    assert page.matching(t) == 5
    assert set(page.column(t, "language")) == {"th"} and set(page.column(t, "truncated")) == {"length"}
    usage = p.locator("#usage-table tbody tr", has_text="th").first.text_content() or ""
    assert "%" in usage


def test_full_conversation_is_collapsed_and_expands(page: Watched) -> None:
    p = page.page
    first = p.locator("#run-items tbody tr").first.locator("details.convo")
    assert first.count() == 1
    assert first.get_attribute("open") is None
    few_shot = first.locator("li.msg", has_text="Translate into German: Yes")
    assert not few_shot.is_visible()  # collapsed by default
    first.locator("summary").click()
    assert few_shot.is_visible()
    roles = first.locator("li.msg .role").all_text_contents()
    assert roles == ["system", "user", "assistant", "user"]


def test_compare_report_items_show_the_conversation(browser: Any,  # noqa: F811
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    from evalkit.compare import compare_runs
    from evalkit.report import write_compare_report

    tmp = tmp_path_factory.mktemp("usage-compare-browser")
    base, cand = demo_runs(tmp / "runs")
    path = write_compare_report([compare_runs(base, cand, n_resamples=200)], tmp / "compare.html")
    for w in open_report(browser, path):
        first = w.page.locator("#cand1-items tbody tr").first.locator("details.convo")
        assert first.count() == 1 and first.get_attribute("open") is None
        system = first.locator("li.msg[data-role=system]")
        assert not system.is_visible()
        first.locator("summary").click()
        assert system.is_visible() and system.text_content() == "systemYou are a translator."
