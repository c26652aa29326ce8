"""``evalkit compare BASE CAND --judge MODEL``: both orders per item, inconsistent verdicts as ties, per-language
win/tie/loss with a sign test, the report section and the gate check; the fake server plays models and judge."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, write_suite

from evalkit.compare._pairwise import JudgeUnparsable, PairVerdict, combine, parse_preference, summarise
from evalkit.testing import FakeOpenAIServer, last_user_message

CASES = "\n".join(f"  - {{{{id: c{i}, source: phrase {i}, reference: x}}}}" for i in range(8))
SUITE = """\
name: pairwise
model:
  name: base-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32}}
languages: [de, zh]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
""" + CASES + """
scorers:
  - exact_match
gates:
  min_items: 2
  on_insufficient: warn
  thresholds:
    error_rate: {{max: 50}}
"""
_ANSWER = re.compile(r"\[Answer A\]\n(.*)\n\[End of answer A\]\n\n\[Answer B\]\n(.*)\n\[End of answer B\]", re.S)


def fair(a: str, b: str) -> str:
    if a == b:
        return "Both the same.\nVERDICT: TIE"
    return "A is worse.\nVERDICT: B" if a == "Sorry" else "B is worse.\nVERDICT: A"


def server_for(judge: Any) -> Any:
    def respond(request: dict[str, Any]) -> str:
        text = last_user_message(request)
        if request["model"] == "judge-model":
            m = _ANSWER.search(text)
            assert m is not None
            return str(judge(m.group(1), m.group(2)))
        language, source = re.search(r"into (\w+): (.*)", text).groups()  # type: ignore[union-attr]
        if request["model"] == "cand-model" and language == "German":
            return "Sorry"
        return f"{language} {source}"

    return respond


def _runs(tmp_path: Path, server: FakeOpenAIServer) -> tuple[Path, Path]:
    suite = write_suite(tmp_path, server.base_url, SUITE)
    assert run_cli("run", suite, "--out", tmp_path / "base") == 0
    assert run_cli("run", suite, "--out", tmp_path / "cand", "--model", "cand-model") == 0
    return tmp_path / "base", tmp_path / "cand"


def test_a_candidate_that_loses_in_one_language_fails_the_gate_there_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(server_for(fair)) as server:
        base, cand = _runs(tmp_path, server)
        capsys.readouterr()
        code = run_cli("compare", base, cand, "--judge", "judge-model", "--judge-base-url", server.base_url,
                       "--out", tmp_path / "cmp.html", "--gate", "--json", tmp_path / "gate.json")
        judged = [r for r in server.chat_requests if r.body and r.body["model"] == "judge-model"]
    captured = capsys.readouterr()
    out = captured.out
    assert code == 1, captured.err
    assert len(judged) == 32  # 16 items, both orders
    assert "de: 0 wins / 0 ties (0 order-inconsistent) / 8 losses" in out
    assert "zh: 0 wins / 8 ties (0 order-inconsistent) / 0 losses" in out
    assert re.search(r"FAIL de pairwise \(judge-model\): candidate loses significantly", out)
    assert "FAIL zh pairwise" not in out
    page = (tmp_path / "cmp.html").read_text(encoding="utf-8")
    assert '<section id="pairwise">' in page and "German phrase 3" in page and "Sorry" in page
    german = next(r.body for r in judged if r.body and "German phrase 0" in last_user_message(r.body))
    assert "German" in german["messages"][0]["content"]  # the judge is told the target language
    verdict = json.loads((tmp_path / "gate.json").read_text(encoding="utf-8"))
    ids = [c["id"] for c in verdict["checks"]]
    assert all(ids) and len(ids) == len(set(ids)), ids  # --judge's checks get their stable ids too
    assert ids == ["de::error_rate::max", "de::exact_match::regression", "de::pairwise::judge-model",  # gate order
                   "zh::error_rate::max", "zh::exact_match::regression", "zh::pairwise::judge-model"]


def test_a_position_biased_judge_gives_ties_counted_as_order_inconsistent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(server_for(lambda a, b: "VERDICT: A")) as server:
        base, cand = _runs(tmp_path, server)
        capsys.readouterr()
        assert run_cli("compare", base, cand, "--judge", "judge-model", "--judge-base-url", server.base_url,
                       "--format", "md", "--gate") == 0
    out = capsys.readouterr().out
    assert "| de | 0 | 8 (8) | 0 | 0 |" in out  # all ties, all order-inconsistent
    assert "| zh | 0 | 8 (8) | 0 | 0 |" in out  # even for two identical answers
    assert "order-consistent 0%" in out


def test_garbage_and_refusals_are_unparsable_items_not_verdicts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replies = iter(["I cannot compare these.", "VERDICT: A\nVERDICT: B"] * 100)
    with FakeOpenAIServer(server_for(lambda a, b: next(replies))) as server:
        base, cand = _runs(tmp_path, server)
        capsys.readouterr()
        assert run_cli("compare", base, cand, "--judge", "judge-model", "--judge-base-url", server.base_url,
                       "--format", "md") == 0
    out = capsys.readouterr().out
    assert "| de | 0 | 0 (0) | 0 | 8 |" in out


def test_judge_options_need_a_judge_and_verdicts_are_cached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(server_for(fair)) as server:
        base, cand = _runs(tmp_path, server)
        assert run_cli("compare", base, cand, "--judge-base-url", server.base_url, "--format", "md") == 2
        assert "need --judge MODEL" in capsys.readouterr().err
        for _ in range(2):
            server.reset()
            assert run_cli("compare", base, cand, "--judge", "judge-model", "--judge-base-url", server.base_url,
                           "--format", "md") == 0
        assert server.chat_requests == []  # the second time, every verdict came from the cache
    assert "| de | 0 | 0 (0) | 8 | 0 |" in capsys.readouterr().out


@pytest.mark.parametrize(("ab", "ba", "expected"), [
    ("A", "B", ("base", True)), ("B", "A", ("cand", True)), ("TIE", "TIE", ("tie", True)),
    ("A", "A", ("tie", False)), ("B", "B", ("tie", False)), ("A", "TIE", ("tie", False)),
])
def test_two_orders_combine(ab: str, ba: str, expected: tuple[str, bool]) -> None:
    assert combine(ab, ba) == expected


def test_the_preference_parser_is_strict() -> None:
    assert parse_preference("thinking\n**Verdict:** [B]") == "B"
    assert parse_preference("VERDICT: tie") == "TIE"
    for bad in ("A", "VERDICT: C", "VERDICT: A\nVERDICT: A", "Verdict: A is better", ""):
        with pytest.raises(JudgeUnparsable):
            parse_preference(bad)


def test_the_per_language_numbers_match_scipy() -> None:
    """Sign test, Wilson interval and Holm correction per language, against scipy (ties and unparsable
    items count for neither side)."""
    from scipy import stats as sps

    counts = {"de": (1, 3, 12, 1), "zh": (9, 1, 3, 0), "fr": (5, 0, 5, 2)}  # wins, ties, losses, unparsable
    verdicts = [PairVerdict(f"{lang}{i}", lang, f"c{i}", pref, True, ("", ""))
                for lang, (w, t, lo, u) in counts.items()
                for i, pref in enumerate(["cand"] * w + ["tie"] * t + ["base"] * lo + [None] * u)]
    result = summarise(verdicts, "judge", 0.05, ["de", "zh", "fr"])
    raw = {lang: sps.binomtest(w, w + lo).pvalue for lang, (w, _, lo, _) in counts.items()}
    ranked = sorted(raw, key=raw.__getitem__)
    holm: dict[str, float] = {}
    for i, lang in enumerate(ranked):  # step-down: (m - i) p_(i), kept monotone, capped at 1
        holm[lang] = min(1.0, max([(len(ranked) - i) * raw[lang]] + [holm[x] for x in ranked[:i]]))
    assert [x.language for x in result.languages] == ["de", "zh", "fr"]
    for x in result.languages:
        w, t, lo, u = counts[x.language]
        assert (x.wins, x.ties, x.losses, x.unparsable) == (w, t, lo, u)
        assert x.p == pytest.approx(raw[x.language], rel=1e-9)
        assert x.p_adjusted == pytest.approx(holm[x.language], rel=1e-9)
        ci = sps.binomtest(w, w + lo).proportion_ci(confidence_level=0.95, method="wilson")
        assert x.ci == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert holm["de"] < 0.05 < holm["zh"]
    assert [x.loses_significantly(0.05) for x in result.languages] == [True, False, False]


def test_a_gates_pairwise_rule_names_the_judge_and_the_caller_chooses_its_endpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(server_for(fair)) as server:
        base, cand = _runs(tmp_path, server)
        suite = tmp_path / "suite.yaml"
        gated = suite.read_text(encoding="utf-8") + "  pairwise: {judge: judge-model}\n"
        (tmp_path / "gates.yaml").write_text(gated, encoding="utf-8")
        monkeypatch.setenv("EVALKIT_BASE_URL", server.base_url)  # the caller's endpoint choice
        capsys.readouterr()
        assert run_cli("gate", cand, "--baseline", base, "--gates", tmp_path / "gates.yaml",
                       "--junit", tmp_path / "junit.xml", "--json", tmp_path / "gate.json") == 1
        out = capsys.readouterr().out
        assert "candidate loses significantly" in (tmp_path / "junit.xml").read_text(encoding="utf-8")
        kinds = [c["kind"] for c in json.loads((tmp_path / "gate.json").read_text(encoding="utf-8"))["checks"]]
        assert kinds.count("pairwise") == 2
        assert "FAIL de pairwise (judge-model): candidate loses significantly" in out
        assert "FAIL zh pairwise" not in out
        assert run_cli("gate", cand, "--gates", tmp_path / "gates.yaml") == 0  # no baseline: skipped, warned
        assert "pairwise: are configured but no --baseline" in capsys.readouterr().out


def test_the_documented_pairwise_gate_rule_loads() -> None:
    from evalkit.gate._spec import GateSpec

    doc = (Path(__file__).parent.parent / "docs" / "gates.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "pairwise:" in b)
    import yaml

    spec = GateSpec.model_validate(yaml.safe_load(block)["gates"])
    assert spec.pairwise is not None and spec.pairwise.judge == "gpt-4o-mini"
