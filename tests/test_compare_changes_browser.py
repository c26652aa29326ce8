"""The comparison report's "What changed" block in headless Chromium (issue #14): the template diff is visible
at the top of the candidate's section, each regressed item's rendered-messages diff is collapsed until clicked,
an XSS payload in a template stays text, and the page logs no error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_compare_changes import BASE_PROMPTS, CAND_PROMPTS, _items, _set_manifest
from test_report_browser import Watched, browser, open_report  # noqa: F401  (fixture)

from evalkit.compare import compare_runs
from evalkit.report import write_compare_report
from evalkit.report._synthetic import XSS_OUTPUT, write_run

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("changes-browser")
    base = write_run(tmp / "base", _items("Please translate into German", "Guten Morgen"))
    cand = write_run(tmp / "cand", _items("Kindly translate into German " + XSS_OUTPUT, "Hallo", "Danke"),
                     base_url="http://127.0.0.1:9000/v1")
    _set_manifest(base, prompts=BASE_PROMPTS)
    _set_manifest(cand, prompts=CAND_PROMPTS, params={"temperature": 0.7, "seed": 1})
    return write_compare_report([compare_runs(base, cand, n_resamples=100)], tmp / "compare.html")


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Watched]:  # noqa: F811
    yield from open_report(browser, report)


def test_template_diff_is_visible_at_the_top(page: Watched) -> None:
    p = page.page
    box = p.locator("#cand1-changes")
    assert box.is_visible()
    removed = box.locator("details.prompt-diff[data-variant=polite] .dl-del")
    assert removed.first.is_visible() and removed.all_text_contents() == ["You are a translator."]
    payload = box.locator(".dl-ins", has_text="window.__pwned")
    assert payload.count() == 1 and payload.text_content() == XSS_OUTPUT  # text, not markup
    assert box.locator("img, script").count() == 0
    temperature = box.locator("#cand1-settings tr", has_text="temperature")
    assert temperature.is_visible()
    # Above the numbers: the block starts before the metric table on the page.
    top = p.evaluate("() => [document.querySelector('#cand1-changes').getBoundingClientRect().top, "
                     "document.querySelector('#cand1-metrics').getBoundingClientRect().top]")
    assert top[0] < top[1]
    # The template diff folds away like any <details>.
    box.locator("details.prompt-diff[data-variant=polite] > summary").click()
    assert not removed.first.is_visible()


def test_item_message_diff_is_collapsed_and_expands(page: Watched) -> None:
    card = page.page.locator("#cand1-regression-list article[data-case=c1]")
    diff = card.locator("details.msg-diff")
    assert diff.count() == 1 and diff.get_attribute("open") is None
    inserted = diff.locator(".dl-ins")
    assert not inserted.first.is_visible()  # collapsed by default
    diff.locator("summary").click()
    assert inserted.first.is_visible()
    assert "Kindly" in (inserted.first.text_content() or "")
    # Same rendered messages: no diff to open.
    assert page.page.locator("#cand1-regression-list article[data-case=c2] details.msg-diff").count() == 0
