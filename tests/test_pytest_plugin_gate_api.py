"""The pytest plugin on the gate's public API: its items are :func:`evalkit.gate.plan_checks`, with the ids
the gate gives its checks, and a ``pairwise:`` judge check is an item of its own.

One test server plays the models and the judge: the baseline model translates, the candidate answers
German prompts with "Sorry", and the judge prefers any answer to "Sorry" (ties for equal answers).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from helpers import pytest_plugin_args, run_cli

import evalkit.pytest_plugin._fixtures
import evalkit.pytest_plugin._nodes
import evalkit.runner  # (imported before pytester's in-process runs: see test_pytest_plugin.py)
from evalkit.gate import GateSpec, RunShape, plan_checks, run_gate
from evalkit.testing import FakeOpenAIServer, last_user_message

pytest_plugins = ["pytester"]
PLUGIN = pytest_plugin_args()

JUDGE = "judge-model"
CASES = "\n".join(f"  - {{{{id: c{i}, source: phrase {i}, reference: x}}}}" for i in range(8))
SUITE = """\
name: api
model:
  name: base-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32}}
  max_attempts: 1
languages: [de, zh, th]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
{more_prompts}cases:
""" + CASES + """
scorers: [exact_match, {{chrf: {{plus: true}}}}]
"""
# Every kind of check: thresholds on a metric (with a per-language override), the error rate and a usage
# pseudo-metric, regressions with a metric skipped in one language, a usage rule, the pairwise judge.
FULL_GATES = """\
  min_items: 2
  thresholds:
    chrf++: {min: 10, languages: {th: {max: 100}}}
    error_rate: {max: 10}
    tokens_per_item: {max: 1000}
  regressions:
    default: {max_drop: 5, require_significant: false}
    languages: {zh: {exact_match: {skip: true}}}
  usage: {tokens: {max_increase_pct: 500}}
  pairwise: {judge: judge-model}
"""
PAIRWISE_ONLY = """\
  min_items: 2
  regressions: {default: {skip: true}}
  pairwise: {judge: judge-model}
"""
POLITE = '  polite:\n    user: "Please translate into {{ language.name }}: {{ source }}"\n'
_ANSWERS = re.compile(r"\[Answer A\]\n(.*)\n\[End of answer A\]\n\n\[Answer B\]\n(.*)\n\[End of answer B\]", re.S)


def respond(request: dict[str, Any]) -> str:
    text = last_user_message(request)
    if request["model"] == JUDGE:
        m = _ANSWERS.search(text)
        assert m is not None
        a, b = m.groups()
        return "VERDICT: TIE" if a == b else "VERDICT: B" if a == "Sorry" else "VERDICT: A"
    found = re.search(r"into (\w+): (.*)", text)
    assert found is not None
    language, source = found.groups()
    return "Sorry" if request["model"] == "cand-model" and language == "German" else f"{language} {source}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(respond) as s:
        monkeypatch.setenv("EVALKIT_BASE_URL", s.base_url)  # the judge's endpoint: the caller's choice
        yield s


def project(pytester: pytest.Pytester, server: FakeOpenAIServer, gates: str, several: bool) -> None:
    """``suites/api.yaml``, its baseline run in ``base`` and ``gates.yaml``."""
    (pytester.path / "suites").mkdir()
    suite = pytester.path / "suites" / "api.yaml"
    suite.write_text(SUITE.format(base_url=server.base_url, more_prompts=POLITE if several else ""),
                     encoding="utf-8")
    (pytester.path / "gates.yaml").write_text("gates:\n" + gates, encoding="utf-8")
    assert run_cli("run", suite, "--out", pytester.path / "base", "--no-report") == 0


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN, "-W", "ignore::pytest.PytestAssertRewriteWarning", "--evalkit",
                              "suites/api.yaml", "--evalkit-baseline", "base", "--evalkit-gates", "gates.yaml",
                              "--evalkit-model", "cand-model",
                              *args)


def failed_ids(result: pytest.RunResult) -> list[str]:
    return sorted(line.split()[1] for line in result.outlines if line.startswith("FAILED "))


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """node id -> PASSED / FAILED, from ``-v`` lines."""
    found = (re.match(r"(\S+::\S+) (PASSED|FAILED)", line) for line in result.outlines)
    return {m.group(1): m.group(2) for m in found if m}


def test_plugin_items_are_the_gates_checks_by_id(pytester: pytest.Pytester, server: FakeOpenAIServer) -> None:
    """Several variants and languages, thresholds (usage ones too), regressions, a usage rule and a
    pairwise judge: the collected node ids are exactly ``run`` plus the ids of the checks ``run_gate``
    makes of that run, and each item passes exactly when its check does."""
    project(pytester, server, FULL_GATES, several=True)
    collected = [line for line in run(pytester, "--collect-only", "-q").outlines if "::" in line]
    assert len(collected) == len(set(collected))
    prefix = "suites/api.yaml::"
    assert f"{prefix}th::chrf++::range[polite]" in collected  # the per-language override
    assert f"{prefix}zh::exact_match::regression[plain]" not in collected  # skipped there
    assert f"{prefix}de::tokens_per_item::max[plain]" in collected
    assert f"{prefix}de::tokens::regression[polite]" in collected
    assert f"{prefix}de::pairwise::{JUDGE}" in collected  # judged per language, over both variants

    result = run(pytester, "--evalkit-out", "runs", "-v")
    items = outcomes(result)
    assert list(items) == collected
    assert "EvalkitWarning" not in result.stdout.str()  # no check of the gate lacks a test
    gated = run_gate(pytester.path / "runs" / "api", baseline=pytester.path / "base",
                     gates=pytester.path / "gates.yaml")
    ids = [c.id for c in gated.checks]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(i.removeprefix(prefix) for i in collected if i != f"{prefix}run")
    assert run_cli("gate", pytester.path / "runs" / "api", "--baseline", pytester.path / "base",
                   "--gates", pytester.path / "gates.yaml", "--json", pytester.path / "gate.json",
                   "--junit", pytester.path / "gate.xml") == 1
    verdict = json.loads((pytester.path / "gate.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in verdict["checks"]] == ids
    junit = ElementTree.parse(pytester.path / "gate.xml").getroot()  # the same ids, as testcase properties
    assert sorted(p.get("value") for p in junit.iter("property") if p.get("name") == "evalkit.id") == sorted(ids)
    verdicts = {f"{prefix}{c.id}": "PASSED" if c.passed else "FAILED" for c in gated.checks}
    assert {i: o for i, o in items.items() if i != f"{prefix}run"} == verdicts
    assert verdicts[f"{prefix}de::pairwise::{JUDGE}"] == "FAILED"
    assert items[f"{prefix}run"] == "PASSED"

    # docs/gates.md's example: the plan from the gates and the two manifests alone names the same checks.
    (pytester.path / "runs" / "pr").symlink_to(pytester.path / "runs" / "api")
    (pytester.path / "runs" / "main").symlink_to(pytester.path / "base")
    doc = (Path(__file__).parent.parent / "docs" / "gates.md").read_text(encoding="utf-8")
    example = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "plan_checks" in b)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(example, {})
    assert sorted(printed.getvalue().split()) == sorted(ids)


def test_a_language_losing_significantly_fails_exactly_its_pairwise_item(
        pytester: pytest.Pytester, server: FakeOpenAIServer) -> None:
    project(pytester, server, PAIRWISE_ONLY, several=False)
    collected = [line for line in run(pytester, "--collect-only", "-q").outlines if "::" in line]
    assert collected == ["suites/api.yaml::run"] + [f"suites/api.yaml::{lang}::pairwise::{JUDGE}"
                                                   for lang in ("de", "zh", "th")]
    assert not [r for r in server.chat_requests if r.body and r.body["model"] in ("cand-model", JUDGE)]

    result = run(pytester, "-rf")
    result.assert_outcomes(passed=3, failed=1)
    assert failed_ids(result) == [f"suites/api.yaml::de::pairwise::{JUDGE}"]
    failures = result.stdout.str().split("short test summary info")[0]
    assert (f"FAIL de pairwise ({JUDGE}): candidate loses significantly: 0 wins / 0 ties / 8 losses, "
            "sign test p=0.0234") in failures
    assert ("candidate share of the decisive items (wins / (wins + losses)): 0%, 95% CI [0%, 32%] (Wilson); "
            "sign test p=0.0234 (Holm over the languages)") in failures
    assert "Traceback" not in failures
    judged = [r for r in server.chat_requests if r.body and r.body["model"] == JUDGE]
    assert len(judged) == 3 * 8 * 2  # every item, both orders, once for the session

    result = run(pytester, "-k", "zh or th")  # (not "not de": -k matches substrings, and "judge-model" has one)
    result.assert_outcomes(passed=2, deselected=2)
    assert len([r for r in server.chat_requests if r.body and r.body["model"] == JUDGE]) == len(judged)  # cached


def test_the_plugin_imports_no_private_gate_or_cli_name() -> None:
    """The plugin uses the gate's public API (evalkit.gate) and evalkit.terminal, not their internals."""
    plugin = Path(evalkit.pytest_plugin._nodes.__file__).parent
    private = [f"{path.name}: {line.strip()}" for path in sorted(plugin.glob("*.py"))
               for line in path.read_text(encoding="utf-8").splitlines()
               if re.search(r"\b(from|import) evalkit\.(cli\b|gate\._)", line)]
    assert private == []


def test_plan_checks_needs_only_the_shapes_of_the_runs() -> None:
    """Regressions, usage rules and the judge only where the baseline has the language (and variant);
    a cost rule only when both runs record prices; thresholds everywhere."""
    spec = GateSpec.model_validate({"thresholds": {"chrf++": {"min": 10}}, "usage": {"cost": {"max_increase": 1}},
                                    "pairwise": {"judge": "j"}})
    run = RunShape(("de", "th"), ("a", "b"), ("chrf++",), priced=True)
    base = RunShape(("de",), ("a",), ("chrf++",), priced=False)
    expected = ["de::chrf++::min[a]", "de::chrf++::regression[a]", "de::chrf++::min[b]", "de::pairwise::j",
                "th::chrf++::min[a]", "th::chrf++::min[b]"]
    assert [p.id for p in plan_checks(spec, run, base)] == expected
    priced = replace(base, priced=True)
    assert [p.id for p in plan_checks(spec, run, priced)] == [*expected[:3], "de::cost::regression[a]", *expected[3:]]
    assert [p.id for p in plan_checks(spec, run)] == [i for i in expected if i.endswith("::min[a]")
                                                      or i.endswith("::min[b]")]
    one = RunShape(("de",), ("a",), ("chrf++",))
    assert [(p.kind, p.leaf, p.id) for p in plan_checks(spec, one, one)] == [
        ("threshold", "min", "de::chrf++::min"), ("regression", "regression", "de::chrf++::regression"),
        ("pairwise", "j", "de::pairwise::j")]


def test_a_gate_check_the_plan_missed_is_never_hidden(pytester: pytest.Pytester, server: FakeOpenAIServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net behind the shared ids: were the plan to miss checks, the ``run`` test fails with the
    failing ones and warns of the passing ones."""
    project(pytester, server, PAIRWISE_ONLY, several=False)
    import evalkit.pytest_plugin._plan as plan

    def without_pairwise(*args: Any, **kwargs: Any) -> list[Any]:
        return [c for c in plan_checks(*args, **kwargs) if c.kind != "pairwise"]

    monkeypatch.setattr(plan, "plan_checks", without_pairwise)
    result = run(pytester, "-rf")
    result.assert_outcomes(failed=1, warnings=2)
    assert failed_ids(result) == ["suites/api.yaml::run"]
    out = result.stdout.str()
    assert f"FAIL de pairwise ({JUDGE}): candidate loses significantly" in out
    assert f"WARN gate check zh::pairwise::{JUDGE} has no test of its own (zh pairwise ({JUDGE}): candidate ok" in out
    assert f"WARN gate check th::pairwise::{JUDGE} has no test of its own" in out
