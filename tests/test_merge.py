"""Sharded runs merged equal an unsharded run."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli, translator, write_suite

from evalkit.results import read_manifest, read_summary
from evalkit.testing import FakeOpenAIServer


def _sloppy(request: dict) -> str:
    # imperfect answers so that intervals are not degenerate
    text = request["messages"][-1]["content"]
    return translator(request) if "Good" in text else text.split(":")[-1] + " ok"


def test_shards_merge_to_the_unsharded_summary(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_responder(_sloppy)
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "full", "--no-report") == 0
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        assert run_cli("run", suite, "--out", out, "--shard", f"{k}/3", "--no-report") == 0
        shards.append(out)
        assert read_manifest(out).shard == f"{k}/3"
    sizes = [len((s / "results.jsonl").read_text(encoding="utf-8").splitlines()) for s in shards]
    assert sum(sizes) == 18 and all(sizes)
    assert run_cli("merge", *shards, "--out", tmp_path / "merged", "--no-report") == 0
    # usage aside: the shards were answered from the cache, so only the full run has latencies (issue #14)
    full = read_summary(tmp_path / "full").model_dump(exclude={"usage"})
    assert any(c["ci_low"] != c["ci_high"] for c in full["cells"])
    merged = read_summary(tmp_path / "merged").model_dump(exclude={"usage"})
    assert json.dumps(full, sort_keys=True) == json.dumps(merged, sort_keys=True)
    tokens = [[(c.prompt_tokens, c.completion_tokens, c.truncated) for c in read_summary(tmp_path / d).usage]
              for d in ("full", "merged")]
    assert tokens[0] == tokens[1] and tokens[0]
    m = read_manifest(tmp_path / "merged")
    assert m.counts.planned == m.counts.done == 18 and m.shard is None and m.status == "complete"


def test_merge_refuses_different_suites(tmp_path: Path, server: FakeOpenAIServer) -> None:
    a = write_suite(tmp_path, server.base_url, name="a.yaml")
    b = write_suite(tmp_path, server.base_url, name="b.yaml")
    b.write_text(b.read_text(encoding="utf-8").replace("max_tokens: 32", "max_tokens: 31"), encoding="utf-8")
    assert run_cli("run", a, "--out", tmp_path / "ra", "--no-report", "--limit", "1") == 0
    assert run_cli("run", b, "--out", tmp_path / "rb", "--no-report", "--limit", "1") == 0
    assert run_cli("merge", tmp_path / "ra", tmp_path / "rb", "--out", tmp_path / "m") == 2
