"""Report fixes seen in screenshots (#14): chart axes and labels, severity order, the PR summary as a Markdown
table, the wrong-language table by variant, and diffs whose granularity follows the text's script."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from evalkit.compare import compare_runs
from evalkit.report._compare_context import compare_context
from evalkit.report._context import run_context
from evalkit.report._diff import diff
from evalkit.report._svg import Bar, Series, bar_chart
from evalkit.report._synthetic import demo_runs

_TICK = re.compile(r'<text x="(\d+(?:\.\d+)?)" y="(\d+(?:\.\d+)?)" text-anchor="end" fill="#6b7280">([\d.]+)</text>')
_LABEL = re.compile(r'<text x="[\d.]+" y="([\d.]+)" text-anchor="middle" font-size="9"[^>]*>')
_WHISKER = re.compile(r'<path class="whisker" d="M[\d.]+ ([\d.]+)V([\d.]+)')


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return demo_runs(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def section(demo: tuple[Path, Path]) -> dict:
    return compare_context([compare_runs(demo[0], demo[1], n_resamples=200)])["sections"][0]


def _chart(values: list[tuple[float, float, float]]) -> str:
    groups = [(f"l{i}", f"L{i}") for i in range(len(values))]
    bars = {("a", f"l{i}"): Bar(v, lo, hi, 24) for i, (v, lo, hi) in enumerate(values)}
    return str(bar_chart("t", groups, [Series("a", "#000")], bars))


def test_bar_axis_follows_the_data_and_is_stated() -> None:
    svg = _chart([(18.2, 15.0, 21.4), (23.9, 20.1, 26.3), (9.5, 7.0, 12.0)])
    ticks = [float(t[2]) for t in _TICK.findall(svg)]
    assert ticks[0] == 0 and 26.3 <= ticks[-1] <= 40  # not a fixed 0–100 axis: BLEU bars are not slivers
    assert f"0–{ticks[-1]:g}" in svg  # the axis range is stated
    heights = [float(h) for h in re.findall(r'<rect class="bar"[^>]* height="([\d.]+)"', svg)]
    assert max(heights) > 0.55 * 150


def test_percentages_keep_a_full_axis_when_they_reach_it() -> None:
    svg = _chart([(97.0, 90.0, 100.0), (60.0, 50.0, 70.0)])
    ticks = [float(t[2]) for t in _TICK.findall(svg)]
    assert ticks[-1] == 100


def test_value_labels_clear_whiskers_and_legend_near_100() -> None:
    svg = _chart([(99.0, 96.0, 100.0), (100.0, 100.0, 100.0), (50.0, 45.0, 55.0)])
    labels = [float(y) for y in _LABEL.findall(svg)]
    whisker_tops = [min(float(a), float(b)) for a, b in _WHISKER.findall(svg)]
    assert len(labels) == 3
    for label_y, top in zip(labels, whisker_tops, strict=True):
        assert label_y <= top - 2  # the label's baseline sits above the whisker's cap
        assert label_y - 9 >= 20  # and below the legend (text at y 8–18)


def test_chart_scales_to_its_card() -> None:
    svg = _chart([(50.0, 40.0, 60.0)])
    assert 'preserveAspectRatio="xMinYMin meet"' in svg
    css = (Path(__file__).resolve().parents[1] / "evalkit/report/static/report.css").read_text()
    assert re.search(r"svg\.chart \{[^}]*width: 100%", css)


def _severity(row: dict) -> float:
    d = float(row["delta"].replace("−", "-").replace("±", ""))
    d = d if row["higher_is_better"] else -d
    return d / (20.0 if row["base"].endswith("%") else 10.0)


def test_compare_rows_by_severity_with_original_order_kept(section: dict) -> None:
    rows = section["rows"]
    n_reg = sum(r["direction"] == "regression" for r in rows)
    assert n_reg and all(r["direction"] == "regression" for r in rows[:n_reg])
    rest = [_severity(r) for r in rows[n_reg:]]
    assert rest == sorted(rest)  # then the largest drops first
    orders = [r["order"] for r in rows]
    assert sorted(orders) == list(range(len(rows))) and orders != sorted(orders)
    original = sorted(rows, key=lambda r: r["order"])
    assert [r["language"] for r in original[:10]] == ["de"] * 10  # the language order, one click away


def test_forest_plots_by_severity(section: dict) -> None:
    plots = section["plots"]
    keys = [(-p["n_regressions"], p["worst"]) for p in plots]
    assert keys == sorted(keys)
    assert plots[0]["n_regressions"] > 0
    assert not math.isnan(plots[0]["worst"])


def test_pr_summary_is_a_markdown_table(section: dict) -> None:
    lines = section["summary_markdown"].splitlines()
    assert lines[0].startswith("| language | variant |") and re.fullmatch(r"\|(-+:?\|)+", lines[1].replace(" ", ""))
    width = lines[0].count("|")
    body = lines[2:]
    assert len(body) == 12 and all(line.count("|") - line.count("\\|") == width for line in body)  # 6 langs x 2
    th = next(line for line in body if line.startswith("| th | plain |"))
    assert "**−79.2 ▼**" in th  # exact match in Thai: a significant regression stands out
    assert "<" not in section["summary_markdown"].replace("<0.001", "")


def test_wrong_language_table_by_variant(demo: tuple[Path, Path]) -> None:
    ctx = run_context(demo[1])
    assert [(w["variant"], w["language"], w["count"], w["answered"]) for w in ctx["wrong_language"]] == [
        ("plain", "hi", 8, 24), ("polite", "hi", 8, 24)]


@pytest.mark.parametrize(("lang", "base", "cand", "deleted", "inserted"), [
    ("ja", "Bienvenue à Paris", "Bienvenue a Paris", ["à "], ["a "]),  # English/French text, Japanese target
    ("en", "駅はどこですか", "駅はどこか", ["です"], []),  # Japanese text, English target
    ("ja", "東京 Tower is tall", "東京 Tower is high", ["tall"], ["high"]),  # mixed: words and characters
    ("zh", "版本 v2.1 很好", "版本 v2.2 很好", ["1 "], ["2 "]),
])
def test_diff_granularity_follows_the_script(lang: str, base: str, cand: str, deleted: list[str],
                                             inserted: list[str]) -> None:
    segments = diff(base, cand, lang)
    assert "".join(s.text for s in segments if s.op != "insert") == base
    assert "".join(s.text for s in segments if s.op != "delete") == cand
    assert [s.text for s in segments if s.op == "delete"] == deleted
    assert [s.text for s in segments if s.op == "insert"] == inserted


def test_item_tables_carry_the_tokenizer(section: dict) -> None:
    """The browser computes the item-table diffs with the same token pattern as the server-side cards."""
    from evalkit.report._diff import TOKEN_PATTERN

    assert section["items"]["tokens"] == TOKEN_PATTERN
