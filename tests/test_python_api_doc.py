"""docs/python-api.md: its example runs as written (a suite against the test server, twice, then compare and
gate), and every name it promises is in ``evalkit.__all__``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import evalkit

DOC = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_example_runs_compares_and_gates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "python_api_doc"}
    exec(compile(_blocks()[0], str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    base, cand, comparison, gate = (namespace[k] for k in ("base", "cand", "comparison", "gate"))
    assert isinstance(base, evalkit.RunOutcome) and isinstance(cand, evalkit.RunOutcome)
    assert base.manifest.counts.done == cand.manifest.counts.done == 6
    assert base.manifest.counts.failed == 0
    assert comparison.cand_label and comparison.summary_lines()  # type: ignore[attr-defined]
    assert gate.passed is False  # type: ignore[attr-defined]
    assert "FAIL de exact_match" in out  # the candidate answers German wrongly: the doc says so
    assert "de" in out and "fr" in out


def test_every_name_the_doc_lists_is_public() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = re.findall(r"^\| `([A-Za-z_]+)`", text, re.M)
    assert table, "the doc lists the public names in a table"
    assert set(table) == set(evalkit.__all__) - {"__version__"}
    assert "__all__" in text and "tests/test_exported_members.py" in text


def test_public_names_are_not_shadowed_by_subpackages() -> None:
    # Importing a subpackage binds its name on ``evalkit``: one called like a public function (``evalkit.run``)
    # would replace the function for every later call. Resolve every name, then look again.
    import types

    first = {name: getattr(evalkit, name) for name in evalkit.__all__}
    for name, value in first.items():
        again = getattr(evalkit, name)
        assert again is value and not isinstance(again, types.ModuleType), name
