"""A gates file keyed in one spelling of a language applies to a run in another (``de`` rules for a ``deu_Latn``
run, and back): the gate matches codes as the rest of evalkit does (``evalkit.languages.canonical_code``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli

from evalkit.testing import FakeOpenAIServer

SUITE = """\
name: spellings
model: {{name: m, base_url: "{base_url}"}}
languages: [{language}]
prompts:
  plain: {{user: "{{{{ source }}}}"}}
cases:
  - {{id: a, source: hi, reference: {{de: hallo}}}}
scorers: [chrf]
"""

GATES = """\
gates:
  min_items: 1
  thresholds:
    chrf:
      min: 0
      languages:
        {gate_language}: {{min: 101}}
"""


@pytest.mark.parametrize(("language", "gate_language"), [("deu_Latn", "de"), ("de", "deu_Latn"), ("de", "DE")])
def test_a_language_rule_in_another_spelling_applies(tmp_path: Path, server: FakeOpenAIServer, language: str,
                                                     gate_language: str, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(base_url=server.base_url, language=language), encoding="utf-8")
    gates = tmp_path / "gates.yaml"
    gates.write_text(GATES.format(gate_language=gate_language), encoding="utf-8")
    assert run_cli("run", suite, "--out", tmp_path / "r", "--no-report") == 0
    capsys.readouterr()
    assert run_cli("gate", tmp_path / "r", "--gates", gates) == 1  # the language's min of 101 applied
    out = capsys.readouterr()
    assert "its rules do nothing" not in out.out + out.err
    assert "FAIL" in out.out + out.err
