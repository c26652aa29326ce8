"""First-hour follow-ups (issues #13/#14 edges): FLORES-style language codes, a suite's ``models:`` list,
``load_suite`` taking built-in names, long-format skip counts in ``--dry-run``, and validate's grouping of
template/reference errors on structured fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

from evalkit.errors import SuiteError
from evalkit.suite import load_suite
from evalkit.suites import SUITES_DIR

LONG = """\
name: long
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32, seed: 1}}
  max_attempts: 2
languages: [{languages}]
case_language: lang
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
scorers: [{scorers}]
cases: {{file: data.jsonl}}
"""


def long_suite(tmp_path: Path, rows: list[dict[str, object]], *, languages: str = "de, zh",
               scorers: str = "exact_match", base_url: str = "http://127.0.0.1:9/v1") -> Path:
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    path = tmp_path / "suite.yaml"
    path.write_text(LONG.format(base_url=base_url, languages=languages, scorers=scorers), encoding="utf-8")
    return path


# --- load_suite takes a built-in suite's name (item 5) -------------------------------------------------


def test_load_suite_takes_a_builtin_suite_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no file of that name here
    suite = load_suite("quickstart")
    assert suite.path == SUITES_DIR / "quickstart.yaml"
    assert suite.spec.name == "quickstart"
    assert load_suite("translation.yaml").path == SUITES_DIR / "translation.yaml"
    # A file in the working directory wins over a built-in suite of the same name.
    (tmp_path / "quickstart.yaml").write_text((SUITES_DIR / "quickstart.yaml").read_text(encoding="utf-8")
                                              .replace("name: quickstart", "name: mine"), encoding="utf-8")
    assert load_suite("quickstart.yaml").spec.name == "mine"
    with pytest.raises(SuiteError, match=r"suite file not found.*did you mean 'translation'"):
        load_suite("translaton")


# --- --dry-run says which long-format cases it leaves out (item 6) --------------------------------------


def test_dry_run_prints_long_format_skip_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": "a", "lang": "de", "source": "s", "reference": "r"},
            {"id": "b", "lang": "fr", "source": "s", "reference": "r"},
            {"id": "c", "lang": "fr", "source": "s", "reference": "r"},
            {"id": "d", "lang": "zh", "source": "s", "reference": "r"}]
    path = long_suite(tmp_path, rows)
    assert run_cli("run", path, "--out", tmp_path / "run", "--dry-run") == 0
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "total: 2 items" in printed
    assert "2 cases skipped, in a language the suite does not run (fr: 2)" in printed
    assert not (tmp_path / "run").exists()
