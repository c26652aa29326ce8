"""Custom scorers end to end against the fake server: --plugin, summary, compare, gate, JUnit,
the score cache, per-item scorer errors, and a suite that names an unregistered scorer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE_PACKAGE, plugin_suite, run_cli, run_subprocess, translator

from evalkit.compare import compare_runs
from evalkit.scoring import _plugins
from evalkit.testing import FakeOpenAIServer

pytestmark = pytest.mark.usefixtures("clean_registry")

EXAMPLE_SCORERS = """
- chrf
- json_valid
- length_ratio: {tolerance: 0.5}
- glossary_kept
"""


def _results(run: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["case_id"]: r for r in rows}


def _cells(run: Path) -> dict[str, dict[str, Any]]:
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return {c["metric"]: c for c in summary["cells"]}


def _json_answers(request: dict[str, Any]) -> str:
    """The candidate: answers the first two phrases as JSON objects, the third as the translator does."""
    text = translator(request)
    return json.dumps({"translation": text}) if text in ("Guten Morgen", "Vielen Dank") else text


def test_a_plugin_named_with_its_path_scores_and_flows_into_summary_compare_and_gate(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = plugin_suite(tmp_path, server.base_url, EXAMPLE_SCORERS)
    assert run_cli("run", suite, "--out", tmp_path / "base", "--plugin", EXAMPLE_PACKAGE) == 0
    assert "glossary_kept" in (tmp_path / "base" / "report.html").read_text(encoding="utf-8")
    base = _results(tmp_path / "base")
    assert base["c2"]["scores"] == {"chrf": pytest.approx(100.0), "json_valid": 0.0, "length_ratio": 1.0,
                                    "glossary_kept": 0.5}
    assert base["c2"]["details"]["glossary_kept"] == {"missing": ["bitte"]}
    assert "glossary_kept" not in base["c3"]["scores"] or base["c3"]["scores"]["glossary_kept"] is None
    assert all("fields" not in r and '"glossary"' not in json.dumps(r) for r in base.values())  # not recorded
    cells = _cells(tmp_path / "base")
    assert (cells["json_valid"]["value"], cells["json_valid"]["n"]) == (0.0, 3)
    assert cells["json_valid"]["interval"] == "Wilson 95%"
    assert (cells["glossary_kept"]["value"], cells["glossary_kept"]["n"]) == (pytest.approx(75.0), 2)
    assert cells["length_ratio"]["value"] == pytest.approx(100.0)
    manifest = json.loads((tmp_path / "base" / "manifest.json").read_text(encoding="utf-8"))
    records = {r["label"]: r for r in manifest["scorers"]}
    assert records["json_valid"]["plugin"].startswith("json_valid=evalkit_scorers_example:json_valid 1 sha256:")
    assert (records["length_ratio"]["kind"], records["length_ratio"]["aggregate"]) == ("corpus", "mean")
    assert records["chrf"]["plugin"] is None

    with FakeOpenAIServer(_json_answers) as cand_server:
        assert run_cli("run", suite, "--out", tmp_path / "cand", "--plugin", EXAMPLE_PACKAGE, "--no-report",
                       "--base-url", cand_server.base_url) == 0
    assert _cells(tmp_path / "cand")["json_valid"]["value"] == pytest.approx(200 / 3)

    # Compare, gate and JUnit from what is on disk, with no plugin loaded at all.
    _plugins._registered.clear()
    _plugins._loaded.clear()
    comparison = compare_runs(tmp_path / "base", tmp_path / "cand")
    metrics = {m.metric: m for m in comparison.metrics}
    assert metrics["json_valid"].kind == "binary" and "McNemar" in metrics["json_valid"].result.method
    assert metrics["json_valid"].result.n_fail_to_pass == 2
    assert metrics["length_ratio"].kind == "corpus" and "bootstrap" in metrics["length_ratio"].result.method
    assert metrics["length_ratio"].result.delta < 0  # the JSON answers are longer than the references
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates:\n  min_items: 1\n  thresholds:\n    json_valid: {min: 90}\n"
                     "    length_ratio: {min: 10}\n", encoding="utf-8")
    junit = tmp_path / "gate.xml"
    assert run_cli("gate", tmp_path / "cand", "--gates", gates, "--junit", junit) == 1
    assert run_cli("compare", tmp_path / "base", tmp_path / "cand", "--out", tmp_path / "compare.html") == 0
    assert "length_ratio" in (tmp_path / "compare.html").read_text(encoding="utf-8")
    xml = junit.read_text(encoding="utf-8")
    assert "json_valid" in xml and "length_ratio" in xml


def test_a_suite_naming_an_unregistered_scorer_exits_2_and_imports_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "evil.py").write_text(
        "import pathlib, evalkit\n"
        f"pathlib.Path({str(marker)!r}).write_text('x')\n"
        "@evalkit.scorer\ndef evil(output):\n    return 1.0\n", encoding="utf-8")
    suite = plugin_suite(tmp_path, "http://127.0.0.1:9/v1", "- evil")
    env = {"PYTHONPATH": f"{tmp_path}:{Path(__file__).parent.parent}"}
    for command in (["run", suite, "--out", tmp_path / "out"], ["validate", suite]):
        proc = run_subprocess(*command, env=env, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert "suite.yaml:" in lines[0] and "unknown scorer (got 'evil')" in lines[0]
        assert "--plugin MODULE_OR_PATH" in lines[0] and "'evalkit.scorers' entry point" in lines[0]
        assert not marker.exists()
    # Named by the person running evalkit, the same module is used.
    proc = run_subprocess("validate", suite, "--plugin", "evil", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


@pytest.mark.parametrize(("plugin", "says"), [
    ("no_such_module_xyz", "--plugin no_such_module_xyz: could not import it (ModuleNotFoundError: "),
    ("missing/plugin.py", "--plugin missing/plugin.py: no such file"),
    ("broken.py", "--plugin broken.py: could not import it (ZeroDivisionError: division by zero)"),
    ("empty.py", "--plugin empty.py: defines no scorer (decorate a function with @evalkit.scorer)"),
])
def test_a_plugin_that_cannot_be_used_is_one_line_and_exit_2(tmp_path: Path, plugin: str, says: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.py").write_text("1 / 0\n", encoding="utf-8")
    (tmp_path / "empty.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    suite = plugin_suite(tmp_path, "http://127.0.0.1:9/v1", "- chrf")
    assert run_cli("validate", suite, "--plugin", plugin) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


def test_plugins_named_in_the_environment_are_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = plugin_suite(tmp_path, "http://127.0.0.1:9/v1", EXAMPLE_SCORERS)
    assert run_cli("validate", suite) == 2
    monkeypatch.setenv(_plugins.ENV_VAR, str(EXAMPLE_PACKAGE))
    assert run_cli("validate", suite) == 0
