"""Tokens, latency, truncation and cost per variant × language (issue #14), against the fake server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, write_suite

from evalkit.results import iter_results, read_manifest, read_summary
from evalkit.results._usage import percentile, token_tax
from evalkit.testing import FakeOpenAIServer, Reply

USAGE_SUITE = """\
name: usage-test
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 64}}
  max_attempts: 1
languages: [en, de, th]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: {{en: Good morning, de: Guten Morgen, th: สวัสดีตอนเช้า}}
  - id: c2
    source: Thank you very much
    reference: {{en: Thank you very much, de: Vielen Dank, th: ขอบคุณมาก}}
  - id: c3
    source: The weather is nice today
    reference: {{en: The weather is nice today, de: Das Wetter ist heute schön, th: วันนี้อากาศดี}}
  - id: c4
    source: See you tomorrow
    reference: {{en: See you tomorrow, de: Bis morgen, th: แล้วพบกันพรุ่งนี้}}
scorers: [exact_match]
"""

ANSWERS = {"English": "one two", "German": "eins zwei drei vier"}


def responder(request: dict[str, Any]) -> str | Reply:
    """English: 2 words; German: 4 words; Thai: 6 words, cut at max_tokens for c1 and c2 (finish 'length')."""
    text = request["messages"][-1]["content"]
    for name, answer in ANSWERS.items():
        if f"into {name}:" in text:
            return answer
    if "Good morning" in text or "Thank you" in text:
        return Reply("a b c d e f", finish_reason="length")
    return "a b c d e f"


@pytest.fixture
def usage_server() -> Any:
    with FakeOpenAIServer(responder, latency=0.01) as srv:
        yield srv


def _cells(out: Path) -> dict[str, Any]:
    return {c.language: c for c in read_summary(out).usage}


def test_summary_has_tokens_latency_truncation_per_language(tmp_path: Path, usage_server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--no-report") == 0
    cells = _cells(out)
    assert sorted(cells) == ["de", "en", "th"]
    results = list(iter_results(out / "results.jsonl"))
    for lang, cell in cells.items():
        mine = [r for r in results if r.language == lang]
        assert cell.answered == cell.with_usage == 4
        assert cell.prompt_tokens == sum(r.usage.prompt_tokens for r in mine)
        assert cell.prompt_tokens_mean == cell.prompt_tokens / 4
        assert cell.latency_n == 4 and cell.latency_cached == 0
        assert cell.latency_p50_ms == percentile([r.latency_ms for r in mine], 50)
        assert cell.latency_p95_ms == percentile([r.latency_ms for r in mine], 95)
        assert cell.latency_p95_ms >= cell.latency_p50_ms >= 10.0  # the server waits 10 ms before answering
    # completion tokens: the fake server counts words
    assert (cells["en"].completion_tokens, cells["de"].completion_tokens, cells["th"].completion_tokens) == (8, 16, 24)
    assert cells["th"].truncated == 2 and cells["th"].truncation_rate == 50.0
    assert cells["de"].truncation_rate == 0.0
    # prices not given: cost unknown, never 0
    assert all(c.cost is None and c.cost_per_item is None for c in cells.values())
    assert read_summary(out).prices is None and read_manifest(out).prices is None
    # token tax: same cases, total tokens relative to English (prompts differ only in the language name)
    en_total = cells["en"].prompt_tokens + cells["en"].completion_tokens
    de_total = cells["de"].prompt_tokens + cells["de"].completion_tokens
    assert cells["de"].token_tax == pytest.approx(de_total / en_total)
    assert cells["de"].token_tax_cases == 4
    assert cells["en"].token_tax is None


def test_cached_answers_are_left_out_of_latency_and_counted(tmp_path: Path, usage_server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    assert run_cli("run", suite, "--out", tmp_path / "first", "--no-report") == 0
    out = tmp_path / "second"
    assert run_cli("run", suite, "--out", out, "--no-report") == 0
    assert len(_cells(out)) == 3
    for cell in _cells(out).values():
        assert cell.latency_cached == 4 and cell.latency_n == 0
        assert cell.latency_p50_ms is None and cell.latency_p95_ms is None
        assert cell.prompt_tokens > 0  # tokens still count: the answer was paid for once


def test_prices_give_cost_and_are_recorded(tmp_path: Path, usage_server: FakeOpenAIServer,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--price-in", "2.5", "--price-out", "10") == 0
    manifest = read_manifest(out)
    assert manifest.prices is not None
    assert (manifest.prices.model, manifest.prices.input_per_mtok, manifest.prices.output_per_mtok) == (
        "test-model", 2.5, 10.0)
    summary = read_summary(out)
    assert summary.prices == manifest.prices
    for cell in summary.usage:
        expected = (cell.prompt_tokens * 2.5 + cell.completion_tokens * 10) / 1e6
        assert cell.cost == pytest.approx(expected) and cell.cost > 0
        assert cell.cost_per_item == pytest.approx(expected / 4)
    printed = capsys.readouterr().out
    th = next(line for line in printed.splitlines() if line.split()[:2] == ["plain", "th"] and "tok" in line)
    assert "trunc 50.0%" in th and "$" in th
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Cost, tokens, latency" in report and "2.5" in report


def test_terminal_says_cost_unknown_without_prices(tmp_path: Path, usage_server: FakeOpenAIServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-report") == 0
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if "tok" in line and "p95" in line]
    assert len(lines) == 3
    assert all("cost unknown" in line for line in lines)
    assert "$0" not in printed


@pytest.mark.parametrize("args", [("--price-in", "1"), ("--price-out", "1"), ("--price-in", "-1", "--price-out", "1")])
def test_price_options_need_both_and_non_negative(tmp_path: Path, usage_server: FakeOpenAIServer,
                                                  args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    assert run_cli("run", suite, "--out", tmp_path / "run", *args) == 2
    assert usage_server.count == 0
    err = capsys.readouterr().err
    assert "--price" in err and "No such option" not in err


def test_usage_is_in_summary_json_on_disk(tmp_path: Path, usage_server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--no-report", "--languages", "de") == 0
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    (cell,) = data["usage"]
    assert cell["variant"] == "plain" and cell["language"] == "de" and cell["cost"] is None
    assert cell["token_tax"] is None  # no English in this run


def test_percentile_and_token_tax_units() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0], 95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)
    assert token_tax({("a", 0): 30, ("b", 0): 10}, {("a", 0): 10}) == (3.0, 1)
    assert token_tax({("a", 0): 30}, {("b", 0): 10}) == (None, 0)


def test_money_is_shown_without_exponent() -> None:
    from evalkit.results import Prices
    from evalkit.results._usage import format_money, signed_amount

    usd = Prices(model="m", input_per_mtok=1, output_per_mtok=2)
    assert format_money(5.625e-05, usd) == "$0.00005625"
    assert format_money(0.000675, usd) == "$0.0006750"
    assert format_money(1536.0, usd) == "$1536.00"
    assert format_money(0.0, usd) == "$0"
    assert format_money(None, usd) == format_money(1.0, None) == "unknown"
    assert signed_amount(-4e-06) == "-0.000004000"


def test_resume_keeps_the_prices_and_an_aborted_run_records_them(tmp_path: Path, usage_server: FakeOpenAIServer,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from evalkit.testing import Fault

    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    out = tmp_path / "run"
    usage_server.set_faults([Fault("401", match="German")])  # refused: the run aborts (exit 3)
    assert run_cli("run", suite, "--out", out, "--price-in", "1", "--price-out", "2", "--no-cache") == 3
    assert read_manifest(out).status == "aborted"
    assert read_manifest(out).prices is not None  # recorded even though the run did not complete
    assert read_summary(out).prices is not None
    assert (out / "report.html").exists()
    usage_server.set_faults([])
    capsys.readouterr()
    assert run_cli("run", suite, "--out", out, "--no-cache") == 0  # the resume gives no prices
    manifest = read_manifest(out)
    assert manifest.status == "complete" and manifest.prices is not None
    assert manifest.prices.input_per_mtok == 1 and manifest.prices.output_per_mtok == 2
    assert all(c.cost is not None and c.cost > 0 for c in read_summary(out).usage)
    assert "cost unknown" not in capsys.readouterr().out


def test_prices_file_per_model(tmp_path: Path, usage_server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    prices = tmp_path / "prices.yaml"
    prices.write_text("prices:\n  other-model: {input: 9, output: 9}\n  test-model: {input: 3, output: 12}\n",
                      encoding="utf-8")
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--prices", prices, "--no-report", "--languages", "de") == 0
    recorded = read_manifest(out).prices
    assert recorded is not None and (recorded.input_per_mtok, recorded.output_per_mtok) == (3, 12)
    assert recorded.source == str(prices)
    (cell,) = read_summary(out).usage
    assert cell.cost == pytest.approx((cell.prompt_tokens * 3 + cell.completion_tokens * 12) / 1e6)


@pytest.mark.parametrize(("text", "message"), [
    ("prices:\n  other-model: {input: 1, output: 2}\n", "prices.yaml: no prices for model 'test-model'"),
    ("prices:\n  test-model: {input: 1}\n", "prices.yaml:2:3: prices.test-model.output: required field is missing"),
    ("prices:\n  test-model: {input: -1, output: 2}\n", "prices.yaml:2:16: prices.test-model.input: Input should"),
    ("prices:\n  test-model: {input: 1, ouput: 2}\n", "prices.yaml:2:26: prices.test-model.ouput: unknown key 'ouput'"),
    ("[1, 2]\n", "prices.yaml:1:1: a prices file is a mapping"),
])
def test_bad_prices_file_is_one_located_line(tmp_path: Path, usage_server: FakeOpenAIServer, text: str,
                                             message: str, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, usage_server.base_url, USAGE_SUITE)
    prices = tmp_path / "prices.yaml"
    prices.write_text(text, encoding="utf-8")
    assert run_cli("run", suite, "--out", tmp_path / "run", "--prices", prices) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert usage_server.count == 0 and not (tmp_path / "run").exists()
