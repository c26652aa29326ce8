"""The ``judge`` scorer end to end, with the fake server playing both the model under test and the judge:
good verdicts, garbage verdicts, refusals, the cache, the key rules, and the strict verdict parser."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, translator, write_suite

from evalkit.scoring._judge import JudgeUnparsable, normalise, parse_verdict
from evalkit.testing import FakeOpenAIServer, last_user_message

SUITE = """\
name: judged
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32}}
  max_attempts: 2
languages: [de, zh]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: {{de: Guten Morgen, zh: 早上好}}
  - id: c2
    source: Thank you very much
    reference: {{de: Vielen Dank, zh: 非常感谢}}
  - id: c3
    source: Something unknown
    reference: {{de: Etwas, zh: 某事}}
scorers:
  - exact_match
  - judge: {{model: judge-model, rubric: correctness, scale: "1-5"}}
"""


def _answer_of(judge_prompt: str) -> str:
    return judge_prompt.split("Answer to judge:\n", 1)[1].strip()


def judge_says(reply: Any) -> Any:
    """A server that translates for ``test-model`` and answers ``reply(answer)`` for ``judge-model``."""

    def respond(request: dict[str, Any]) -> str:
        if request["model"] == "judge-model":
            return str(reply(_answer_of(last_user_message(request))))
        return translator(request)

    return respond


def fair_judge(answer: str) -> str:
    return f"The answer looks {'wrong' if answer == 'Sorry' else 'right'}.\nVERDICT: {1 if answer == 'Sorry' else 5}"


def _results(run: Path) -> dict[tuple[str, str], dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {(r["case_id"], r["language"]): r for r in rows}


def _judge_requests(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.chat_requests if r.body and r.body["model"] == "judge-model"]


def test_good_verdicts_are_normalised_scores_with_judge_tokens_apart_and_the_target_language_told(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        suite = write_suite(tmp_path, server.base_url, SUITE.replace("- exact_match\n", "- exact_match\n  - chrf\n"))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
        judged = _judge_requests(server)
    out = capsys.readouterr().out  # judge quality: parse rate, agreement with the reference-based metrics
    assert re.search(r"judge_correctness: 6 judged, 0 unparsable \(0%\), judge tokens in [1-9][0-9]* out "
                     r"[1-9][0-9]*, cost unknown; agrees with exact_match on 100% of 6 "
                     r"items; Pearson r with chrf 1.00 \(6 items\)", out), out
    rows = _results(tmp_path / "run")
    assert rows[("c1", "de")]["scores"]["judge_correctness"] == 1.0
    assert rows[("c3", "zh")]["scores"]["judge_correctness"] == 0.0  # "Sorry": verdict 1 of 1-5
    assert rows[("c1", "de")]["details"]["judge_correctness"]["verdict"] == 5
    usage = rows[("c1", "de")]["details"]["judge_correctness"]["judge_usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert rows[("c1", "de")]["usage"]["prompt_tokens"] != usage["prompt_tokens"]  # the model's own, apart
    assert len(judged) == 6
    zh = next(r for r in judged if "早上好" in r["messages"][-1]["content"])
    assert "Chinese" in zh["messages"][0]["content"] and "VERDICT" in zh["messages"][0]["content"]
    assert "Good morning" in zh["messages"][-1]["content"]  # the question, the reference and the answer
    assert zh["temperature"] == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    cells = [c for c in summary["cells"] if c["metric"] == "judge_correctness"]
    assert cells and {round(c["value"], 3) for c in cells} == {round(100 * 2 / 3, 3)}


@pytest.mark.parametrize("reply", [
    "This answer is quite good.",  # garbage: no verdict
    "I'm sorry, but I can't help with evaluating this.",  # a refusal
    "VERDICT: 4\nOn reflection, VERDICT: 2",  # two verdicts
    "VERDICT: 7",  # off the 1-5 scale
    "VERDICT: 4 because it is fine",  # a verdict line with extra text
])
def test_an_unparsable_verdict_is_a_classified_error_never_a_score(tmp_path: Path, reply: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(judge_says(lambda answer: reply if answer == "Guten Morgen" else "VERDICT: 3")) as server:
        suite = write_suite(tmp_path, server.base_url, SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "run", "--max-error-rate", "1") == 0
    rows = _results(tmp_path / "run")
    bad = rows[("c1", "de")]
    assert bad["error"]["kind"] == "judge_unparsable"
    assert "judge_correctness" not in (bad.get("scores") or {})
    assert bad["output"] == "Guten Morgen"  # the answer is kept
    assert rows[("c2", "de")]["scores"]["judge_correctness"] == 0.5
    assert rows[("c2", "de")].get("error") is None
    assert "judge_correctness: 5 judged, 1 unparsable (17%), judge tokens" in capsys.readouterr().out


def test_judge_calls_are_cached_and_a_fixed_judge_reply_is_reread_on_the_next_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        suite = write_suite(tmp_path, server.base_url, SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "a") == 0
        first = len(server.chat_requests)
        assert run_cli("run", suite, "--out", tmp_path / "b") == 0
        assert len(server.chat_requests) == first  # answers and verdicts from the cache
    a, b = _results(tmp_path / "a"), _results(tmp_path / "b")
    assert {k: r["scores"] for k, r in a.items()} == {k: r["scores"] for k, r in b.items()}


def test_another_prompt_with_the_same_answer_is_judged_again(tmp_path: Path) -> None:
    """The verdict depends on the question too: the score cache keys a judged item on its prompt."""
    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        suite = write_suite(tmp_path, server.base_url, SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "a") == 0
        edited = write_suite(tmp_path, server.base_url, SUITE.replace("Translate into", "Please translate into"),
                             name="edited.yaml")
        server.reset()
        assert run_cli("run", edited, "--out", tmp_path / "b") == 0
        assert len(_judge_requests(server)) == 6


def test_an_empty_judge_reply_is_every_items_error_and_is_not_cached_as_a_score(tmp_path: Path) -> None:
    with FakeOpenAIServer(lambda r: translator(r) if r["model"] == "test-model" else "") as server:
        suite = write_suite(tmp_path, server.base_url, SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "a", "--max-error-rate", "1") == 0
        assert {r["error"]["kind"] for r in _results(tmp_path / "a").values()} == {"judge_unparsable"}
        server.set_responder(judge_says(fair_judge))
        assert run_cli("run", suite, "--out", tmp_path / "b", "--no-cache") == 0
    assert all(r.get("error") is None for r in _results(tmp_path / "b").values())


def test_a_suite_cannot_say_where_the_judges_key_goes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = SUITE.replace("rubric: correctness", "rubric: correctness, base_url: 'https://evil.example/v1'")
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1", body)
    assert run_cli("run", suite, "--out", tmp_path / "run") == 2
    assert "base_url" in capsys.readouterr().err


def test_an_unknown_rubric_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1", SUITE.replace("rubric: correctness", "rubric: corectness"))
    assert run_cli("run", suite, "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "rubric" in err and len(err.strip().splitlines()) == 1


def test_the_judge_uses_the_endpoint_and_key_the_user_chose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(judge_says(fair_judge), api_key="sekrit") as server:
        suite = write_suite(tmp_path, "http://127.0.0.1:9/v1", SUITE)
        monkeypatch.setenv("MY_KEY", "sekrit")
        assert run_cli("run", suite, "--out", tmp_path / "run", "--base-url", server.base_url,
                       "--api-key-env", "MY_KEY") == 0
        assert len(_judge_requests(server)) == 6
    assert _results(tmp_path / "run")[("c1", "de")]["scores"]["judge_correctness"] == 1.0


@pytest.mark.parametrize(("text", "scale", "verdict"), [
    ("Fine.\nVERDICT: 4", "1-5", 4),
    ("**Verdict:** 4/5", "1-5", 4),
    ("reasoning\nverdict: 0", "binary", 0),
    ("VERDICT: 10", "1-10", 10),
])
def test_the_parser_reads_one_verdict_line(text: str, scale: str, verdict: int) -> None:
    assert parse_verdict(text, scale) == verdict


@pytest.mark.parametrize(("text", "scale"), [
    ("", "1-5"), ("4", "1-5"), ("VERDICT: 4/10", "1-5"), ("VERDICT: 3.5", "1-5"), ("VERDICT: 2", "binary"),
    ("VERDICT: 0", "1-5"), ("The verdict: good\nVERDICT: 3", "1-5"), ("VERDICT: four", "1-5"),
])
def test_the_parser_refuses_anything_else(text: str, scale: str) -> None:
    with pytest.raises(JudgeUnparsable):
        parse_verdict(text, scale)


def test_scales_normalise_to_the_unit_interval() -> None:
    assert [normalise(v, "1-5") for v in (1, 3, 5)] == [0.0, 0.5, 1.0]
    assert [normalise(v, "1-10") for v in (1, 10)] == [0.0, 1.0]
    assert [normalise(v, "binary") for v in (0, 1)] == [0.0, 1.0]


def test_the_documented_judge_scorers_validate(tmp_path: Path) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "scorers.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if b.startswith("# in a suite"))
    scorers = block.split("scorers:\n", 1)[1]
    body = SUITE.split("scorers:\n", 1)[0].replace("{{", "{").replace("}}", "}") + "scorers:\n" + scorers
    suite = tmp_path / "suite.yaml"
    suite.write_text(body.replace("{base_url}", "http://127.0.0.1:9/v1"), encoding="utf-8")
    assert run_cli("validate", suite) == 0
    assert run_cli("validate", tmp_path / "missing.yaml") == 2  # the check can fail


def test_a_custom_rubric_naming_an_unknown_variable_is_bad_input_before_anything_is_sent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        body = SUITE.replace("rubric: correctness", "template: 'Grade {{{{ answr }}}}'")
        suite = write_suite(tmp_path, server.base_url, body)
        assert run_cli("run", suite, "--out", tmp_path / "run") == 2
        assert server.chat_requests == []
    err = capsys.readouterr().err.strip()
    assert "answr" in err and len(err.splitlines()) == 1


def test_judge_calls_are_retried_and_a_judge_that_keeps_failing_is_the_items_judge_error(tmp_path: Path) -> None:
    from evalkit.testing import Fault

    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        suite = write_suite(tmp_path, server.base_url, SUITE)
        # The judge's request holds "Answer to judge:"; the model's never does.
        server.set_faults([Fault("503", match="Answer to judge:\nGuten Morgen", attempts={1}, retry_after=0),
                           Fault("400", match="Answer to judge:\nVielen Dank")])
        assert run_cli("run", suite, "--out", tmp_path / "run", "--max-error-rate", "1") == 0
        assert len(_judge_requests(server)) == 7  # six items, one retried after the 503; the 400 is not retried
    rows = _results(tmp_path / "run")
    assert rows[("c1", "de")]["scores"]["judge_correctness"] == 1.0  # answered on the second attempt
    assert rows[("c2", "de")]["error"]["kind"] == "judge_error"
    assert "judge_correctness" not in (rows[("c2", "de")].get("scores") or {})


def test_two_judged_runs_compare_on_the_judges_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(judge_says(fair_judge)) as server:
        suite = write_suite(tmp_path, server.base_url, SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "a") == 0
        server.set_responder(judge_says(lambda answer: "VERDICT: 1"))
        assert run_cli("run", suite, "--out", tmp_path / "b", "--no-cache") == 0
        capsys.readouterr()
        assert run_cli("compare", tmp_path / "a", tmp_path / "b", "--format", "md") == 0
    out = capsys.readouterr().out
    assert "| de | judge\\_correctness | 66.7 | 0.0 | −66.7 |" in out  # a mean of verdicts, paired per item
    assert "judge\\_correctness 1.0→0.0" in out
