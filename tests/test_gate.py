"""evalkit gate: gate files with located errors, thresholds, regressions vs a baseline, insufficient data,
repeats, and the CI outputs (JUnit, Markdown, JSON, $GITHUB_STEP_SUMMARY) — end to end against the
project's OpenAI-compatible test server, in-process and as a subprocess."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli, run_subprocess
from test_compare import CASES, _repeat_flaky, _rewrite_manifest, _rewrite_results, make_run, translator_for

from evalkit.compare import compare_runs
from evalkit.errors import IncompatibleRuns, SuiteError, SuiteErrors, UsageError
from evalkit.gate import GateSpec, junit_xml, load_gates, markdown_summary, run_gate, verdict

GATES = """\
gates:
  min_items: 20
  thresholds:
    chrf++: {min: 60, languages: {th: {min: 50}}}
    ter: {max: 40}
    exact_match: {min: 60}
    error_rate: {max: 5}
  regressions:
    default: {max_drop: 2.0, require_significant: true}
    exact_match: {max_drop: 5.0}
    languages: {hi: {chrf++: {max_drop: 1.0}}}
"""


def write(tmp_path: Path, text: str, name: str = "gates.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("gate-runs")
    return {
        "base": make_run(tmp, "base", translator_for()),
        "same": make_run(tmp, "same", translator_for()),
        # Thai answered badly (English or truncated) for 70% of the cases.
        "bad_th": make_run(tmp, "bad_th", translator_for({"th": 0.7})),
    }


# --- the gate file ---------------------------------------------------------------------------------


def test_gate_file_errors_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        gates:
          min_item: 20
          thresholds:
            chrf++: {min: 60, max: 50}
          regressions:
            exact_match: {max_dro: 5}
          correction: bonferroni
        """)
    with pytest.raises(SuiteErrors) as info:
        load_gates(path)
    messages = [e.message for e in info.value.errors]
    assert f"{path}:2:3: gates.min_item: unknown key 'min_item' (did you mean 'min_items'?)" in messages
    assert any(m.startswith(f"{path}:4:5: gates.thresholds.chrf++: min (60.0) is greater than max") for m in messages)
    assert f"{path}:6:19: gates.regressions.exact_match.max_dro: unknown key 'max_dro' (did you mean 'max_drop'?)" \
        in messages
    assert any(m.startswith(f"{path}:7:3: gates.correction: Input should be 'holm' or 'bh'") for m in messages)


def test_bare_gate_file_and_single_error(tmp_path: Path) -> None:
    path = write(tmp_path, "alpha: 2\n")
    with pytest.raises(SuiteError, match=r"gates\.yaml:1:1: alpha: Input should be less than 1"):
        load_gates(path)
    assert load_gates(write(tmp_path, "min_items: 5\n", "ok.yaml")).spec.min_items == 5
    with pytest.raises(SuiteError, match="error_rate is a percentage"):
        load_gates(write(tmp_path, "thresholds: {error_rate: {max: 500}}\n", "rate.yaml"))
    with pytest.raises(SuiteError, match="gates file not found"):
        load_gates(tmp_path / "nope.yaml")


def test_regression_rules_resolve_most_specific_last() -> None:
    spec = GateSpec.model_validate({"regressions": {
        "default": {"max_drop": 2.0},
        "exact_match": {"max_drop": 5.0, "require_significant": False},
        "languages": {"hi": {"default": {"max_drop": 3.0}, "chrf++": {"max_drop": 1.0}}, "th": {"ter": {"skip": True}}},
    }})
    assert spec.regression_rule("bleu", "de").model_dump() == {"max_drop": 2.0, "require_significant": True,
                                                                "skip": False}
    assert spec.regression_rule("exact_match", "de").require_significant is False
    assert spec.regression_rule("exact_match", "hi").max_drop == 3.0  # language default beats metric rule
    assert spec.regression_rule("chrf++", "hi").max_drop == 1.0
    assert spec.regression_rule("ter", "th").skip
    assert GateSpec().regression_rule("bleu", "de").max_drop == 0.0


def test_unknown_metric_is_a_located_error(runs: dict[str, Path], tmp_path: Path) -> None:
    path = write(tmp_path, "gates:\n  thresholds:\n    chrf: {min: 40}\n")
    with pytest.raises(SuiteError) as info:
        run_gate(runs["base"], gates=path)
    assert info.value.message == (f"{path}:3:5: gates.thresholds.chrf: unknown metric 'chrf' "
                                  "(the run has: chrf++, bleu, ter, exact_match, error_rate); did you mean 'chrf++'?")
    assert run_cli("gate", runs["base"], "--gates", path) == 2


# --- end to end ----------------------------------------------------------------------------------


def test_regressed_thai_fails_the_gate_with_ci_outputs(runs: dict[str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    gates = write(tmp_path, GATES)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit, md, js = tmp_path / "junit.xml", tmp_path / "gate.md", tmp_path / "gate.json"
    code = run_cli("gate", runs["bad_th"], "--baseline", runs["base"], "--gates", gates,
                   "--junit", junit, "--markdown", md, "--json", js)
    out = capsys.readouterr().out
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert fails and all(line.startswith("FAIL th ") for line in fails)
    assert any(line.startswith("FAIL th chrf++ ") and " < 50.0" in line for line in fails)
    assert any(line.startswith("FAIL th exact_match 30.0% < 60.0%") for line in fails)
    assert any(line.startswith("FAIL th exact_match -70.0 pts vs baseline (100.0% → 30.0%, 95% CI ")
               and line.endswith("p<0.001; allowed drop 5 pts)") for line in fails)
    assert "gate FAILED: 7 of 24 checks failed (th 7 of 8; de, hi passed)" in out
    assert "th: chrF++ 100.0 → " in out  # the comparison lines precede the verdict

    tree = ET.parse(junit).getroot()
    assert tree.tag == "testsuites" and tree.get("tests") == "24" and tree.get("failures") == "7"
    suites = {s.get("name"): s for s in tree.findall("testsuite")}
    assert list(suites) == ["de", "hi", "th"]
    assert [(s.get("tests"), s.get("failures")) for s in suites.values()] == [("8", "0"), ("8", "0"), ("8", "7")]
    th_failures = [c.find("failure") for c in suites["th"].findall("testcase") if c.find("failure") is not None]
    assert all(f is not None and f.get("message", "").startswith("th ") for f in th_failures)
    assert {c.get("name") for c in suites["de"].findall("testcase")} >= {"chrf++ >= 60", "exact_match vs baseline"}

    verdict_json = json.loads(js.read_text(encoding="utf-8"))
    assert (verdict_json["format"], verdict_json["version"], verdict_json["passed"]) == ("evalkit.gate", 1, False)
    assert len(verdict_json["checks"]) == 24
    assert sum(not c["passed"] for c in verdict_json["checks"]) == 7
    assert verdict_json["correction"] == "Holm–Bonferroni over 12 tests"

    text = md.read_text(encoding="utf-8")
    assert text.startswith("## ❌ evalkit gate failed: 7 of 24 checks failed")
    assert "### Failing checks" in text and "| th | " in text and "▼" in text
    step = summary.read_text(encoding="utf-8")
    assert step.startswith("earlier step\n") and step.endswith(text + "\n")


def test_identical_runs_pass(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gates = write(tmp_path, GATES)
    assert run_cli("gate", runs["same"], "--baseline", runs["base"], "--gates", gates) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "gate passed: all 24 checks passed (de 8, hi 8, th 8)" in out
    # Without a baseline only the absolute thresholds run; regressions: is reported as skipped.
    result = run_gate(runs["bad_th"], gates=gates)
    assert {c.kind for c in result.checks} == {"threshold"} and not result.passed
    assert any("no --baseline" in w for w in result.warnings)


def test_too_few_items_is_insufficient_not_passed(runs: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    gates = write(tmp_path, "gates:\n  min_items: 31\n  thresholds: {exact_match: {min: 50}}\n")
    assert run_cli("gate", runs["base"], "--gates", gates, "--junit", tmp_path / "j.xml") == 1
    out = capsys.readouterr().out
    assert "FAIL de exact_match: insufficient data (30 items < min_items 31)" in out
    assert "3 failed for insufficient data" in out
    result = run_gate(runs["base"], gates=gates)
    assert {c.status for c in result.checks} == {"insufficient"} and not result.passed

    warn = write(tmp_path, "gates:\n  min_items: 31\n  on_insufficient: warn\n  thresholds: {exact_match: {min: 50}}\n",
                 "warn.yaml")
    assert run_cli("gate", runs["base"], "--gates", warn, "--junit", tmp_path / "w.xml") == 0
    out = capsys.readouterr().out
    assert "WARN th exact_match: insufficient data" in out
    tree = ET.parse(tmp_path / "w.xml").getroot()
    assert tree.get("skipped") == "3" and tree.get("failures") == "0"
    # A regression check on too few paired items is insufficient too.
    both = run_gate(runs["bad_th"], baseline=runs["base"], gates=GateSpec(min_items=31))
    assert both.checks and all(c.status == "insufficient" and not c.passed for c in both.checks)


def test_gates_from_the_suite_and_error_rate(runs: dict[str, Path], tmp_path: Path) -> None:
    gates = {"min_items": 10, "thresholds": {"error_rate": {"max": 5}, "exact_match": {"min": 90}}}
    run = make_run(tmp_path, "with-gates", translator_for(), "--languages", "de",
                   suite_kwargs={"gates": gates, "cases": CASES[:12]})
    result = run_gate(run)  # no gates file: the run's suite has a gates: section
    assert result.passed and result.source.endswith("(gates:)") and len(result.checks) == 2

    def fail_two(row: dict[str, Any]) -> dict[str, Any]:
        if row["case_id"] in ("c00", "c01"):
            row.update(error={"kind": "rate_limited", "message": "429"}, output=None, scores={}, stats={})
        return row

    broken = _rewrite_results(run, tmp_path / "broken", fail_two)
    result = run_gate(broken)
    messages = [c.message for c in result.failures]
    assert messages == ["de error_rate 16.7% > 5.0%"]
    exact = next(c for c in result.checks if c.metric == "exact_match")
    assert exact.n == 10 and exact.passed

    def no_gates(row: dict[str, Any]) -> None:
        row["suite"]["path"] = str(tmp_path / "gone.yaml")

    with pytest.raises(UsageError, match="pass --gates FILE"):
        run_gate(_rewrite_manifest(run, tmp_path / "nosuite", no_gates))


def test_repeats_count_items_not_repeats(tmp_path: Path) -> None:
    calls: dict[str, int] = {}
    run = make_run(tmp_path, "rep", lambda r: _repeat_flaky(r, calls), "--repeat", "3", "--languages", "th",
                   suite_kwargs={"cases": CASES[:10]})
    spec = GateSpec(min_items=20, thresholds={"exact_match": {"min": 50}})  # type: ignore[dict-item]
    per_item = run_gate(run, gates=spec)
    assert [c.status for c in per_item.checks] == ["insufficient"] and per_item.checks[0].n == 10
    # The second repeat of half the items was answered badly: those 5 items are unstable.
    cell = next(c for c in per_item.cells if c.metric == "exact_match")
    assert cell.unstable == 5 and cell.value == pytest.approx(100 * (5 + 5 * 2 / 3) / 10)
    assert "(5 unstable)" in markdown_summary(per_item)
    per_repeat = run_gate(run, gates=spec.model_copy(update={"use_repeats": False}))
    assert per_repeat.passed and per_repeat.checks[0].n == 30


def test_several_variants_are_gated_separately(tmp_path: Path) -> None:
    prompts = {"plain": {"user": "Translate into {{ language.name }}: {{ source }}"},
               "sloppy": {"user": "Quickly! Translate into {{ language.name }}: {{ source }}"}}
    run = make_run(tmp_path, "variants", translator_for(bad_prompt="Quickly!"), "--languages", "de",
                   suite_kwargs={"prompts": prompts, "cases": CASES[:20]})
    result = run_gate(run, gates=GateSpec(thresholds={"exact_match": {"min": 60}}))  # type: ignore[dict-item]
    assert [c.message for c in result.failures] == ["de [sloppy] exact_match 0.0% < 60.0%"]
    names = {c.get("name") for c in ET.fromstring(junit_xml(result)).iter("testcase")}
    assert names == {"exact_match >= 60% [plain]", "exact_match >= 60% [sloppy]"}


def test_incompatible_baseline_needs_force(runs: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def retokenize(manifest: dict[str, Any]) -> None:
        manifest["signatures"]["bleu"]["th"] = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.4.3"

    other = _rewrite_manifest(runs["same"], tmp_path / "other", retokenize)
    gates = write(tmp_path, GATES)
    assert run_cli("gate", other, "--baseline", runs["base"], "--gates", gates) == 2
    err = capsys.readouterr().err
    assert err.startswith("evalkit: error: cannot compare ") and "sacrebleu signatures differ" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(IncompatibleRuns):
        run_gate(other, baseline=runs["base"], gates=gates)
    forced = run_gate(other, baseline=runs["base"], gates=gates, force=True)
    assert forced.passed and any(w.startswith("compared despite: th bleu") for w in forced.warnings)
    assert "Compared with --force although" in markdown_summary(forced)
    assert verdict(forced).forced


def test_compare_results_are_reused_and_interrupted_runs_fail(runs: dict[str, Path], tmp_path: Path) -> None:
    comparison = compare_runs(runs["base"], runs["bad_th"])
    result = run_gate(runs["bad_th"], baseline=runs["base"], gates=GateSpec(), comparison=comparison)
    assert result.comparison is comparison
    assert {c.language for c in result.failures} == {"th"}
    other = run_gate(runs["bad_th"], baseline=runs["base"], gates=GateSpec(alpha=0.01), comparison=comparison)
    assert other.comparison is not comparison and other.comparison is not None and other.comparison.alpha == 0.01

    def interrupt(manifest: dict[str, Any]) -> None:
        manifest["status"] = "interrupted"

    stopped = run_gate(_rewrite_manifest(runs["base"], tmp_path / "stopped", interrupt), gates=GateSpec())
    assert [c.message for c in stopped.failures] == ["run stopped is interrupted: 90 of 90 items done"]
    root = ET.fromstring(junit_xml(stopped))
    assert [s.get("name") for s in root.findall("testsuite")] == ["run"]


def test_cli_subprocess_exit_codes(runs: dict[str, Path], tmp_path: Path) -> None:
    gates = write(tmp_path, GATES)
    ok = run_subprocess("gate", runs["same"], "--baseline", runs["base"], "--gates", gates,
                        env={"GITHUB_STEP_SUMMARY": ""})
    assert ok.returncode == 0, ok.stderr
    assert "gate passed" in ok.stdout
    bad = run_subprocess("gate", runs["bad_th"], "--baseline", runs["base"], "--gates", gates,
                         "--json", tmp_path / "v.json")
    assert bad.returncode == 1 and "FAIL th " in bad.stdout
    assert json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))["passed"] is False
    broken = write(tmp_path, "gates:\n  thresholds:\n    bleu: {minimum: 3}\n", "broken.yaml")
    usage = run_subprocess("gate", runs["base"], "--gates", broken)
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.strip() == (f"evalkit: error: {broken}:3:12: gates.thresholds.bleu.minimum: "
                                    "unknown key 'minimum' (did you mean 'min'?)")
    missing = run_subprocess("gate", tmp_path / "nothing", "--gates", gates)
    assert missing.returncode == 2 and "not a directory" in missing.stderr and "Traceback" not in missing.stderr


def test_documented_examples_parse(tmp_path: Path) -> None:
    docs = Path(__file__).parent.parent / "docs"
    text = (docs / "gates.md").read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = load_gates(write(tmp_path, block)).spec
    assert spec.thresholds["chrf++"].for_language("th").min == 25
    assert spec.regression_rule("bleu", "de").skip and spec.regression_rule("ter", "th").max_drop == 4.0
    workflow = yaml.safe_load((docs / "examples" / "github-actions.yml").read_text(encoding="utf-8"))
    commands = " ".join(step.get("run", "") for step in workflow["jobs"]["eval"]["steps"])
    assert "evalkit gate runs/pr --baseline runs/base" in commands and "evalkit compare runs/base runs/pr" in commands
