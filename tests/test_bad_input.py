"""A corpus of broken suites and data files (tests/bad_inputs/): each one is refused with exit 2 and
ONE line ``file:line[:col]: field: message`` naming the right file and line, never a traceback, by
``evalkit validate`` and ``evalkit run`` alike (in-process for all, as a subprocess for a handful)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli, run_subprocess

BAD = Path(__file__).parent / "bad_inputs"
INDEX: dict[str, dict[str, Any]] = yaml.safe_load((BAD / "index.yaml").read_text(encoding="utf-8"))
LINE = re.compile(r"^(?:evalkit: error: )?(?P<file>[^:\n]+):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<rest>\S.*)$")
# The suite's own model block points here: nothing listens, so a suite that wrongly passes fails fast.
RUN_ARGS = ("--no-cache", "--no-report", "--max-attempts", "1")


def _check(name: str, code: int, stderr: str) -> None:
    expected = INDEX[name]
    assert "Traceback" not in stderr
    assert code == expected.get("exit", 2), stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1, lines
    match = LINE.match(lines[0])
    assert match, lines[0]
    assert match["file"] == expected.get("in", name), lines[0]
    assert int(match["line"]) == expected["line"], lines[0]
    assert expected["says"] in match["rest"], lines[0]


def test_corpus_is_large_and_indexed() -> None:
    files = sorted(p.name for p in BAD.glob("*.yaml") if p.name != "index.yaml")
    assert len(files) >= 30
    assert sorted(INDEX) == files


@pytest.mark.parametrize("name", sorted(INDEX))
def test_validate_refuses(name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    code = run_cli("validate", name)
    _check(name, code, capsys.readouterr().err)


@pytest.mark.parametrize("name", sorted(INDEX))
def test_run_refuses(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    out = tmp_path / "run"
    code = run_cli("run", name, "--out", out, *RUN_ARGS)
    _check(name, code, capsys.readouterr().err)
    assert not (out / "manifest.json").exists()  # nothing is left behind for a suite that never ran


SUBPROCESS = [
    "yaml_python_object_tag.yaml",
    "yaml_alias_bomb.yaml",
    "template_undefined_variable.yaml",
    "data_non_utf8.yaml",
]


@pytest.mark.parametrize("name", SUBPROCESS)
def test_subprocess_refuses(name: str, tmp_path: Path) -> None:
    proc = run_subprocess("validate", name, cwd=BAD)
    _check(name, proc.returncode, proc.stderr)
    proc = run_subprocess("run", name, "--out", tmp_path / "run", *RUN_ARGS, cwd=BAD)
    _check(name, proc.returncode, proc.stderr)
    assert "pwned" not in proc.stdout + proc.stderr


def test_errors_name_the_file_relative_to_the_working_directory(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # From another directory the same problem is reported with the path the user typed.
    code = run_cli("validate", BAD / "unknown_language.yaml")
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith("unknown_language.yaml:5:17: languages[1]: unknown language code 'xx'")


def test_deeply_nested_yaml_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert run_cli("validate", path) == 2
    err = capsys.readouterr().err
    assert "deep.yaml:2:" in err and "nested too deeply" in err and "Traceback" not in err


def test_recursive_alias_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("name: x\ndescription: &a [1, *a]\n", encoding="utf-8")
    assert run_cli("validate", path) == 2
    assert "refers to itself" in capsys.readouterr().err
