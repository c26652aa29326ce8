"""`compare --gate`'s page in a real headless Chromium (issue 11.9): the failing verdict is visible at the top
and in the candidate's section with every failing line, and the page still loads without errors or network.

Uses the Chromium fixtures of tests/test_report_browser.py (``make browser``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_browser import Watched, browser, open_report  # noqa: F401  (browser is a fixture)

from evalkit.compare import compare_runs
from evalkit.gate import GateResult, GateSpec, run_gate
from evalkit.report import write_compare_report
from evalkit.report._synthetic import demo_runs

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GateResult]:
    tmp = tmp_path_factory.mktemp("gate-browser")
    base, cand = demo_runs(tmp / "runs")
    comparison = compare_runs(base, cand, n_resamples=300)
    spec = GateSpec(min_items=5, n_resamples=300, thresholds={"chrf++": {"min": 60}})  # type: ignore[dict-item]
    result = run_gate(cand, baseline=base, gates=spec)
    return write_compare_report([comparison], tmp / "gated.html", gates=[result]), result


@pytest.fixture
def gate_page(browser: Any, gated: tuple[Path, GateResult]) -> Iterator[Watched]:  # noqa: F811
    yield from open_report(browser, gated[0])


def test_the_failing_gate_is_visible_with_every_failure(gate_page: Watched, gated: tuple[Path, GateResult]) -> None:
    page, result = gate_page.page, gated[1]
    assert not result.passed
    banner = page.locator("#cand1-gate-banner")
    assert banner.is_visible() and "Quality gate FAILED" in (banner.text_content() or "")
    section = page.locator("#cand1-gate")
    assert section.is_visible()
    assert result.summary() in (section.locator(".gate-verdict").text_content() or "")
    shown = [" ".join((t or "").split()) for t in section.locator(".gate-failures li").all_text_contents()]
    assert shown == [f"FAIL {line}" for line in result.failure_lines()]
    page.click("nav.toc a[href='#cand1-gate']")
    assert section.is_visible()
