"""Built-in suites ship inside the package and are addressable by name (issue 13 item 2):
``evalkit run translation``, ``evalkit suites``, ``evalkit init --from translation``."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest
from helpers import run_cli, run_subprocess

import evalkit
from evalkit.results import read_manifest
from evalkit.testing import FakeOpenAIServer
from evalkit.validate import validate_suite

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_SUITES = Path(evalkit.__file__).parent / "suites"
NAMES = ["answer-in-language", "math-word-problems", "prompt-regression", "quickstart", "translation"]


def test_the_repository_suites_folder_is_the_packaged_one() -> None:
    assert sorted(p.stem for p in PACKAGE_SUITES.glob("*.yaml")) == NAMES
    assert (ROOT / "suites").resolve() == PACKAGE_SUITES.resolve()  # README paths and `make demo` keep working


def test_package_data_covers_every_suite_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = config["package-data"].get("evalkit.suites", []) + config["package-data"].get("*", [])
    files = [p.relative_to(PACKAGE_SUITES).as_posix() for p in PACKAGE_SUITES.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"]
    assert any(f.startswith("data/") for f in files)
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) and pat.count("/") == f.count("/")
                                           for pat in patterns)]
    assert not missing, f"not in the wheel: {missing}"


def test_suites_lists_names_languages_and_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("suites") == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    line = next(line for line in out.splitlines() if line.startswith("translation "))
    assert "11 languages" in line and "2 prompts" in line and "32 cases" in line and "704 items" in line
    quick = next(line for line in out.splitlines() if line.startswith("quickstart "))
    assert "de hi th zh ja" in quick and "3 cases" in quick and "30 items" in quick  # cases: limit 3
    assert "evalkit init --from" in out


def test_run_and_validate_by_name_from_an_empty_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("validate", "translation") == 0
    assert "translation: ok (32 cases, 704 items)" in capsys.readouterr().out
    # A suite without the language check: nothing slow to load.
    assert run_cli("run", "prompt-regression", "--out", "runs/t", "--base-url", server.base_url, "--model", "m",
                   "--limit", "1", "--languages", "de,ja", "--no-report") == 0
    manifest = read_manifest(tmp_path / "runs" / "t")
    assert manifest.suite.name == "prompt-regression"
    assert manifest.counts.done == 4 and len(server.chat_requests) == 4


def test_a_file_of_that_name_wins_over_the_built_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "translation").write_text("name: [\n", encoding="utf-8")
    assert run_cli("validate", "translation") == 2


def test_an_unknown_name_says_what_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = run_subprocess("run", "transltion", "--out", "runs/x")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "transltion" in lines[0] and "did you mean 'translation'?" in lines[0]
    assert "evalkit suites" in lines[0]
    done = run_subprocess("validate", "nope.yaml")
    assert done.returncode == 2 and "nope.yaml" in done.stderr and "did you mean" not in done.stderr


def test_init_from_copies_a_suite_with_its_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", "--from", "translation") == 0
    assert "translation.yaml" in capsys.readouterr().out
    copied = tmp_path / "translation.yaml"
    assert copied.read_bytes() == (PACKAGE_SUITES / "translation.yaml").read_bytes()
    data = tmp_path / "data" / "translation.jsonl"
    assert data.read_bytes() == (PACKAGE_SUITES / "data" / "translation.jsonl").read_bytes()
    report = validate_suite(copied)
    assert report.ok and report.items == 704

    # Into another folder and name; existing files are never overwritten without --force.
    target = tmp_path / "mine" / "tr.yaml"
    assert run_cli("init", "--from", "quickstart", target) == 0
    assert validate_suite(target).ok and (tmp_path / "mine" / "data" / "translation.jsonl").is_file()
    (tmp_path / "mine" / "data" / "translation.jsonl").write_text("{}\n", encoding="utf-8")
    target.unlink()
    capsys.readouterr()
    assert run_cli("init", "--from", "quickstart", target) == 2
    assert "translation.jsonl already exists" in capsys.readouterr().err
    assert not target.exists()  # nothing written when one file is in the way
    assert run_cli("init", "--from", "quickstart", target, "--force") == 0
    assert validate_suite(target).ok


def test_init_from_an_unknown_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", "--from", "quickstrat") == 2
    assert "did you mean 'quickstart'?" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
