"""Custom scorers and what persists: the score cache key (plugin code, case fields), per-item
scorer errors that a fixed plugin clears on the next run, the entry point, worker processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, EXAMPLE_PACKAGE, ROOT, plugin_suite, run_cli, run_subprocess

from evalkit.scoring import load_plugin
from evalkit.scoring._pool import ItemScorer
from evalkit.testing import FakeOpenAIServer

pytestmark = pytest.mark.usefixtures("clean_registry")

MY_PLUGIN = """\
import evalkit

@evalkit.scorer
def mine(output):
    {body}
"""


def _results(run: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["case_id"]: r for r in rows}


def _write_plugin(path: Path, body: str) -> None:
    path.write_text(MY_PLUGIN.format(body=body), encoding="utf-8")


def _run(suite: Path, out: Path, *extra: str | Path, env: dict[str, str] | None = None) -> None:
    proc = run_subprocess("run", suite, "--out", out, "--no-report", *extra, env=env)
    assert proc.returncode == 0, proc.stderr


def test_editing_a_plugin_changes_the_score_cache_key(tmp_path: Path, server: FakeOpenAIServer) -> None:
    plugin = tmp_path / "myplugin.py"
    suite = plugin_suite(tmp_path, server.base_url, "- mine")
    _write_plugin(plugin, "return 0.25")
    _run(suite, tmp_path / "one", "--plugin", plugin)
    _write_plugin(plugin, "return 0.75")
    _run(suite, tmp_path / "two", "--plugin", plugin)
    two = _results(tmp_path / "two")
    assert all(r["cached"] for r in two.values())  # the responses came from the cache ...
    assert {r["scores"]["mine"] for r in two.values()} == {0.75}  # ... the scores did not
    requests = len(server.requests)
    _run(suite, tmp_path / "three", "--plugin", plugin)  # unchanged plugin: everything from the cache
    assert {r["scores"]["mine"] for r in _results(tmp_path / "three").values()} == {0.75}
    assert len(server.requests) == requests


def test_a_failing_scorer_is_a_per_item_error_and_a_fixed_plugin_rescores_from_the_cache(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    plugin = tmp_path / "myplugin.py"
    suite = plugin_suite(tmp_path, server.base_url, "- mine\n- exact_match")
    _write_plugin(plugin, "return 1 / 0 if output == 'Vielen Dank' else 1.0")
    proc = run_subprocess("run", suite, "--out", tmp_path / "run", "--no-report", "--plugin", plugin)
    assert proc.returncode == 0, proc.stderr  # the run goes on
    assert "errors: scorer_error 1" in proc.stdout
    rows = _results(tmp_path / "run")
    assert rows["c2"]["error"]["kind"] == "scorer_error"
    assert rows["c2"]["error"]["message"] == "scorer 'mine': ZeroDivisionError: division by zero"
    assert rows["c2"]["output"] == "Vielen Dank"  # the answer is kept
    assert rows["c1"]["scores"] == {"mine": 1.0, "exact_match": 1.0} and rows["c1"]["error"] is None
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    mine = next(c for c in summary["cells"] if c["metric"] == "mine")
    assert mine["n"] == 2  # the failed item is not a zero
    assert summary["errors"][0]["by_kind"] == {"scorer_error": 1}

    # Resuming retries the failed item: with the same plugin it fails again (the failure was not cached) ...
    proc = run_subprocess("run", suite, "--out", tmp_path / "run", "--no-report", "--plugin", plugin)
    # (1 failed of the 1 item retried: above the error-rate limit, exit 3, as for a request that keeps failing)
    assert proc.returncode == 3 and "scorer_error 1" in proc.stderr + proc.stdout
    # ... and one run is scored by one version of each scorer: an edited plugin needs a new run directory,
    # where every item is scored again while the answers all come from the cache.
    _write_plugin(plugin, "return 1.0")
    requests = len(server.requests)
    proc = run_subprocess("run", suite, "--out", tmp_path / "run", "--no-report", "--plugin", plugin)
    assert proc.returncode == 2 and "(a plugin scorer's code changed); choose a new --out directory" in proc.stderr
    _run(suite, tmp_path / "fixed", "--plugin", plugin)
    rows = _results(tmp_path / "fixed")
    assert all(r["error"] is None and r["cached"] and r["scores"]["mine"] == 1.0 for r in rows.values())
    assert len(server.requests) == requests


def test_the_case_fields_a_scorer_reads_are_part_of_the_score_cache_key(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = plugin_suite(tmp_path, server.base_url, "- glossary_kept")
    assert run_cli("run", suite, "--out", tmp_path / "one", "--plugin", EXAMPLE_PACKAGE, "--no-report") == 0
    assert _results(tmp_path / "one")["c2"]["scores"]["glossary_kept"] == 0.5
    suite.write_text(suite.read_text(encoding="utf-8").replace("[Dank, bitte]", "[Dank]"), encoding="utf-8")
    assert run_cli("run", suite, "--out", tmp_path / "two", "--plugin", EXAMPLE_PACKAGE, "--no-report") == 0
    two = _results(tmp_path / "two")
    assert two["c2"]["cached"] and two["c2"]["scores"]["glossary_kept"] == 1.0


def test_an_installed_entry_point_provides_the_scorer_without_a_flag(tmp_path: Path,
                                                                     server: FakeOpenAIServer) -> None:
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE_PACKAGE, site / "evalkit_scorers_example")
    info = site / "evalkit_scorers_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evalkit-scorers-example\nVersion: 0.1.0\n",
                                   encoding="utf-8")
    pyproject = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    section = pyproject.split('[project.entry-points."evalkit.scorers"]\n')[1]
    (info / "entry_points.txt").write_text("[evalkit.scorers]\n" + section.replace('"', ""), encoding="utf-8")
    suite = plugin_suite(tmp_path, server.base_url, "- json_valid\n- length_ratio\n- glossary_kept")
    env = {"PYTHONPATH": f"{ROOT}:{site}"}
    _run(suite, tmp_path / "run", env=env)
    rows = _results(tmp_path / "run")
    assert rows["c2"]["scores"] == {"json_valid": 0.0, "length_ratio": 1.0, "glossary_kept": 0.5}
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scorers"][2]["plugin"].startswith("glossary_kept=evalkit_scorers_example:GlossaryKept 1 ")
    # Without the package on the path the same suite is refused, naming the remedy.
    proc = run_subprocess("validate", suite, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "unknown scorer (got 'json_valid')" in proc.stderr


def test_a_scoring_worker_process_loads_the_plugins_named_on_the_command_line() -> None:
    load_plugin(str(EXAMPLE_PACKAGE))
    defs = [("chrf", "chrf", {}), ("length_ratio", "length_ratio", {}), ("glossary_kept", "glossary_kept", {})]
    segments = [("de", "Guten Morgen" * (i % 3 + 1), ("Guten Morgen",), {"glossary": ["Morgen", "Tag"]})
                for i in range(24)]
    pooled = ItemScorer(defs, workers=1, max_batch=4)  # 24 segments >= 2 x 4: chunks go to the worker
    try:
        assert pooled.score_many(segments) == ItemScorer(defs).score_many(segments)
        assert pooled.pooled  # the worker scored its chunks (a broken worker falls back to in-process)
    finally:
        pooled.close()


RATIO_PLUGIN = """\
import evalkit

def ratio(summed):
    return 100.0 * summed[0] / summed[1]

@evalkit.scorer(aggregate=ratio, references=True)
def kept_chars(output, references):
    ref = references[0]
    kept = sum(1 for ch in ref if ch in output)
    return evalkit.Score(kept / len(ref), stats=[kept, len(ref)])
"""


def test_a_custom_aggregate_needs_its_plugin_to_gate_and_says_so(tmp_path: Path, server: FakeOpenAIServer) -> None:
    plugin = tmp_path / "ratio_plugin.py"
    plugin.write_text(RATIO_PLUGIN, encoding="utf-8")
    suite = plugin_suite(tmp_path, server.base_url, "- kept_chars")
    _run(suite, tmp_path / "run", "--plugin", plugin)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["cells"][0]["metric"] == "kept_chars" and summary["cells"][0]["value"] == pytest.approx(100.0)
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates:\n  min_items: 1\n  thresholds:\n    kept_chars: {min: 50}\n", encoding="utf-8")
    proc = run_subprocess("gate", tmp_path / "run", "--gates", gates)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "unknown scorer (got 'kept_chars')" in proc.stderr
    assert "EVALKIT_PLUGINS" in proc.stderr
    proc = run_subprocess("gate", tmp_path / "run", "--gates", gates, env={"EVALKIT_PLUGINS": str(plugin)})
    assert proc.returncode == 0, proc.stderr
