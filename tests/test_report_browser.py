"""The reports in a real headless Chromium: tables and charts render, filters/sorting/paging work, nothing is
fetched from the network, nothing logs an error, and an XSS payload in a model output stays inert text.

Needs the Debian ``chromium`` package (``make browser``); Playwright drives it (never ``playwright install``).
Screenshots of both reports are saved to a temporary folder (reports/screenshots/ with `make screenshots`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evalkit.compare import compare_runs
from evalkit.report import write_compare_report, write_run_report
from evalkit.report._synthetic import XSS_OUTPUT, demo_items, demo_runs

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
# Screenshots go to a temporary folder, so that `make test` leaves the checkout clean; `make screenshots`
# refreshes the committed ones in reports/screenshots/ (EVALKIT_SCREENSHOTS_DIR).
SCREENSHOTS = Path(os.environ.get("EVALKIT_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "evalkit-screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = CHROMIUM if CHROMIUM.exists() else None
    if chromium is None:
        pytest.fail(f"Chromium is not installed ({CHROMIUM} not found): run `make browser` "
                    "(apt-get install chromium chromium-driver) to run the report browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]' (do not run `playwright install`; "
                    "the tests use the system Chromium from `make browser`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("browser")
    base, cand = demo_runs(tmp / "runs")
    return {
        "run": write_run_report(cand, tmp / "run.html"),
        "compare": write_compare_report([compare_runs(base, cand, n_resamples=300)], tmp / "compare.html"),
    }


@dataclass
class Watched:
    page: Any
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def rows(self, table: str) -> int:
        return int(self.page.get_attribute(f"#{table}", "data-rows"))

    def matching(self, table: str) -> int:
        return int(self.page.get_attribute(f"#{table}", "data-matching"))

    def column(self, table: str, key: str) -> list[str]:
        """The text of one column on the visible page."""
        script = """([table, key]) => {
            const ths = [...document.querySelectorAll(`#${table} thead th`)];
            const i = ths.findIndex(th => th.dataset.key === key);
            return [...document.querySelectorAll(`#${table} tbody tr`)].map(tr => tr.children[i].textContent);
        }"""
        return list(self.page.evaluate(script, [table, key]))


def open_report(browser: Any, path: Path, width: int = 1440) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": width, "height": 1800}, device_scale_factor=1)
    page = context.new_page()
    # Every wait is for a condition (a selector, the report's ready flag), so a long timeout costs a passing test
    # nothing; 5 s was too short for a first page load on a busy CI machine (Page.goto timed out once).
    page.set_default_timeout(60_000)
    w = Watched(page)
    page.on("request", lambda r: w.requests.append(r.url))
    page.on("console", lambda m: w.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: w.console.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (w.dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-report-ready]")
    yield w
    assert w.console == [], w.console
    assert w.dialogs == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert all(u == path.as_uri() or u.startswith("data:") for u in w.requests), w.requests
    context.close()


@pytest.fixture
def run_page(browser: Any, reports: dict[str, Path]) -> Iterator[Watched]:
    yield from open_report(browser, reports["run"])


@pytest.fixture
def compare_page(browser: Any, reports: dict[str, Path]) -> Iterator[Watched]:
    yield from open_report(browser, reports["compare"])


@pytest.fixture
def narrow_pages(browser: Any, reports: dict[str, Path]) -> Iterator[dict[str, Watched]]:
    """Both reports at 1,280 px, the width of a laptop screen."""
    run, compare = open_report(browser, reports["run"], 1280), open_report(browser, reports["compare"], 1280)
    yield {"run": next(run), "compare": next(compare)}
    for gen in (run, compare):
        with pytest.raises(StopIteration):
            next(gen)


def _element_screenshot(locator: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.page.evaluate("document.querySelector('nav.toc').style.position = 'static'")  # not stitched in
    locator.screenshot(path=str(SCREENSHOTS / name))


def _screenshot(w: Watched, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    w.page.evaluate("window.scrollTo(0, 0)")
    w.page.screenshot(path=str(SCREENSHOTS / name))


# --- run report ------------------------------------------------------------------------------------


def test_run_report_renders(run_page: Watched) -> None:
    page = run_page.page
    assert page.locator("table.heat").count() == 5
    charts = page.locator("svg.chart")
    assert charts.count() == 5
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150
    assert page.locator("svg.chart rect.bar").count() == 5 * 12  # metrics x languages x variants
    assert run_page.rows("run-items") == 50 and run_page.matching("run-items") == 288
    assert page.locator("#run-items .count").text_content() == "1–50 of 288 items"
    _screenshot(run_page, "run-report.png")


def test_run_report_filters_sort_and_pages(run_page: Watched) -> None:
    page, t = run_page.page, "run-items"
    page.select_option(f"#{t} select[data-facet=language]", "th")
    assert run_page.matching(t) == 48 and set(run_page.column(t, "language")) == {"th"}
    page.select_option(f"#{t} select[data-facet=variant]", "polite")
    assert run_page.matching(t) == 24
    page.select_option(f"#{t} select[data-facet=language]", "")
    page.select_option(f"#{t} select[data-facet=variant]", "")
    page.check(f"#{t} input[data-toggle=failed]")
    assert run_page.matching(t) == 1 and run_page.column(t, "language") == ["ja"]
    page.uncheck(f"#{t} input[data-toggle=failed]")
    page.check(f"#{t} input[data-toggle=wrong]")
    assert run_page.matching(t) == 16 and set(run_page.column(t, "detected")) == {"en"}
    page.uncheck(f"#{t} input[data-toggle=wrong]")
    page.fill(f"#{t} input.search", "bahnhof")
    page.wait_for_selector(f"#{t}[data-matching='{_count_containing('bahnhof')}']")
    assert all("Bahnhof" in ref + out for ref, out in
               zip(run_page.column(t, "reference"), run_page.column(t, "output"), strict=True))
    page.fill(f"#{t} input.search", "")
    page.wait_for_selector(f"#{t}[data-matching='288']")
    # Sorting: BLEU ascending, then descending.
    page.click(f"#{t} th[data-key='s:bleu'] button")
    ascending = [float(x) for x in run_page.column(t, "s:bleu") if x != "—"]
    assert ascending == sorted(ascending) and ascending[0] == 0.0
    assert page.get_attribute(f"#{t} th[data-key='s:bleu']", "aria-sort") == "ascending"
    page.click(f"#{t} th[data-key='s:bleu'] button")
    descending = [float(x) for x in run_page.column(t, "s:bleu") if x != "—"]
    assert descending == sorted(descending, reverse=True)
    # Paging.
    page.click(f"#{t} .pager button:has-text('Next')")
    assert page.locator(f"#{t} .count").text_content() == "51–100 of 288 items"
    page.select_option(f"#{t} .pager select", "250")
    assert run_page.rows(t) == 250


def _count_containing(word: str) -> int:
    items = demo_items(candidate=True)
    return sum(1 for i in items if word in (i.prompt + i.reference + (i.output or "")).lower())


def test_run_report_shows_xss_as_text(run_page: Watched) -> None:
    page, t = run_page.page, "run-items"
    page.fill(f"#{t} input.search", "__pwned")
    page.wait_for_selector(f"#{t}[data-matching='1']")
    assert run_page.column(t, "output") == [XSS_OUTPUT]
    assert page.locator("img").count() == 0 and page.locator("script").count() == 2  # the app and its data
    assert page.evaluate("typeof window.__pwned") == "undefined"
    cell = page.locator(f"#{t} tbody .text[lang=de]").first
    assert cell.get_attribute("dir") == "auto"


# --- compare report --------------------------------------------------------------------------------


def test_compare_report_renders(compare_page: Watched) -> None:
    page = compare_page.page
    rows = page.locator("#cand1-metrics tbody tr")
    assert rows.count() == 60  # 6 languages x 2 variants x 5 metrics
    assert rows.first.locator("td.mark").text_content() == "▼ regression"
    assert page.locator("#cand1-metrics td.mark.up").count() >= 1
    assert page.locator("svg.chart.forest").count() == 10
    assert page.locator("#cand1-regression-list article").count() > 10
    assert page.locator("#cand1-regression-list del").count() > 0
    t = "cand1-items"
    assert compare_page.rows(t) == 50 and compare_page.matching(t) == 288
    # Sorted by the BLEU change, worst first; the diff marks deleted and inserted words in the visible rows.
    assert page.locator(f"#{t} tbody del").count() > 0 and page.locator(f"#{t} tbody ins").count() > 0
    assert page.locator("#forced-banner").count() == 0
    _screenshot(compare_page, "compare-report.png")


def test_compare_report_filters(compare_page: Watched) -> None:
    page, t = compare_page.page, "cand1-items"
    page.check(f"#{t} input[data-toggle=flipped]")
    flipped = compare_page.matching(t)
    assert 0 < flipped < 288 and set(compare_page.column(t, "change")) <= {"pass → fail", "fail → pass"}
    page.uncheck(f"#{t} input[data-toggle=flipped]")
    page.select_option(f"#{t} select[data-facet=change]", "pass_to_fail")
    assert set(compare_page.column(t, "change")) == {"pass → fail"}
    page.select_option(f"#{t} select[data-facet=language]", "zh")
    assert set(compare_page.column(t, "language")) == {"zh"}
    # Characters, not words, are marked in Chinese.
    marks = page.locator(f"#{t} tbody del").all_text_contents()
    assert marks and all(len(m) <= 3 for m in marks)
    page.select_option(f"#{t} select[data-facet=language]", "")
    page.select_option(f"#{t} select[data-facet=change]", "")
    page.fill(f"#{t} input.search", "__pwned")
    page.wait_for_selector(f"#{t}[data-matching='1']")
    assert page.locator(f"#{t} tbody td.col-long .text[lang=de]").nth(2).text_content() == XSS_OUTPUT
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_copy_summary_button(compare_page: Watched) -> None:
    page = compare_page.page
    page.click("button[data-copy=cand1-summary]")
    assert page.evaluate("window.getSelection().toString()").startswith("| language | variant |")


def test_chromium_is_the_system_one() -> None:
    assert shutil.which("chromium") or CHROMIUM.exists(), "run `make browser`"


# --- layout and order (#14: report fixes seen in screenshots) --------------------------------------


OVERFLOW = """() => ({
    page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    boxes: [...document.querySelectorAll('.table-wrap, .card, section')]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.id || e.className}: ${e.scrollWidth} > ${e.clientWidth}`),
    cut: [...document.querySelectorAll('table.items thead th')]
        .filter(th => th.getBoundingClientRect().right > th.closest('.table-wrap').getBoundingClientRect().right + 1)
        .map(th => th.dataset.key),
})"""


@pytest.mark.parametrize("name", ["run", "compare"])
def test_no_horizontal_overflow_at_1280(narrow_pages: dict[str, Watched], name: str) -> None:
    page = narrow_pages[name].page
    result = page.evaluate(OVERFLOW)
    assert result == {"page": 0, "boxes": [], "cut": []}
    if name == "compare":  # the scores at the right end of the item table are on screen, not scrolled away
        for key in ("s:exact_match", "s:language"):
            box = page.locator(f"#cand1-items th[data-key='{key}']").bounding_box()
            assert box is not None and box["x"] + box["width"] <= 1280
        page.select_option("#cand1-items .pager select", "25")
        _element_screenshot(page.locator("#cand1-items"), "compare-items-1280.png")
    else:
        _element_screenshot(page.locator("#charts"), "run-charts-1280.png")


def test_charts_fill_their_cards(run_page: Watched, compare_page: Watched) -> None:
    for w in (run_page, compare_page):
        widths = w.page.evaluate("""() => [...document.querySelectorAll('.card svg.chart')].map(svg => {
            const card = svg.parentElement, style = getComputedStyle(card);
            const inner = card.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            return svg.getBoundingClientRect().width / inner;
        })""")
        assert widths and min(widths) > 0.95, widths
        scales = w.page.evaluate("""() => [...document.querySelectorAll('.card svg.chart')].map(
            svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width)""")
        assert min(scales) > 0.85 and max(scales) < 1.3, scales  # the 11 px labels stay legible


def test_compare_rows_by_severity_and_back(compare_page: Watched) -> None:
    page, t = compare_page.page, "cand1-metrics"

    def order(attr: str) -> list[int]:
        script = f"rs => rs.map(r => r.getAttribute('{attr}'))"
        return [int(x) for x in page.eval_on_selector_all(f"#{t} tbody tr", script)]

    def languages() -> list[str]:
        return page.eval_on_selector_all(f"#{t} tbody tr", "rs => rs.map(r => r.dataset.language)")

    n = page.locator(f"#{t} tbody tr.regression").count()
    assert n > 0 and page.locator(f"#{t} tbody tr").nth(n - 1).get_attribute("class") == "regression"
    assert order("data-severity") == list(range(60)) and order("data-order") != list(range(60))
    metric, delta = page.eval_on_selector(f"#{t} tbody tr:not(.regression)",
                                          "r => [r.dataset.metric, r.querySelector('td.delta-cell').textContent]")
    assert delta.startswith("+" if metric == "ter" else "−")  # after the significant regressions, the largest drop
    page.click(f"button[data-order-table={t}]")
    assert order("data-order") == list(range(60))
    assert languages()[:10] == ["de"] * 10 and languages()[-10:] == ["ar"] * 10
    assert page.get_attribute(f"button[data-order-table={t}]", "aria-pressed") == "true"
    assert page.text_content(".order-note .order-state") == "In language order (then variant and metric)."
    page.click(f"button[data-order-table={t}]")
    assert order("data-severity") == list(range(60))
    # Forest plots: the ones with significant regressions first, never a plot where nothing moved.
    first = page.locator(".card[data-chart] svg.chart.forest").first
    assert first.locator("text", has_text="▼").count() > 0


MIXED = "القطة نائمة\nThe cat is sleeping."


def test_mixed_direction_lines_each_read_their_own_way(run_page: Watched) -> None:
    page, t = run_page.page, "run-items"
    page.select_option(f"#{t} select[data-facet=language]", "ar")
    box = page.evaluate("""(text) => {
        const div = document.querySelector('#run-items tbody td.col-long .text[lang=ar]');
        div.textContent = text;
        div.classList.remove('clamp');
        const node = div.firstChild, english = text.indexOf('The');
        const at = (i) => { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
                            return r.getBoundingClientRect(); };
        const cell = div.getBoundingClientRect();
        return {t: at(english).left, dot: at(text.length - 1).left, arabicRight: at(0).right,
                left: cell.left, right: cell.right};
    }""", MIXED)
    assert box["dot"] > box["t"]  # "The cat is sleeping." left to right, the full stop at the end
    assert box["t"] - box["left"] < 12  # the English line starts at the left edge
    assert box["right"] - box["arabicRight"] < 12  # the Arabic line at the right edge


def test_emoji_have_a_colour_font(run_page: Watched) -> None:
    page = run_page.page
    family = page.evaluate("getComputedStyle(document.querySelector('#run-items .text')).fontFamily")
    assert "Color Emoji" in family
    coloured = page.evaluate("""() => {
        const font = getComputedStyle(document.querySelector('#run-items .text')).font;
        const c = document.createElement('canvas'); c.width = 64; c.height = 64;
        const ctx = c.getContext('2d'); ctx.font = font.replace(/\\d+px/, '40px'); ctx.fillText('😀', 4, 48);
        const d = ctx.getImageData(0, 0, 64, 64).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && Math.abs(d[i] - d[i + 2]) > 60) n++;
        return n;
    }""")
    assert coloured > 50, "no colour emoji font: run `make browser` (fonts-noto-color-emoji)"


TEXTS = ["Bienvenue à Paris, mes amis!", "駅はどこですか。", "東京 Tower is tall 𠀋𠀌", "สวัสดีครับ hello",
         "مرحبا بالعالم؟ The cat", "版本 v2.1 很好"]


def test_browser_tokens_match_the_server_side_diff(compare_page: Watched) -> None:
    """The item table's diff (JavaScript) splits texts exactly as the regression cards' diff (Python) does."""
    from evalkit.report._diff import tokenize

    tokens = compare_page.page.evaluate("""(texts) => {
        const spec = JSON.parse(document.getElementById('cand1-items-data').textContent);
        return texts.map(text => text.match(new RegExp(spec.tokens, 'gu')));
    }""", TEXTS)
    assert tokens == [tokenize(text) for text in TEXTS]
    assert tokens[0][:2] == ["Bienvenue ", "à "] and tokens[1][:2] == ["駅", "は"]
