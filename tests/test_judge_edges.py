"""Judge edges: the pairwise judge's parameters from the command line, judge calls in ``--dry-run``, the tokens
of unparsable judge replies, and a confined ``local:`` judge reported by ``evalkit validate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, translator, write_suite
from test_judge import SUITE as JUDGE_SUITE
from test_judge import _answer_of, fair_judge, judge_says
from test_judge import _results as _rows
from test_pairwise import _runs, fair, server_for

from evalkit.testing import FakeOpenAIServer, last_user_message


def _judge_bodies(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.chat_requests if r.body and r.body["model"] == "judge-model"]


# --- 1. compare --judge-max-tokens / --judge-param -------------------------------------------------


def test_compare_sends_the_judges_parameters_records_them_and_keys_the_cache_on_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(server_for(fair)) as server:
        base, cand = _runs(tmp_path, server)
        judge = ("--judge", "judge-model", "--judge-base-url", server.base_url, "--format", "md")
        server.reset()
        capsys.readouterr()
        assert run_cli("compare", base, cand, *judge, "--judge-max-tokens", "77",
                       "--judge-param", "top_p=0.5", "--judge-param", "seed=3") == 0
        sent = _judge_bodies(server)
        assert len(sent) == 32
        assert {(b["max_tokens"], b["top_p"], b["seed"], b["temperature"]) for b in sent} == {(77, 0.5, 3, 0)}
        out = capsys.readouterr().out
        assert "max_tokens=77" in out and "top_p=0.5" in out and "seed=3" in out  # recorded with the verdicts
        server.reset()
        assert run_cli("compare", base, cand, *judge, "--judge-max-tokens", "77",
                       "--judge-param", "top_p=0.5", "--judge-param", "seed=3") == 0
        assert _judge_bodies(server) == []  # the same parameters: every reply from the cache
        assert run_cli("compare", base, cand, *judge, "--judge-max-tokens", "78",
                       "--judge-param", "top_p=0.5", "--judge-param", "seed=3") == 0
        assert len(_judge_bodies(server)) == 32  # another max_tokens: a cache miss
        server.reset()
        assert run_cli("compare", base, cand, *judge, "--judge-max-tokens", "77", "--judge-param", "top_p=0.6",
                       "--judge-param", "seed=3") == 0
        assert len(_judge_bodies(server)) == 32  # another parameter value: a cache miss
        server.reset()
        assert run_cli("compare", base, cand, *judge, "--judge-param", "temperature=0.7") == 0
        assert {b["temperature"] for b in _judge_bodies(server)} == {0.7}


@pytest.mark.parametrize(("args", "expected"), [
    (("--judge-param", "topp=0.5"), "--judge-param topp: unknown generation parameter; did you mean 'top_p'?"),
    (("--judge-param", "top_p"), "--judge-param top_p: expected NAME=VALUE"),
    (("--judge-param", "max_tokens=5", "--judge-max-tokens", "6"), "--judge-max-tokens 6 contradicts"),
    (("--judge-param", "temperature=hot"), "--judge-param temperature=hot:"),
])
def test_bad_judge_parameters_are_one_line_of_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        args: tuple[str, ...], expected: str) -> None:
    with FakeOpenAIServer(server_for(fair)) as server:
        base, cand = _runs(tmp_path, server)
        server.reset()
        capsys.readouterr()
        assert run_cli("compare", base, cand, "--judge", "judge-model", "--judge-base-url", server.base_url,
                       "--format", "md", *args) == 2
        assert _judge_bodies(server) == []
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err


def test_judge_parameters_need_a_judge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(server_for(fair)) as server:
        base, cand = _runs(tmp_path, server)
        capsys.readouterr()
        assert run_cli("compare", base, cand, "--judge-max-tokens", "9", "--format", "md") == 2
    assert "need --judge MODEL" in capsys.readouterr().err


# --- 4. a local: judge outside the suite's folder: validate says what the run says ------------------

LOCAL_JUDGE_SUITE = """\
name: local-judge
model:
  name: test-model
  base_url: {base_url}
languages: [de]
prompts:
  plain:
    user: "Translate: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: Guten Morgen
scorers:
  - exact_match
  - judge: {{model: "local:{path}", rubric: correctness, scale: binary}}
"""


@pytest.mark.parametrize("path", ["../elsewhere/judge.gguf", "/etc/passwd", "~/judge.gguf"])
def test_validate_reports_a_local_judge_that_leaves_the_suites_folder_as_the_run_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "suites"
    folder.mkdir()
    suite = folder / "suite.yaml"
    suite.write_text(LOCAL_JUDGE_SUITE.format(base_url="http://127.0.0.1:9/v1", path=path), encoding="utf-8")
    capsys.readouterr()
    assert run_cli("validate", suite) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1, line
    assert f"{suite}:15:" in line and "scorers[1].judge.model: local judge model path" in line, line
    assert "leaves the suite's folder" in line and "--allow-outside-paths" in line, line
    with FakeOpenAIServer(server_for(fair)) as server:
        suite.write_text(LOCAL_JUDGE_SUITE.format(base_url=server.base_url, path=path), encoding="utf-8")
        assert run_cli("run", suite, "--out", tmp_path / "run") == 2
        assert server.chat_requests == []  # refused before anything is sent
    assert capsys.readouterr().err.strip().removeprefix("evalkit: error: ") == line  # the same line
    assert not (tmp_path / "run").exists()
    assert run_cli("validate", suite, "--allow-outside-paths") == 0  # allowed: the path is what the suite says


def test_a_local_judge_inside_the_suites_folder_validates(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(LOCAL_JUDGE_SUITE.format(base_url="http://127.0.0.1:9/v1", path="models/j.gguf"),
                     encoding="utf-8")
    assert run_cli("validate", suite) == 0
    suite.write_text(LOCAL_JUDGE_SUITE.format(base_url="http://127.0.0.1:9/v1", path="smollm2"), encoding="utf-8")
    assert run_cli("validate", suite) == 0


# --- 3. the tokens of an unparsable judge reply count in the judge's usage ---------------------------


def _words_in(body: dict[str, Any]) -> int:  # the fake server's token count of a request (words)
    return sum(len(str(m["content"]).split()) for m in body["messages"])


GARBAGE = "This answer is quite good, truly."  # no verdict line: judge_unparsable


def _garbage_for_guten_morgen(answer: str) -> str:
    return GARBAGE if answer == "Guten Morgen" else fair_judge(answer)


def test_an_unparsable_judge_reply_still_counts_its_tokens_in_summary_report_and_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(judge_says(_garbage_for_guten_morgen)) as server:
        suite = write_suite(tmp_path, server.base_url, JUDGE_SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "run", "--max-error-rate", "1") == 0
        judged = _judge_bodies(server)
    assert len(judged) == 6
    expected_in = sum(_words_in(b) for b in judged)
    expected_out = sum(len(_garbage_for_guten_morgen(_answer_of(b["messages"][-1]["content"])).split())
                       for b in judged)
    rows = _rows(tmp_path / "run")
    bad = rows[("c1", "de")]
    assert bad["error"]["kind"] == "judge_unparsable"
    assert bad["details"]["judge_correctness"]["judge_usage"]["completion_tokens"] == len(GARBAGE.split())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["judge_usage"] == [{
        "label": "judge_correctness", "model": "judge-model", "calls": 6, "unparsable": 1,
        "prompt_tokens": expected_in, "completion_tokens": expected_out, "cost": None, "prices": None}]
    out = capsys.readouterr().out
    assert f"judge tokens in {expected_in} out {expected_out}, cost unknown" in out, out
    report = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    line = f"6 calls (1 unparsable), tokens in {expected_in:,} out {expected_out:,}, cost unknown"
    assert f"judge_correctness (judge-model): {line}" in report
    assert run_cli("report", tmp_path / "run", "--format", "md") == 0
    assert f"judge\\_correctness (judge-model): {line}" in capsys.readouterr().out


def test_the_judges_cost_is_known_when_its_model_has_prices(tmp_path: Path) -> None:
    """The model under test judging itself: the run's prices are the judge's (units: 1 per token in, 2 out)."""
    def respond(request: dict[str, Any]) -> str:
        text = last_user_message(request)
        return _garbage_for_guten_morgen(_answer_of(text)) if "Answer to judge:" in text else translator(request)

    with FakeOpenAIServer(respond) as server:
        suite = write_suite(tmp_path, server.base_url, JUDGE_SUITE.replace("model: judge-model", "model: test-model"))
        assert run_cli("run", suite, "--out", tmp_path / "run", "--max-error-rate", "1",
                       "--price-in", "1000000", "--price-out", "2000000") == 0
        judged = [r.body for r in server.chat_requests if r.body and "Answer to judge:" in last_user_message(r.body)]
    expected_in = sum(_words_in(b) for b in judged)
    expected_out = sum(len(_garbage_for_guten_morgen(_answer_of(b["messages"][-1]["content"])).split())
                       for b in judged)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    (usage,) = summary["judge_usage"]
    assert (usage["calls"], usage["unparsable"]) == (6, 1)
    assert usage["cost"] == pytest.approx(expected_in + 2 * expected_out)
    assert f"${expected_in + 2 * expected_out}" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


# --- 2. --dry-run counts and estimates the judge calls ------------------------------------------------


def _judge_estimate(suite: Path, languages: set[str], answers: dict[tuple[str, str], str] | None = None) -> int:
    """The documented estimate of the judge's prompt tokens: its messages with the answer when it is known,
    else with an empty answer plus the model's max_tokens (32 in this suite)."""
    from evalkit.dryrun import estimate_prompt_tokens
    from evalkit.items import Planner
    from evalkit.scoring._judge import JudgeOptions, JudgeScorer
    from evalkit.suite import load_suite

    options = JudgeOptions(model="judge-model", rubric="correctness", scale="1-5")
    total = 0
    for item in Planner(load_suite(suite)).iter_items():
        if item.language not in languages:
            continue
        answer = (answers or {}).get((item.case_id, item.language))
        messages = JudgeScorer(options, item.target_language).messages(item.messages, answer or "", item.references)
        total += estimate_prompt_tokens(messages) + (32 if answer is None else 0)
    return total


def _judge_line(printed: str) -> str:
    return next(line for line in printed.splitlines() if line.startswith("judge judge_correctness"))


def test_dry_run_counts_judge_calls_and_their_tokens_before_and_after_a_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        suite = write_suite(tmp_path, server.base_url, JUDGE_SUITE)
        capsys.readouterr()
        assert run_cli("run", suite, "--out", tmp_path / "new", "--dry-run") == 0
        printed = capsys.readouterr().out
        assert server.chat_requests == []
        line = _judge_line(printed)
        assert line.startswith(f"judge judge_correctness (judge-model at {server.base_url}): 6 items to judge, "
                               "0 in the response cache, 6 judge calls to make, ~"
                               f"{_judge_estimate(suite, {'de', 'zh'})} prompt tokens"), line
        assert "estimated judge cost: unknown" in printed

        # Half the plan answered and judged: those answers and verdicts are in the cache.
        assert run_cli("run", suite, "--out", tmp_path / "de", "--languages", "de") == 0
        answers = {(r["case_id"], r["language"]): r["output"] for r in _rows(tmp_path / "de").values()}
        capsys.readouterr()
        server.reset()
        assert run_cli("run", suite, "--out", tmp_path / "new", "--dry-run") == 0
        line = _judge_line(capsys.readouterr().out)
        assert "6 items to judge, 3 in the response cache, 3 judge calls to make, " \
               f"~{_judge_estimate(suite, {'zh'}, answers)} prompt tokens" in line, line

        # After a full run every answer and every verdict is in the cache: no judge call left.
        assert run_cli("run", suite, "--out", tmp_path / "all") == 0
        capsys.readouterr()
        assert run_cli("run", suite, "--out", tmp_path / "new", "--dry-run") == 0
        line = _judge_line(capsys.readouterr().out)
        assert "6 items to judge, 6 in the response cache, 0 judge calls to make, ~0 prompt tokens" in line, line
        assert run_cli("run", suite, "--out", tmp_path / "all", "--dry-run") == 0  # a resume: nothing to judge
        assert "0 items to judge, 0 in the response cache, 0 judge calls to make" in capsys.readouterr().out
        assert server.count == 3 + 3  # since the reset: the full run's zh answers and verdicts, nothing else


def test_dry_run_estimates_the_judges_cost_from_its_own_prices(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("prices:\n  test-model: {input: 1, output: 1}\n"
                      "  judge-model: {input: 1000000, output: 2000000}\n", encoding="utf-8")
    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        suite = write_suite(tmp_path, server.base_url, JUDGE_SUITE)
        capsys.readouterr()
        assert run_cli("run", suite, "--out", tmp_path / "new", "--dry-run", "--prices", prices) == 0
        printed = capsys.readouterr().out
        tokens = _judge_estimate(suite, {"de", "zh"})
        # one unit per prompt token; replies at most 6 calls x 512 max_tokens x 2 units
        assert f"estimated judge cost: ~${tokens}.00 for the prompts, at most ${6 * 512 * 2}.00 for the " \
               "replies (512 max_tokens each)" in printed, printed
        assert run_cli("run", suite, "--out", tmp_path / "new", "--dry-run", "--price-in", "1",
                       "--price-out", "1") == 0  # prices for the model under test only
        assert "estimated judge cost: unknown (no prices for judge-model" in capsys.readouterr().out
        assert server.chat_requests == []


def test_a_run_with_a_prices_file_costs_the_judge_at_its_own_prices(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("prices:\n  test-model: {input: 1, output: 1}\n"
                      "  judge-model: {input: 1000000, output: 2000000, currency: EUR}\n", encoding="utf-8")
    with FakeOpenAIServer(judge_says(_garbage_for_guten_morgen)) as server:
        suite = write_suite(tmp_path, server.base_url, JUDGE_SUITE)
        capsys.readouterr()
        assert run_cli("run", suite, "--out", tmp_path / "run", "--max-error-rate", "1", "--prices", prices) == 0
        judged = _judge_bodies(server)
    expected = sum(_words_in(b) for b in judged) + 2 * sum(
        len(_garbage_for_guten_morgen(_answer_of(b["messages"][-1]["content"])).split()) for b in judged)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    (usage,) = summary["judge_usage"]
    assert usage["cost"] == pytest.approx(expected)
    assert usage["prices"]["model"] == "judge-model" and usage["prices"]["currency"] == "EUR"
    assert summary["prices"]["model"] == "test-model"  # the model's own prices, apart
    assert f"cost EUR {expected}.00" in capsys.readouterr().out
    assert f"cost EUR {expected}.00" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


def test_several_models_cost_the_judge_at_its_own_prices_too(tmp_path: Path) -> None:
    """``--model A --model B --prices FILE``: each model's run costs its judge from the judge's own entry,
    as a single run does (the prices file reached only the models before)."""
    prices = tmp_path / "prices.yaml"
    prices.write_text("prices:\n  test-model: {input: 1, output: 1}\n  other-model: {input: 2, output: 2}\n"
                      "  judge-model: {input: 1000000, output: 2000000, currency: EUR}\n", encoding="utf-8")
    with FakeOpenAIServer(judge_says(_garbage_for_guten_morgen)) as server:
        suite = write_suite(tmp_path, server.base_url, JUDGE_SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "runs", "--model", "test-model", "--model", "other-model",
                       "--max-error-rate", "1", "--prices", prices, "--no-report") == 0
    for slug in ("test-model", "other-model"):
        summary = json.loads((tmp_path / "runs" / slug / "summary.json").read_text(encoding="utf-8"))
        (usage,) = summary["judge_usage"]
        assert usage["cost"] is not None and usage["cost"] > 0, slug
        assert usage["prices"]["model"] == "judge-model" and summary["prices"]["model"] == slug
