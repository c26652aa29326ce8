"""`evalkit compare --gate` puts the gate's verdict and every failing check on the page (issue 11.9): the
page never says "0 significant regressions" alone while the gate failed."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from helpers import run_cli, run_subprocess
from test_compare import CASES, _rewrite_results, make_run, translator_for

from evalkit.gate import run_gate


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("page-runs")
    return {
        "base": make_run(tmp, "base", translator_for()),
        "bad_th": make_run(tmp, "bad_th", translator_for({"th": 0.7})),
    }


def _gates(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GATES_FAILING = """\
gates:
  min_items: 20
  thresholds:
    chrf++: {min: 60, languages: {th: {min: 50}}}
    exact_match: {min: 60}
"""


def _page_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_compare_gate_page_shows_the_failing_verdict(runs: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    gates = _gates(tmp_path, GATES_FAILING)
    plain, gated = tmp_path / "plain.html", tmp_path / "gated.html"
    assert run_cli("compare", runs["base"], runs["bad_th"], "--out", plain) == 0
    assert run_cli("compare", runs["base"], runs["bad_th"], "--out", gated, "--gate", "--gates", gates) == 1
    out = capsys.readouterr().out
    result = run_gate(runs["bad_th"], baseline=runs["base"], gates=gates)
    assert not result.passed and result.failures
    page = gated.read_text(encoding="utf-8")
    text = " ".join(_page_text(gated).split())
    assert 'id="cand1-gate"' in page and "gate-failed" in page
    assert result.summary() in text and result.summary() in out
    for check in result.failures:
        assert " ".join(check.message.split()) in text, check.message
    assert "gates.yaml" in text
    # Without --gate the page has no verdict (it does not claim one).
    assert 'id="cand1-gate"' not in plain.read_text(encoding="utf-8")


def test_compare_gate_page_shows_a_passing_verdict_and_md(runs: dict[str, Path], tmp_path: Path) -> None:
    gates = _gates(tmp_path, GATES_FAILING)
    page = tmp_path / "same.html"
    assert run_cli("compare", runs["base"], runs["base"], "--out", page, "--gate", "--gates", gates) == 0
    text = " ".join(_page_text(page).split())
    assert "gate passed: all 18 checks passed" in text and "gate-passed" in page.read_text(encoding="utf-8")
    md = run_subprocess("compare", runs["base"], runs["bad_th"], "--format", "md", "--gate", "--gates", gates)
    assert md.returncode == 1, md.stderr
    markdown = md.stdout.split("\ngate bad_th:\n")[0]  # the Markdown page, before the gate's terminal lines
    assert "### evalkit compare: bad\\_th vs base" in markdown
    assert "**❌ gate FAILED: " in markdown and "- FAIL th exact\\_match 30.0% \\< 60.0%" in markdown


def test_compare_gate_page_with_incomplete_candidate(runs: dict[str, Path], tmp_path: Path) -> None:
    gates = _gates(tmp_path, GATES_FAILING)
    lost = _rewrite_results(runs["base"], tmp_path / "lost",
                            lambda row: None if row["case_id"] == CASES[0]["id"] else row)
    page = tmp_path / "lost.html"
    assert run_cli("compare", runs["base"], lost, "--out", page, "--gate", "--gates", gates) == 1
    text = " ".join(_page_text(page).split())
    assert "run lost is incomplete: results.jsonl holds 87 of 90 planned items" in text


def test_compare_notes_an_incomplete_run_without_gate(runs: dict[str, Path], tmp_path: Path) -> None:
    lost = _rewrite_results(runs["base"], tmp_path / "lost",
                            lambda row: None if row["case_id"] == CASES[0]["id"] else row)
    page = tmp_path / "plain.html"
    assert run_cli("compare", runs["base"], lost, "--out", page) == 0
    text = " ".join(_page_text(page).split())
    assert ("Note: the candidate run lost is incomplete: results.jsonl holds 87 of 90 planned items "
            "(the manifest says complete)") in text
