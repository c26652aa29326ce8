"""Gate verdicts that say what they mean: completeness is read from results.jsonl itself (issue 11.2), and
one line per distinct failure and counts that say which they are (11.10)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from test_compare import _rewrite_manifest, make_run, translator_for

from evalkit.errors import SuiteError
from evalkit.gate import GateSpec, junit_xml, markdown_summary, run_gate, verdict


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("verdict-runs")
    return {
        "base": make_run(tmp, "base", translator_for()),
        # Thai answered badly for 70% of the cases.
        "bad_th": make_run(tmp, "bad_th", translator_for({"th": 0.7})),
    }


def _lines(path: Path) -> list[str]:
    return (path / "results.jsonl").read_text(encoding="utf-8").splitlines()


def _write_lines(src: Path, dst: Path, lines: list[str]) -> Path:
    dst.mkdir()
    (dst / "manifest.json").write_bytes((src / "manifest.json").read_bytes())
    (dst / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


# --- 11.2: completeness from results.jsonl ---------------------------------------------------------


def test_a_complete_run_has_no_run_check(runs: dict[str, Path]) -> None:
    result = run_gate(runs["base"], gates=GateSpec())
    assert result.passed and [c for c in result.checks if c.kind == "run"] == []


def test_lost_lines_fail_the_gate_although_the_manifest_says_complete(runs: dict[str, Path], tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    lines = _lines(runs["base"])
    lost = _write_lines(runs["base"], tmp_path / "lost", lines[:-5])
    result = run_gate(lost, gates=GateSpec())
    assert not result.passed
    assert [c.message for c in result.failures] == [
        "run lost is incomplete: results.jsonl holds 85 of 90 planned items (the manifest says complete)"]
    assert run_cli("gate", lost, "--gates", _gates(tmp_path)) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL ") == 1 and "FAIL run lost is incomplete: results.jsonl holds 85 of 90" in out
    # ... and the JUnit file has it as the "run" test suite.
    root = ET.fromstring(junit_xml(result))
    assert root.findall("testsuite")[0].get("name") == "run"


def test_duplicate_item_ids_fail_the_gate(runs: dict[str, Path], tmp_path: Path) -> None:
    lines = _lines(runs["base"])
    doubled = _write_lines(runs["base"], tmp_path / "doubled", lines + lines[:3])
    result = run_gate(doubled, gates=GateSpec())
    assert [c.message for c in result.failures] == [
        "run doubled is incomplete: results.jsonl holds all 90 planned items and 3 duplicate lines "
        "(the manifest says complete)"]
    # Lines of another item set (ids not planned) and a lost line at once: both are named on one line.
    foreign = [json.dumps({**json.loads(raw), "item_id": f"x{i:019d}"}) for i, raw in enumerate(lines[:4])]
    mixed = _write_lines(runs["base"], tmp_path / "mixed", lines[1:] + foreign)
    messages = [c.message for c in run_gate(mixed, gates=GateSpec()).failures]
    assert messages == ["run mixed is incomplete: results.jsonl holds 89 of 90 planned items and 4 unplanned "
                        "item ids (the manifest says complete)"]


def test_require_complete_false_skips_the_completeness_check(runs: dict[str, Path], tmp_path: Path) -> None:
    lost = _write_lines(runs["base"], tmp_path / "lost", _lines(runs["base"])[:-5])
    assert run_gate(lost, gates=GateSpec(require_complete=False)).passed


def test_a_status_that_is_not_complete_still_fails_with_its_counts(runs: dict[str, Path], tmp_path: Path) -> None:
    def interrupt(manifest: dict[str, Any]) -> None:
        manifest["status"] = "interrupted"

    stopped = _rewrite_manifest(runs["base"], tmp_path / "stopped", interrupt)
    assert [c.message for c in run_gate(stopped, gates=GateSpec()).failures] == [
        "run stopped is interrupted: 90 of 90 items done"]


def test_a_single_shard_fails_the_gate(runs: dict[str, Path], tmp_path: Path) -> None:
    def shard(manifest: dict[str, Any]) -> None:
        manifest["shard"] = "1/2"

    half = _rewrite_manifest(runs["base"], tmp_path / "half", shard)
    messages = [c.message for c in run_gate(half, gates=GateSpec()).failures]
    assert messages == ["run half is shard 1/2 of the suite's items: merge every shard (evalkit merge) "
                        "before gating"]


# --- 11.10: one line per distinct failure, counts that say which they are --------------------------


def _gates(tmp_path: Path, text: str = "gates:\n  min_items: 20\n") -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_insufficient_data_is_one_line_per_language(runs: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    gates = _gates(tmp_path, "gates:\n  min_items: 31\n  thresholds: {exact_match: {min: 50}}\n")
    assert run_cli("gate", runs["bad_th"], "--baseline", runs["base"], "--gates", gates) == 1
    out = capsys.readouterr().out
    fails = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert len(fails) == len(set(fails)), fails  # the threshold and the regression check lack the same data
    assert fails == [
        f"FAIL {lang} chrf++, bleu, ter, exact_match: insufficient data (30 items < min_items 31; "
        "5 checks: 1 threshold, 4 vs baseline)" for lang in ("de", "hi", "th")]
    assert ("gate FAILED: 15 of 15 checks failed (de 5 of 5, hi 5 of 5, th 5 of 5; "
            "15 failed for insufficient data)") in out
    # Each check stays its own JUnit test case and JSON record.
    result = run_gate(runs["bad_th"], baseline=runs["base"], gates=gates)
    assert len(result.checks) == 15 and len(verdict(result).checks) == 15
    assert ET.fromstring(junit_xml(result)).get("failures") == "15"


def test_single_insufficient_check_keeps_its_own_line(runs: dict[str, Path], tmp_path: Path) -> None:
    gates = _gates(tmp_path, "gates:\n  min_items: 31\n  thresholds: {exact_match: {min: 50}}\n")
    lines = run_gate(runs["base"], gates=gates).lines()
    assert [x for x in lines if x.startswith("FAIL ")] == [
        f"FAIL {lang} exact_match: insufficient data (30 items < min_items 31)" for lang in ("de", "hi", "th")]


def test_failed_summary_counts_failures_not_passes(runs: dict[str, Path], tmp_path: Path) -> None:
    gates = _gates(tmp_path, """\
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
""")
    result = run_gate(runs["bad_th"], baseline=runs["base"], gates=gates)
    summary = result.summary()
    assert summary == "gate FAILED: 7 of 24 checks failed (th 7 of 8; de, hi passed)"
    assert result.lines()[-1] == summary and verdict(result).summary == summary
    text = markdown_summary(result)
    assert text.startswith("## ❌ evalkit gate failed: 7 of 24 checks failed")
    rows = {row.split("|")[1].strip(): row for row in text.splitlines() if re.match(r"\| (de|hi|th) \|", row)}
    assert rows["th"].rstrip(" |").endswith("7 of 8 failed ❌") and rows["de"].rstrip(" |").endswith("8 passed ✅")
    ok = run_gate(runs["base"], baseline=runs["base"], gates=gates)
    assert ok.summary() == "gate passed: all 24 checks passed (de 8, hi 8, th 8)"


def test_warned_insufficient_checks_are_counted_as_warnings(runs: dict[str, Path], tmp_path: Path) -> None:
    gates = _gates(tmp_path, "gates:\n  min_items: 31\n  on_insufficient: warn\n"
                             "  thresholds: {exact_match: {min: 50}}\n")
    result = run_gate(runs["base"], baseline=runs["base"], gates=gates)
    assert result.passed
    assert result.summary() == ("gate passed: 0 of 15 checks passed; "
                                "15 with insufficient data, warned only (on_insufficient: warn)")
    warns = [x for x in result.lines() if x.startswith("WARN ")]
    assert len(warns) == 3 and len(set(warns)) == 3


def test_a_suite_without_gates_given_as_gates_file_is_one_line(tmp_path: Path) -> None:
    from evalkit.gate._spec import load_gates

    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\nlanguages: [de]\nprompts: {p: {user: hi}}\ncases: [{id: a}]\nscorers: [language]\n",
                     encoding="utf-8")
    with pytest.raises(SuiteError) as exc:
        load_gates(suite)
    assert str(exc.value) == (f"{suite}:1:1: gates: this suite has no 'gates:' section; add one, or pass a gates "
                              "file with --gates")
