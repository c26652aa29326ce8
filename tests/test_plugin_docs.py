"""docs/scorers.md: its Python examples are working scorers, its suite fragment and gates validate
with them, and the error line it quotes is the one evalkit prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import EXAMPLE, ROOT, plugin_suite, run_cli

from evalkit.scoring import build_scorer, load_plugin

pytestmark = pytest.mark.usefixtures("clean_registry")

DOC = ROOT / "docs" / "scorers.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_documented_scorers_work(tmp_path: Path) -> None:
    first, second = _blocks("python")
    (tmp_path / "my_scorers.py").write_text(first, encoding="utf-8")
    (tmp_path / "glossary_doc.py").write_text(second, encoding="utf-8")
    assert load_plugin(str(tmp_path / "my_scorers.py")) == ["json_valid", "within_word_budget"]
    assert load_plugin(str(tmp_path / "glossary_doc.py")) == ["glossary_kept"]
    assert build_scorer("json_valid", {}, "en").score('{"a": 1}', []).value == 1.0
    budget = build_scorer("within_word_budget", {"label": "budget"}, "de")
    item = budget.score_item("eins zwei drei", ["eins zwei"], {})  # type: ignore[attr-defined]
    assert (item.value, item.details) == (0.5, {"words": 3, "budget": 2})
    assert budget.score_item("a b c", ["x"], {"max_words": 3}).value == 1.0  # type: ignore[attr-defined]
    glossary = build_scorer("glossary_kept", {}, "de")
    kept = glossary.score_item("Guten Morgen", [], {"glossary": {"de": ["Morgen", "Abend"]}})  # type: ignore[attr-defined]
    assert (kept.value, kept.details) == (0.5, {"missing": ["Abend"]})


def test_the_documented_suite_fragment_and_gates_validate_with_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "my_scorers.py").write_text(_blocks("python")[0], encoding="utf-8")
    scorers_yaml = next(b for b in _blocks("yaml") if b.startswith("scorers:"))
    gates_yaml = next(b for b in _blocks("yaml") if b.startswith("gates:"))
    entries = scorers_yaml.removeprefix("scorers:\n")
    suite = plugin_suite(tmp_path, "http://127.0.0.1:9/v1", "\n".join(line.strip() for line in entries.splitlines()))
    suite.write_text(suite.read_text(encoding="utf-8") + gates_yaml.replace("gates:\n", "gates:\n  min_items: 1\n"),
                     encoding="utf-8")
    assert run_cli("validate", suite, "--plugin", tmp_path / "my_scorers.py") == 0


def test_the_quoted_error_line_is_what_evalkit_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = re.search(r"```\n(suite\.yaml:.*?)\n```", DOC.read_text(encoding="utf-8"))
    assert found is not None
    quoted = found.group(1)
    suite = plugin_suite(tmp_path, "http://127.0.0.1:9/v1", "- chrf\n- json_valid")
    assert run_cli("validate", suite) == 2
    printed = capsys.readouterr().err.strip()
    assert printed.split(": ", 1)[1] == quoted.split(": ", 1)[1]  # the same line but for the line number


def test_the_example_package_declares_the_entry_points_the_doc_shows() -> None:
    toml = _blocks("toml")[0]
    assert toml in (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")


def test_the_example_suite_validates_with_the_example_plugin() -> None:
    suite = EXAMPLE / "example-suite.yaml"
    assert run_cli("validate", suite, "--plugin", EXAMPLE / "evalkit_scorers_example") == 0
