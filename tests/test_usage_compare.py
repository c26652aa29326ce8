"""Usage deltas in `evalkit compare` and gates on tokens, cost, latency and truncation (issue #14)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, write_suite
from test_usage import USAGE_SUITE, responder

from evalkit.compare import compare_runs, usage_deltas
from evalkit.results import iter_results
from evalkit.testing import FakeOpenAIServer, Reply


def longer(request: dict[str, Any]) -> str | Reply:
    """The candidate: German answers twice as long, every Thai answer cut at max_tokens."""
    text = request["messages"][-1]["content"]
    if "into German:" in text:
        return "eins zwei drei vier fünf sechs sieben acht"
    if "into Thai:" in text:
        return Reply("a b c d e f", finish_reason="length")
    return responder(request)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Base and candidate runs of the same suite (each with prices), and the suite."""
    tmp = tmp_path_factory.mktemp("usage-compare")
    with FakeOpenAIServer(responder) as a, FakeOpenAIServer(longer) as b:
        suite = write_suite(tmp, a.base_url, USAGE_SUITE)
        prices = ("--price-in", "1", "--price-out", "2", "--no-report", "--no-cache")
        assert run_cli("run", suite, "--out", tmp / "base", *prices) == 0
        assert run_cli("run", suite, "--out", tmp / "cand", "--base-url", b.base_url, *prices) == 0
    return tmp / "base", tmp / "cand", suite


def _deltas(base: Path, cand: Path) -> dict[tuple[str, str], Any]:
    return {(d.language, d.measure): d for d in usage_deltas(compare_runs(base, cand))}


def test_compare_has_paired_usage_deltas(runs: tuple[Path, Path, Path]) -> None:
    base, cand, _ = runs
    deltas = _deltas(base, cand)
    de = deltas[("de", "completion_tokens")]
    assert (de.base, de.cand, de.delta, de.n) == (4.0, 8.0, 4.0, 4)
    assert de.ci_low == de.ci_high == 4.0  # every item grew by exactly 4 tokens
    assert de.pct == 100.0
    prompt = deltas[("de", "prompt_tokens")]
    assert prompt.delta == 0.0
    tokens = deltas[("de", "tokens")]
    assert tokens.delta == 4.0
    cost = deltas[("de", "cost")]
    assert cost.delta == pytest.approx(4 * 2 / 1e6)  # 4 more completion tokens at 2 per million
    trunc = deltas[("th", "truncation_rate")]
    assert (trunc.base, trunc.cand, trunc.delta) == (50.0, 100.0, 50.0)
    assert trunc.ci_low <= 50.0 <= trunc.ci_high
    en = deltas[("en", "tokens")]
    assert en.delta == 0.0 and en.ci_low == en.ci_high == 0.0
    lat = deltas[("de", "latency_p95_ms")]
    b = sorted(r.latency_ms for r in iter_results(base / "results.jsonl") if r.language == "de")
    assert lat.n == 4 and lat.base == pytest.approx(b[2] + (b[3] - b[2]) * 0.85)
    assert lat.ci_low <= lat.delta <= lat.ci_high


def test_compare_prints_usage_lines(runs: tuple[Path, Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    base, cand, _ = runs
    assert run_cli("compare", base, cand, "--out", tmp_path / "c.html") == 0
    printed = capsys.readouterr().out
    de = next(line for line in printed.splitlines() if line.strip().startswith("usage de:"))
    assert "tokens 10.5 → 14.5 (+38.1%, 95% CI +38.1%..+38.1%, n=4)" in de
    assert "cost" in de and "latency_p95_ms" in de and "completion_tokens" not in de
    th = next(line for line in printed.splitlines() if line.strip().startswith("usage th:"))
    assert "truncation_rate 50.0% → 100.0% (+50.0 pts" in th


def _gates(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_usage_gates_fail_on_increases(runs: tuple[Path, Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    base, cand, _ = runs
    gates = _gates(tmp_path, """\
        min_items: 4
        usage:
          tokens: {max_increase_pct: 10}
          truncation_rate: {max_increase: 5}
          languages:
            de: {tokens: {max_increase_pct: 50}}
        """)
    assert run_cli("gate", cand, "--baseline", base, "--gates", gates) == 1
    printed = capsys.readouterr().out
    fails = [line for line in printed.splitlines() if line.startswith("FAIL")]
    assert any(line.startswith("FAIL th truncation_rate 50.0% → 100.0%") for line in fails), fails
    assert not any(" de tokens" in line for line in fails), fails  # de may grow by 50%: it grew by less
    assert not any("en " in line for line in fails)
    assert run_cli("gate", cand, "--baseline", base, "--gates", _gates(tmp_path, """\
        min_items: 4
        usage:
          tokens: {max_increase_pct: 10}
          languages: {de: {tokens: {max_increase_pct: 5}}}
        """)) == 1
    assert any(line.startswith("FAIL de tokens") for line in capsys.readouterr().out.splitlines())


def test_usage_gates_pass_within_limits(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    base, cand, _ = runs
    gates = _gates(tmp_path, """\
        min_items: 4
        usage:
          tokens: {max_increase_pct: 60}
          cost: {max_increase_pct: 200}
          truncation_rate: {max_increase: 50}
        """)
    assert run_cli("gate", cand, "--baseline", base, "--gates", gates) == 0


def test_usage_thresholds_on_the_run(runs: tuple[Path, Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, cand, _ = runs
    gates = _gates(tmp_path, """\
        min_items: 4
        thresholds:
          truncation_rate: {max: 5}
          cost_per_item: {max: 1}
          latency_p95_ms: {max: 600000}
        """)
    assert run_cli("gate", cand, "--gates", gates) == 1
    fails = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert fails == ["FAIL th truncation_rate 100.0% > 5%"]


def test_cost_gate_without_prices_is_not_zero(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder) as srv:
        suite = write_suite(tmp_path, srv.base_url, USAGE_SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report", "--languages", "de") == 0
        assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report", "--languages", "de", "--no-cache") == 0
    gates = _gates(tmp_path, "min_items: 4\nusage: {cost: {max_increase_pct: 10}}\n")
    assert run_cli("gate", tmp_path / "b", "--baseline", tmp_path / "a", "--gates", gates) == 1
    thresholds = _gates(tmp_path, "min_items: 4\nthresholds: {cost_per_item: {max: 1}}\n")
    assert run_cli("gate", tmp_path / "b", "--gates", thresholds) == 1


@pytest.mark.parametrize(("body", "message"), [
    ("usage: {tokens: {}}\n", "give max_increase_pct or max_increase"),
    ("usage: {tokenz: {max_increase_pct: 5}}\n", "unknown key 'tokenz'"),
    ("usage: {languages: {de: {costs: {max_increase: 1}}}}\n", "unknown usage measure 'costs'"),
    ("thresholds: {truncation_rate: {max: 500}}\n", "truncation_rate is a percentage"),
])
def test_bad_usage_gates_are_one_line(runs: tuple[Path, Path, Path], tmp_path: Path, body: str, message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, cand, _ = runs
    assert run_cli("gate", cand, "--gates", _gates(tmp_path, body)) == 2
    err = capsys.readouterr().err
    assert message in err and "gates.yaml:1" in err and "Traceback" not in err


def test_gates_doc_example_with_usage_parses(tmp_path: Path) -> None:
    import re

    from evalkit.gate import load_gates

    text = (Path(__file__).parent.parent / "docs" / "gates.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(gates:.*?)```", text, re.S)
    assert block is not None
    path = tmp_path / "gates.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    spec = load_gates(path).spec
    assert spec.usage is not None and spec.usage.cost is not None and spec.usage.cost.max_increase_pct == 10
    assert spec.usage.limit("tokens", "th").max_increase_pct == 30
    assert spec.thresholds["truncation_rate"].max == 5


def test_compare_reports_show_usage_changes(runs: tuple[Path, Path, Path]) -> None:
    from evalkit.report import render_compare_report

    base, cand, _ = runs
    comparison = compare_runs(base, cand)
    page = render_compare_report([comparison], "html")
    assert 'id="cand1-usage-table"' in page
    assert 'data-language="th" data-measure="truncation_rate"' in page
    assert "Prices — baseline: 1 in / 2 out per million tokens" in page
    text = render_compare_report([comparison], "md")
    assert "**Cost, tokens, latency and truncation**" in text
    assert "| th | Truncated (%) | 50.0 | 100.0 | +50.0 pts |" in text
    assert "| de | Tokens per item | 10.5 | 14.5 | +38.1% | +38.1%..+38.1% |" in text


def test_run_report_markdown_and_old_summaries_show_usage(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import json
    import shutil

    from evalkit.report import render_run_report

    _, cand, _ = runs
    text = render_run_report(cand, "md")
    assert "| plain | th |" in text and "100.0% |" in text and "Prices: 1 in / 2 out" in text
    old = tmp_path / "old"
    shutil.copytree(cand, old)
    data = json.loads((old / "summary.json").read_text(encoding="utf-8"))
    del data["usage"], data["prices"]  # written before usage was summarized
    (old / "summary.json").write_text(json.dumps(data), encoding="utf-8")
    assert 'id="usage-table"' in render_run_report(old, "html")


def test_usage_checks_in_ci_outputs(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import json

    base, cand, _ = runs
    gates = _gates(tmp_path, """\
        min_items: 4
        thresholds: {truncation_rate: {max: 5}}
        usage: {tokens: {max_increase_pct: 10}}
        """)
    junit, verdict, md = tmp_path / "j.xml", tmp_path / "v.json", tmp_path / "s.md"
    assert run_cli("gate", cand, "--baseline", base, "--gates", gates, "--junit", junit, "--json", verdict,
                   "--markdown", md) == 1
    data = json.loads(verdict.read_text(encoding="utf-8"))
    assert "truncation_rate" in json.dumps(data) and "tokens" in json.dumps(data)
    assert "truncation_rate" in junit.read_text(encoding="utf-8")
    assert "th truncation_rate 100.0% > 5%" in md.read_text(encoding="utf-8")


def test_repeats_of_a_case_are_one_unit_of_the_usage_bootstrap(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder) as a, FakeOpenAIServer(longer) as b:
        suite = write_suite(tmp_path, a.base_url, USAGE_SUITE)
        common = ("--no-report", "--no-cache", "--repeat", "3", "--languages", "de")
        assert run_cli("run", suite, "--out", tmp_path / "base", *common) == 0
        assert run_cli("run", suite, "--out", tmp_path / "cand", "--base-url", b.base_url, *common) == 0
    comparison = compare_runs(tmp_path / "base", tmp_path / "cand")
    by = {d.measure: d for d in usage_deltas(comparison)}
    assert by["tokens"].n == 4 and by["tokens"].delta == 4.0  # 4 cases, not 12 requests
    assert by["latency_p95_ms"].n == 4  # percentiles too: over cases, each the mean of its repeats
    flat = {d.measure: d for d in usage_deltas(comparison, aggregate_repeats=False)}
    assert flat["tokens"].n == 12 and flat["tokens"].delta == 4.0
    assert flat["latency_p95_ms"].n == 12


def test_usage_checks_with_too_few_items_say_so(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from evalkit.gate import run_gate

    base, cand, _ = runs
    gates = _gates(tmp_path, """\
        min_items: 5
        on_insufficient: warn
        thresholds: {tokens_per_item: {max: 100}}
        usage: {tokens: {max_increase_pct: 10}}
        """)
    result = run_gate(cand, baseline=base, gates=gates)
    de = {(c.kind, c.metric): c for c in result.checks if c.language == "de"}
    for key in (("threshold", "tokens_per_item"), ("regression", "tokens")):
        check = de[key]
        assert (check.status, check.passed, check.n) == ("insufficient", True, 4)
        assert check.message == f"de {key[1]}: insufficient data (4 items < min_items 5)"


def test_usage_deltas_are_computed_once_per_comparison(runs: tuple[Path, Path, Path]) -> None:
    from unittest import mock

    from evalkit.compare import _usage

    base, cand, _ = runs
    comparison = compare_runs(base, cand)
    with mock.patch.object(_usage, "_usage_deltas", wraps=_usage._usage_deltas) as compute:
        first = usage_deltas(comparison)
        assert usage_deltas(comparison) == first == usage_deltas(compare_runs(base, cand))
        assert compute.call_count == 2  # once for this comparison, once for the fresh one
        assert usage_deltas(comparison, aggregate_repeats=False) is not None and compute.call_count == 3


def _set_latencies(run: Path, latency: Any) -> None:
    """Rewrite each result line's ``latency_ms`` and ``cached`` as ``latency(case_id, repeat)`` says: (ms, cached)."""
    path = run / "results.jsonl"
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(raw)
        data["latency_ms"], data["cached"] = latency(data["case_id"], data["repeat"])
        lines.append(json.dumps(data, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_latency_percentiles_are_over_cases_not_requests(tmp_path: Path) -> None:
    # 4 cases × 3 repeats. In the candidate, c1 is slow (1,000 ms) on all three repeats and c2..c4 are timed on
    # one repeat each (the others answered from the cache): over requests c1 would weigh three times as much
    # (p50 of 100, 100, 100, 1000, 1000, 1000 = 550 ms); over cases, as the other paired statistics, it is one
    # case of four (p50 of 1000, 100, 100, 100 = 100 ms).
    with FakeOpenAIServer(responder) as a:
        suite = write_suite(tmp_path, a.base_url, USAGE_SUITE)
        common = ("--no-report", "--no-cache", "--repeat", "3", "--languages", "de")
        assert run_cli("run", suite, "--out", tmp_path / "base", *common) == 0
        assert run_cli("run", suite, "--out", tmp_path / "cand", *common) == 0
    _set_latencies(tmp_path / "base", lambda case, repeat: (100.0, False))
    _set_latencies(tmp_path / "cand", lambda case, repeat: (1000.0, False) if case == "c1"
                   else (100.0, repeat > 0))
    comparison = compare_runs(tmp_path / "base", tmp_path / "cand")
    by = {d.measure: d for d in usage_deltas(comparison)}
    p50, p95 = by["latency_p50_ms"], by["latency_p95_ms"]
    assert (p50.n, p95.n) == (4, 4)  # cases timed in both runs, as the means count them
    assert (p50.base, p50.cand, p50.delta) == (100.0, 100.0, 0.0)
    assert p95.cand == pytest.approx(100 + 0.85 * 900)  # linear interpolation over the 4 case means
    assert p50.ci_low <= 0.0 <= p50.ci_high
    # The reports say which unit it is.
    from evalkit.report import render_compare_report

    assert "latency percentiles over the cases" in render_compare_report([comparison], "html")
    assert "(per case, latency percentiles included;" in render_compare_report([comparison], "md")
