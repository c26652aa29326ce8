"""`evalkit init` writes a starter suite that validates, and never overwrites without --force."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli, run_subprocess

from evalkit.validate import validate_suite


def test_init_writes_a_valid_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "starter.yaml"
    assert run_cli("init", path) == 0
    assert "next: evalkit validate" in capsys.readouterr().out
    report = validate_suite(path)
    assert report.ok, "\n".join(e.message for e in report.errors)
    assert report.cases >= 1 and report.items >= 1
    assert run_cli("validate", path) == 0


def test_init_default_path_in_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("init") == 0
    assert validate_suite(tmp_path / "evalkit.yaml").ok


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\n", encoding="utf-8")
    assert run_cli("init", path) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert path.read_text(encoding="utf-8") == "name: mine\n"  # untouched
    assert run_cli("init", path, "--force") == 0
    assert validate_suite(path).ok


def test_init_refusal_as_a_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "evalkit.yaml"
    path.write_text("keep me\n", encoding="utf-8")
    proc = run_subprocess("init", path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"evalkit: error: {path} already exists (use --force to overwrite)"]
    assert "Traceback" not in proc.stderr
    assert path.read_text(encoding="utf-8") == "keep me\n"
