"""A suite reads only what lies in its own folder (issue #12 item 2): ``cases.dataset.path`` and a
``local:`` model path are confined like ``cases.file``; hub ids only when they are hub ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

ROW = {"id": "a", "source": "Good morning", "reference": "Guten Morgen"}

DATASET_SUITE = """\
name: confined
model: {{name: m, base_url: "http://127.0.0.1:9/v1"}}
languages: [de]
prompts: {{p: {{user: "Translate: {{{{ source }}}}"}}}}
cases: {{dataset: {{path: "{path}"{extra}}}}}
scorers: [chrf]
"""


def _dataset_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(json.dumps(ROW) + "\n", encoding="utf-8")
    return folder


def _suite(folder: Path, path: str, extra: str = "", text: str = DATASET_SUITE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / "suite.yaml"
    suite.write_text(text.format(path=path, extra=extra), encoding="utf-8")
    return suite


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("path", "says"), [
    ("private", "is neither a folder next to the suite"),  # a folder of the current directory
    ("../../private", "leaves the suite's folder; pass --allow-outside-paths"),
    ("./../../private", "leaves the suite's folder"),
    ("ci/private", "looks like a hub id but is a path in the current directory"),
    ("pandas", "is neither a folder next to the suite"),  # unpickles its data files
])
def test_dataset_path_cannot_reach_the_working_directory(path: str, says: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # The working directory (the repository root in CI) and above it: data the suite must not read.
    cwd = tmp_path / "repo" / "sub"
    _dataset_folder(cwd / "private")
    _dataset_folder(cwd / "ci" / "private")
    _dataset_folder(tmp_path / "private")  # ../../private from the working directory
    monkeypatch.chdir(cwd)
    suite = _suite(tmp_path / "pr" / "a" / "suites", path)  # ../../private does not exist from here
    assert run_cli("validate", suite) == 2
    line = _one_line(capsys.readouterr().err)
    assert says in line and "cases.dataset" in line, line
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-cache") == 2
    assert says in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_outside_dataset_allowed_by_the_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _dataset_folder(tmp_path / "shared")
    suite = _suite(tmp_path / "pr" / "suites", "../../shared")
    assert run_cli("validate", suite) == 2
    capsys.readouterr()
    assert run_cli("validate", suite, "--allow-outside-paths") == 0
    assert "ok (1 case, 1 item)" in capsys.readouterr().out


def test_dataset_folder_next_to_the_suite_and_builders_still_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "suites"
    _dataset_folder(folder / "data")
    assert run_cli("validate", _suite(folder, "data")) == 0
    assert run_cli("validate", _suite(folder, "json", ", data_files: data/train.jsonl")) == 0
    assert run_cli("validate", _suite(folder, "json", ", data_files: ../elsewhere.jsonl")) == 2
    assert "leaves the suite's folder" in capsys.readouterr().err


def test_data_files_pattern_cannot_match_a_symlink_outside(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    secret = _dataset_folder(tmp_path / "secret")
    folder = tmp_path / "pr" / "suites"
    data = _dataset_folder(folder / "data")
    (data / "more.jsonl").symlink_to(secret / "train.jsonl")
    assert run_cli("validate", _suite(folder, "json", ", data_files: data/*.jsonl")) == 2
    line = _one_line(capsys.readouterr().err)
    assert "more.jsonl" in line and "leaves the suite's folder" in line
    (data / "more.jsonl").unlink()
    assert run_cli("validate", _suite(folder, "json", ", data_files: data/*.jsonl")) == 0


@pytest.mark.parametrize("how", ["card_dotdot", "card_absolute", "symlink", "state_json"])
def test_dataset_folder_cannot_point_outside(how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = _dataset_folder(tmp_path / "secret")
    folder = tmp_path / "pr" / "suites"
    data = _dataset_folder(folder / "data")
    if how == "card_dotdot":  # datasets reads what the dataset card's configs say
        (data / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n"
                                        "  - split: train\n    path: ../../../secret/*.jsonl\n---\n")
    elif how == "card_absolute":
        (data / "README.md").write_text(f"---\nconfigs:\n- config_name: default\n  data_files: {secret}/*.jsonl\n"
                                        "---\n# A dataset\n")
    elif how == "symlink":
        (data / "more.jsonl").symlink_to(secret / "train.jsonl")
    else:
        import datasets

        datasets.Dataset.from_list([ROW]).save_to_disk(str(secret / "saved"))
        datasets.Dataset.from_list([ROW]).save_to_disk(str(data / "saved"))
        state = json.loads((data / "saved" / "state.json").read_text())
        arrow = state["_data_files"][0]["filename"]
        state["_data_files"][0]["filename"] = f"../../../../secret/saved/{arrow}"
        (data / "saved" / "state.json").write_text(json.dumps(state))
        (data / "saved" / arrow).unlink()
        data = data / "saved"
    suite = _suite(folder, str(data.relative_to(folder)))
    capsys.readouterr()
    assert run_cli("validate", suite) == 2
    line = _one_line(capsys.readouterr().err)
    assert "cases.dataset" in line and "--allow-outside-paths" in line and ("leaves" in line or "outside" in line)


def test_dataset_folder_splits_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "suites"
    data = _dataset_folder(folder / "data")
    (data / "test.jsonl").write_text(json.dumps({**ROW, "id": "t1"}) + "\n" + json.dumps({**ROW, "id": "t2"}) + "\n")
    (data / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n"
                                    "  - {split: test, path: test.jsonl}\n---\n# A dataset\n")
    assert run_cli("validate", _suite(folder, "data", ", split: test")) == 0
    assert "ok (2 cases" in capsys.readouterr().out


# --- local: model paths ---------------------------------------------------------------------------

LOCAL_SUITE = """\
name: local-path
model: {{name: "local:{path}"{extra}}}
languages: [de]
prompts: {{p: {{user: "Translate: {{{{ source }}}}"}}}}
cases: [{{id: c1, source: Good morning, reference: Guten Morgen}}]
scorers: [chrf]
"""


def _not_a_model(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)  # passes the magic check, then fails to load
    return path


@pytest.mark.parametrize("how", ["absolute", "dotdot", "home", "etc_passwd"])
def test_suite_model_path_is_confined(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    outside = _not_a_model(tmp_path / "home" / "models" / "m.gguf")
    path = {"absolute": str(outside), "dotdot": "../../home/models/m.gguf", "home": "~/models/m.gguf",
            "etc_passwd": "/etc/passwd"}[how]
    suite = _suite(tmp_path / "pr" / "suites", path, text=LOCAL_SUITE)
    assert run_cli("validate", suite) == 2
    line = _one_line(capsys.readouterr().err)
    assert "model.name: local model path" in line and "leaves the suite's folder" in line, line
    assert "--allow-outside-paths" in line
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-cache") == 2
    assert "leaves the suite's folder" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()
    # Allowed: the path is then what the suite says (and fails for what it is, not where it is).
    assert run_cli("validate", suite, "--allow-outside-paths") == 0


def test_model_path_named_by_the_user_is_not_confined(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = _not_a_model(tmp_path / "models" / "m.gguf")
    suite = _suite(tmp_path / "pr" / "suites", "smollm2", text=LOCAL_SUITE)
    run_cli("run", suite, "--out", tmp_path / "run", "--no-cache", "--model", f"local:{outside}")
    err = capsys.readouterr().err
    assert "leaves the suite's folder" not in err and str(outside) in err  # refused for not being a model


def test_relative_model_path_is_relative_to_the_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "suites"
    inside = _not_a_model(folder / "models" / "m.gguf")
    suite = _suite(folder, "models/m.gguf", text=LOCAL_SUITE)
    assert run_cli("validate", suite) == 0
    capsys.readouterr()
    run_cli("run", suite, "--out", tmp_path / "run", "--no-cache")
    err = capsys.readouterr().err
    assert "not found" not in err and "leaves" not in err, err
    assert str(inside) in err or "not installed" in err, err
