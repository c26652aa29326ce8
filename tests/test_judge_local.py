"""The judge mechanism with a real model's free-form output: the embedded SmolLM2 judges the fake server's
answers (weak, but real). Every item ends as a score in [0, 1] or a classified ``judge_unparsable`` error,
never anything else, and a re-run asks the judge nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import needs_model, run_cli, translator, write_suite

from evalkit.providers import Request
from evalkit.testing import FakeOpenAIServer

SUITE = """\
name: local-judge
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32}}
languages: [de]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: Guten Morgen
  - id: c2
    source: Thank you very much
    reference: Vielen Dank
scorers:
  - judge: {{model: "local:smollm2", rubric: correctness, scale: binary, max_tokens: 32}}
"""


@pytest.mark.local_model
@needs_model
def test_the_embedded_model_judges_every_item_into_a_score_or_a_classified_error(
        tmp_path: Path, call_counter: list[Request]) -> None:
    calls = call_counter  # the embedded judge's requests (conftest.py)
    with FakeOpenAIServer(translator) as server:
        suite = write_suite(tmp_path, server.base_url, SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "a", "--max-error-rate", "1") in (0, 3)
        assert len(calls) == 2
        assert all("German" in c.messages[0]["content"] for c in calls)  # the judge is told the target language
        assert run_cli("run", suite, "--out", tmp_path / "b", "--max-error-rate", "1") in (0, 3)
    rows = [json.loads(line) for line in (tmp_path / "a" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2
    for row in rows:
        value = (row.get("scores") or {}).get("judge_correctness")
        if row.get("error"):
            assert row["error"]["kind"] == "judge_unparsable" and value is None
        else:
            assert value in (0.0, 1.0)
            assert row["details"]["judge_correctness"]["judge_usage"]["completion_tokens"] > 0
    # Parsed verdicts and the unparsable rate are what this weak judge produced (printed for the record).
    print({r["item_id"]: (r.get("scores") or {}).get("judge_correctness", r.get("error", {}).get("kind"))
           for r in rows})
    # The re-run: verdicts that parsed come from the score cache, replies that did not from the response
    # cache (re-read, not re-asked).
    assert len(calls) == 2
