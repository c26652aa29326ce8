"""Report rendering: golden structure of the run and compare pages and their Markdown summaries.

Runs are written with the real scorers (evalkit.report._synthetic) or made by the real runner against
the project's OpenAI-compatible test server; the HTML is parsed with the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import run_cli, write_suite

from evalkit.compare import compare_runs
from evalkit.report import render_compare_report, render_run_report, write_run_report
from evalkit.report._diff import diff, sides
from evalkit.report._synthetic import XSS_OUTPUT, SyntheticItem, demo_runs, write_run
from evalkit.results import read_manifest, read_summary
from evalkit.testing import FakeOpenAIServer

# --- a tiny DOM ------------------------------------------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.content: list[Node | str] = []

    @property
    def children(self) -> list[Node]:
        return [c for c in self.content if isinstance(c, Node)]

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.content)

    @property
    def words(self) -> str:
        """The text with element boundaries as spaces, whitespace collapsed."""
        return " ".join(" ".join(c if isinstance(c, str) else c.words for c in self.content).split())

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        out = []
        for child in self.children:
            if child.tag == tag and all(child.attrs.get(k.rstrip("_")) == v for k, v in attrs.items()):
                out.append(child)
            out.extend(child.find_all(tag, **attrs))
        return out

    def find(self, tag: str, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]


_VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "source", "wbr"}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.cur)
        self.cur.content.append(node)
        if tag not in _VOID:
            self.cur = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.content.append(Node(tag, dict(attrs), self.cur))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data: str) -> None:
        self.cur.content.append(data)


def parse(html: str) -> Node:
    p = _Parser()
    p.feed(html)
    return p.root


def rows(table: Node) -> list[list[str]]:
    return [[c.words for c in tr.children if c.tag in ("td", "th")]
            for tr in table.find_all("tr")]


def all_attrs(node: Node) -> list[tuple[str, str, str]]:
    out = [(node.tag, k, v or "") for k, v in node.attrs.items()]
    for child in node.children:
        out.extend(all_attrs(child))
    return out


def item_data(doc: Node, table_id: str) -> dict:
    return json.loads(doc.find("script", id=f"{table_id}-data").text)


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return demo_runs(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def run_html(demo: tuple[Path, Path]) -> str:
    return render_run_report(demo[1])


@pytest.fixture(scope="module")
def compare_html(demo: tuple[Path, Path]) -> str:
    return render_compare_report([compare_runs(demo[0], demo[1], n_resamples=300)])


# --- shared page rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["run_html", "compare_html"])
def test_page_is_self_contained_and_locked_down(page: str, request: pytest.FixtureRequest) -> None:
    html: str = request.getfixturevalue(page)
    doc = parse(html)
    for tag, attr, value in all_attrs(doc):
        if attr in ("src", "href", "action", "srcset", "xlink:href", "poster", "data"):
            assert "http" not in value and "//" not in value, (tag, attr, value)
    assert not doc.find_all("link", rel="stylesheet")
    assert all(s.attrs.get("src") is None for s in doc.find_all("script"))
    csp = doc.find("meta", **{"http-equiv": "Content-Security-Policy"}).attrs["content"] or ""
    assert "default-src 'none'" in csp and "img-src data:" in csp and "connect-src 'none'" in csp
    # The only executable script is allowed by its hash.
    code = [s for s in doc.find_all("script") if s.attrs.get("type") is None]
    assert len(code) == 1
    digest = base64.b64encode(hashlib.sha256(code[0].text.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert "@import" not in html and "url(" not in html.split("<body", 1)[0]
    # Font stacks with fallbacks for CJK, Devanagari, Thai and Arabic.
    for font in ("Noto Sans CJK SC", "Noto Sans Devanagari", "Noto Sans Thai", "Noto Naskh Arabic", "sans-serif"):
        assert font in html


@pytest.mark.parametrize("page", ["run_html", "compare_html"])
def test_xss_payload_is_escaped(page: str, request: pytest.FixtureRequest) -> None:
    html: str = request.getfixturevalue(page)
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    doc = parse(html)
    assert not doc.find_all("img")
    assert not [a for a in all_attrs(doc) if a[1].startswith("on")]  # no event-handler attributes at all
    assert "\\u003cscript\\u003ewindow.__pwned" in html  # inside the JSON data block, escaped by |tojson


# --- run report ------------------------------------------------------------------------------------


def test_run_header_fields_and_signatures(run_html: str, demo: tuple[Path, Path]) -> None:
    manifest = read_manifest(demo[1])
    doc = parse(run_html)
    facts = {" ".join(d.find("dt").text.split()): " ".join(d.find("dd").text.split())
             for d in doc.find("dl", id="run-facts").find_all("div")}
    assert facts["Suite"] == "demo-translate"
    assert facts["Suite sha256"] == manifest.suite.sha256
    assert facts["Model"] == "llama-3.2-3b-instruct-q4"
    assert facts["Endpoint"] == "http://127.0.0.1:8000/v1"
    assert facts["Parameters"] == "seed=1, temperature=0"
    assert facts["evalkit"] == manifest.evalkit_version
    assert facts["Errors by kind"] == "server_error 1"
    assert facts["Started"] == "2026-01-16T14:05:00+00:00"
    sig_rows = rows(doc.find("table", id="signature-table"))
    assert len(sig_rows) == 1 + sum(len(v) for v in manifest.signatures.values())
    for by_lang in manifest.signatures.values():
        for signature in by_lang.values():
            assert signature in run_html
    assert "tok:zh" in run_html and "tok:char" in run_html


def test_run_metric_tables(run_html: str, demo: tuple[Path, Path]) -> None:
    summary = read_summary(demo[1])
    doc = parse(run_html)
    tables = {t.attrs["data-metric"]: t for t in doc.find_all("table") if "data-metric" in t.attrs}
    assert list(tables) == ["bleu", "chrf++", "ter", "exact_match", "language"]
    bleu = rows(tables["bleu"])
    assert [c.split()[0] for c in bleu[0][1:]] == ["de", "hi", "th", "zh", "ja", "ar"]
    assert [r[0] for r in bleu[1:]] == ["plain", "polite"]
    cell = next(c for c in summary.cells if (c.variant, c.language, c.metric) == ("polite", "th", "bleu"))
    assert bleu[2][3] == f"{cell.value:.1f} [{cell.ci_low:.1f}, {cell.ci_high:.1f}]"
    # Heatmap colours: every score cell has a background and a printed number.
    heat = tables["ter"].find_all("td")
    assert all("background:#" in (td.attrs.get("style") or "") for td in heat)
    assert all(re.match(r"^\d+\.\d", td.text.strip()) for td in heat)
    # TER is lower-is-better: its best cell gets the brightest colour, like BLEU's best cell.
    ter_cells = {c.language: c for c in summary.cells if c.metric == "ter" and c.variant == "plain"}
    best = min(ter_cells, key=lambda lang: ter_cells[lang].value or 0)
    worst = max(ter_cells, key=lambda lang: ter_cells[lang].value or 0)
    langs = ["de", "hi", "th", "zh", "ja", "ar"]
    tds = tables["ter"].find_all("tr")[1].find_all("td")
    lum = [_luminance(td.attrs["style"] or "") for td in tds]
    assert lum[langs.index(best)] > lum[langs.index(worst)]


def _luminance(style: str) -> float:
    h = re.search(r"background:#([0-9a-f]{6})", style).group(1)  # type: ignore[union-attr]
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_run_charts_errors_and_wrong_language(run_html: str) -> None:
    doc = parse(run_html)
    charts = [d for d in doc.find_all("div") if "data-chart" in d.attrs]
    assert [c.attrs["data-chart"] for c in charts] == ["bleu", "chrf++", "ter", "exact_match", "language"]
    for c in charts:
        svg = c.find("svg")
        assert len(svg.find_all("rect")) >= 12  # 6 languages x 2 variants (+ legend)
        assert svg.find_all("path")  # interval whiskers
    assert rows(doc.find("table", id="error-table"))[1] == ["polite", "ja", "1", "24", "server_error 1"]
    assert rows(doc.find("table", id="wrong-language-table"))[1:] == [["plain", "hi · Hindi", "8", "24", "33.3%"],
                                                                      ["polite", "hi · Hindi", "8", "24", "33.3%"]]


def test_run_item_data(run_html: str) -> None:
    doc = parse(run_html)
    data = item_data(doc, "run-items")
    keys = [c["key"] for c in data["columns"]]
    assert keys == ["variant", "language", "case", "input", "reference", "output", "s:bleu", "s:chrf++", "s:ter",
                    "s:exact_match", "s:language", "detected", "error", "failed", "wrong"]
    assert len(data["rows"]) == 288 and all(len(r) == len(keys) for r in data["rows"])
    by = {(r[1], r[0], r[2]): dict(zip(keys, r, strict=True)) for r in data["rows"]}
    xss = by[("de", "plain", "c07")]
    assert xss["output"] == XSS_OUTPUT and xss["input"].startswith("Translate into German:")
    failed = by[("ja", "polite", "c08")]
    assert failed["failed"] == 1 and failed["error"].startswith("server_error")
    wrong = by[("hi", "plain", "c01")]
    assert wrong["wrong"] == 1 and wrong["detected"] == "en"
    assert doc.find("div", id="run-items").attrs["data-source"] == "run-items-data"


def test_run_markdown(demo: tuple[Path, Path]) -> None:
    text = render_run_report(demo[1], "md")
    assert text.startswith("### evalkit: demo-translate · llama-3.2-3b-instruct-q4")
    assert "| variant | de | hi | th | zh | ja | ar |" in text
    assert "**TER** (points, lower is better, 95% interval)" in text
    assert re.search(r"^\| plain \| \d+\.\d \[\d+\.\d, \d+\.\d\] \|", text, re.M)
    assert "**Wrong-language answers:** plain/hi 8/24, polite/hi 8/24" in text
    assert "<" not in text.replace("<0.001", "")


# --- compare report --------------------------------------------------------------------------------


def test_compare_metric_table(compare_html: str, demo: tuple[Path, Path]) -> None:
    comparison = compare_runs(demo[0], demo[1], n_resamples=300)
    doc = parse(compare_html)
    table = rows(doc.find("table", id="cand1-metrics"))
    assert table[0] == ["Language", "Variant", "Metric", "Baseline", "Candidate", "Δ", "Paired 95% CI", "p (adj.)",
                        "p (raw)", "n", "Flips ↓/↑", ""]
    assert len(table) == 1 + len(comparison.metrics)
    marks = [r[-1] for r in table[1:]]
    n_regressions = sum(m.regression for m in comparison.metrics)
    assert n_regressions > 0 and marks[:n_regressions] == ["▼ regression"] * n_regressions  # regressions first
    th = next(r for r in table[1:] if r[:3] == ["th Thai", "plain", "exact match"])
    assert th[3:6] == ["79.2%", "0.0%", "−79.2"] and th[-1] == "▼ regression"
    assert any(r[-1] == "▲ improvement" for r in table[1:])
    assert len(doc.find("div", id="cand1-items").attrs) >= 3
    plots = [d for d in doc.find_all("div") if "data-chart" in d.attrs]
    assert len(plots) == 10 and all(p.find_all("svg") for p in plots)  # 5 metrics x 2 variants
    summary = doc.find("pre", id="cand1-summary").text  # a Markdown table, one row per language and variant
    assert summary.strip().splitlines()[0] == ("| language | variant | BLEU | chrF++ | TER | exact match | "
                                               "language fidelity |")
    assert len(summary.strip().splitlines()) == 2 + len(comparison.summary_lines())


def test_compare_regressions_with_diffs(compare_html: str) -> None:
    doc = parse(compare_html)
    cards = doc.find("div", id="cand1-regression-list").find_all("article")
    assert 0 < len(cards) <= 100
    xss = next(c for c in cards if c.attrs["data-case"] == "c07" and c.attrs["data-language"] == "de")
    assert XSS_OUTPUT in xss.text  # shown as text
    unspaced = next(c for c in cards if c.attrs["data-language"] in ("zh", "ja", "th"))
    deleted = "".join(d.text for d in unspaced.find_all("del"))
    assert deleted and len(deleted) <= 3  # characters, not the whole sentence
    ar = next(c for c in cards if c.attrs["data-language"] == "ar")
    changed = ar.find_all("del") + ar.find_all("ins")
    assert changed and all(" " not in d.text.strip() for d in changed)  # whole words, one at a time


def test_compare_item_data(compare_html: str) -> None:
    data = item_data(parse(compare_html), "cand1-items")
    keys = [c["key"] for c in data["columns"]]
    assert keys[:9] == ["language", "variant", "case", "change", "input", "reference", "base", "cand", "s:bleu"]
    assert len(data["rows"]) == 288
    assert data["spaced"] == {"ar": True, "de": True, "hi": True, "ja": False, "th": False, "zh": False}
    changes = {r[keys.index("change")] for r in data["rows"]}
    assert {"pass_to_fail", "fail_to_pass", "same", "error"} <= changes


def test_compare_forced_banner_and_markdown(tmp_path: Path, demo: tuple[Path, Path]) -> None:
    items = [SyntheticItem("c1", "de", "plain", "Translate: Good morning", "Guten Morgen", "Guten Morgen")]
    xss = [SyntheticItem("c1", "de", "plain", "Translate: Good morning", "Guten Morgen", XSS_OUTPUT)]
    other = write_run(tmp_path / "other", xss, suite_name="another-suite")
    base = write_run(tmp_path / "base", items)
    comparison = compare_runs(base, other, force=True, n_resamples=100)
    html = render_compare_report([comparison])
    banner = parse(html).find("div", id="forced-banner")
    assert "Forced comparison" in banner.text and "suites differ" in banner.text
    md = render_compare_report([comparison], "md")
    assert "**Forced comparison**" in md and "> [!WARNING]" in md
    assert "<script>" not in md and "\\<script\\>" in md
    md_demo = render_compare_report([compare_runs(demo[0], demo[1], n_resamples=300)], "md")
    assert "| language | variant | metric | base | cand | Δ | 95% CI | p (adj.) | |" in md_demo
    assert "| th | plain | exact match | 79.2% | 0.0% | **−79.2** |" in md_demo
    assert "**Top regressions** (10 of" in md_demo


def test_several_candidates_get_one_section_each(demo: tuple[Path, Path]) -> None:
    comparisons = [compare_runs(demo[0], demo[1], n_resamples=100), compare_runs(demo[0], demo[0], n_resamples=100)]
    doc = parse(render_compare_report(comparisons))
    sections = [s for s in doc.find_all("section") if s.attrs.get("class") == "cand-section"]
    assert [s.attrs["id"] for s in sections] == ["cand1", "cand2"]
    assert rows(doc.find("table", id="runs-table"))[0] == ["", "Baseline · base", "Candidate · cand",
                                                           "Candidate · base"]


# --- diffs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "base", "cand", "deleted", "inserted"), [
    ("de", "Wo ist der Bahnhof?", "Wo ist Bahnhof?", ["der "], []),
    ("de", "Guten Morgen", "Guten Abend", ["Morgen"], ["Abend"]),
    ("zh", "今天天气很好", "今天天很好", ["气"], []),
    ("th", "วันนี้อากาศดี", "วันนี้อากาศไม่ดี", [], ["ไม่"]),
    ("ja", "駅はどこですか", "駅はどこか", ["です"], []),
    ("hi", "आज मौसम अच्छा है", "आज मौसम बुरा है", ["अच्छा "], ["बुरा "]),
])
def test_diff_words_or_characters(lang: str, base: str, cand: str, deleted: list[str], inserted: list[str]) -> None:
    segments = diff(base, cand, lang)
    left, right = sides(segments)
    assert "".join(s.text for s in left) == base and "".join(s.text for s in right) == cand
    assert [s.text for s in segments if s.op == "delete"] == deleted
    assert [s.text for s in segments if s.op == "insert"] == inserted


# --- CLI and runner --------------------------------------------------------------------------------


def test_cli_report_and_compare(tmp_path: Path, demo: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cand = demo
    out = tmp_path / "r" / "run.html"
    assert run_cli("report", cand, "--out", out) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    capsys.readouterr()
    assert run_cli("report", cand, "--format", "md") == 0
    assert capsys.readouterr().out.startswith("### evalkit: demo-translate")
    page = tmp_path / "c.html"
    assert run_cli("compare", base, cand, "--out", page, "--resamples", "200") == 0
    assert "▼ regression" in capsys.readouterr().out and page.exists()
    assert run_cli("compare", cand, cand, "--variants", "plain,polite", "--format", "md", "--resamples", "200") == 0
    assert "### evalkit compare: polite vs plain" in capsys.readouterr().out


def test_cli_compare_refuses_incompatible_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = [SyntheticItem("c1", "de", "plain", "Translate: Good morning", "Guten Morgen", "Guten Morgen")]
    a = write_run(tmp_path / "a", items)
    b = write_run(tmp_path / "b", items, suite_name="another-suite")
    assert run_cli("compare", a, b, "--out", tmp_path / "c.html") == 2
    err = capsys.readouterr().err
    assert "suites differ" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.html").exists()
    assert run_cli("compare", a, b, "--out", tmp_path / "c.html", "--force") == 0
    assert "forced comparison" in capsys.readouterr().err
    assert run_cli("compare", a, b, "--variants", "plain") == 2
    assert run_cli("report", tmp_path / "missing") == 2
    assert "not found" in capsys.readouterr().err


def test_runner_writes_report(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    doc = parse(html)
    assert doc.find("h1").text.strip() == "core-test"
    data = item_data(doc, "run-items")
    assert len(data["rows"]) == 18
    assert write_run_report(out, tmp_path / "again.html").read_text(encoding="utf-8").count("<svg") == 4


def test_cli_compare_gate(tmp_path: Path, demo: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cand = demo
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates:\n  thresholds:\n    chrf++: {min: 10}\n  regressions:\n    default: {max_drop: 2.0}\n",
                     encoding="utf-8")
    junit, md = tmp_path / "junit.xml", tmp_path / "gate.md"
    code = run_cli("compare", base, cand, "--out", tmp_path / "c.html", "--gate", "--gates", gates,
                   "--junit", junit, "--markdown", md)
    out = capsys.readouterr().out
    assert code == 1 and "gate cand:" in out  # Thai exact match regressed significantly
    assert junit.read_text(encoding="utf-8").startswith("<?xml") and md.exists()
    assert (tmp_path / "c.html").exists()
    assert run_cli("compare", base, base, "--out", tmp_path / "same.html", "--gate", "--gates", gates) == 0
    assert run_cli("compare", base, cand, "--junit", junit) == 2  # needs --gate
    assert run_cli("compare", base, cand, "--gate", "--variants", "plain,polite") == 2
