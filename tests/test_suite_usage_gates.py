"""A suite's own ``gates:`` may hold the usage thresholds docs/gates.md lists (tokens_per_item, truncation_rate,
latency_p95_ms...): ``evalkit validate`` and ``evalkit run`` accept them as ``evalkit gate`` does from a gates file."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli

from evalkit.testing import FakeOpenAIServer

SUITE = """\
name: usage-gates
model: {{name: m, base_url: "{base_url}"}}
languages: [de]
prompts:
  plain: {{user: "{{{{ source }}}}"}}
cases:
  - {{id: a, source: hi, reference: {{de: hallo}}}}
scorers: [chrf]
gates:
  min_items: 1
  thresholds:
    chrf: {{min: 0}}
    tokens_per_item: {{max: {tokens}}}
    truncation_rate: {{max: 50}}
"""


def _suite(tmp_path: Path, base_url: str, tokens: int) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(base_url=base_url, tokens=tokens), encoding="utf-8")
    return path


def test_validate_accepts_usage_thresholds_in_the_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("validate", _suite(tmp_path, "http://127.0.0.1:9/v1", 1000)) == 0, capsys.readouterr().err


@pytest.mark.parametrize(("tokens", "code"), [(1000, 0), (1, 1)])
def test_run_gates_on_usage_thresholds_of_the_suite(tmp_path: Path, server: FakeOpenAIServer, tokens: int,
                                                     code: int, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, server.base_url, tokens)
    assert run_cli("run", suite, "--out", tmp_path / "r", "--no-report") == 0
    assert run_cli("gate", tmp_path / "r") == code  # the gates of the run's suite
    err = capsys.readouterr()
    assert "unknown metric" not in err.out + err.err
    if code:
        assert "tokens_per_item" in err.out + err.err
