"""A run is never left ``running`` (issue #11 follow-up): whatever the number of stop signals, the manifest ends
``interrupted`` with the counts of what is on disk, and nothing already written is lost. Real ``python -m evalkit``
processes against the fake OpenAI server answering slowly, so the second signal lands while the first one's
shutdown is still waiting for the requests in flight."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.testing import FakeOpenAIServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CASES = 12
PLANNED = CASES * 2  # de, fr; one prompt variant


def _suite(tmp_path: Path, base_url: str) -> Path:
    cases = "".join(f"  - id: c{i}\n    source: sentence {i}\n    reference: {{de: Satz {i}, fr: phrase {i}}}\n"
                    for i in range(CASES))
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: signals\n"
        f"model: {{name: test-model, base_url: '{base_url}', params: {{temperature: 0, max_tokens: 16}}}}\n"
        "languages: [de, fr]\n"
        "prompts:\n  plain:\n    user: 'Translate into {{ language.name }}: {{ source }}'\n"
        f"cases:\n{cases}scorers: [chrf]\n", encoding="utf-8")
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


@pytest.mark.parametrize(("first", "second"), [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT),
                                               (signal.SIGINT, signal.SIGTERM)],
                         ids=["INT-INT", "TERM-INT", "INT-TERM"])
def test_a_second_signal_during_shutdown_leaves_the_manifest_interrupted(
        first: signal.Signals, second: signal.Signals, tmp_path: Path) -> None:
    with FakeOpenAIServer(latency=0.3) as fast:
        out = tmp_path / "run"
        suite = _suite(tmp_path, fast.base_url)
        env = {**os.environ, "EVALKIT_CACHE_DIR": str(tmp_path / "cache")}
        proc = subprocess.Popen([sys.executable, "-m", "evalkit", "run", suite, "--out", out, "--concurrency", "3",
                                 "--no-report", "--no-cache"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while len(_lines(out / "results.jsonl")) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        # From now on every request hangs: the first signal's shutdown waits for the ones in flight.
        fast.latency = 30.0
        time.sleep(0.5)  # the requests in flight now include slow ones
        before = _lines(out / "results.jsonl")
        proc.send_signal(first)
        time.sleep(0.2)
        assert proc.poll() is None, "the first signal must wait for the requests in flight"
        proc.send_signal(second)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    lines = _lines(out / "results.jsonl")
    assert manifest["status"] == "interrupted", manifest["status"]
    assert manifest["finished_at"] is not None
    assert before == lines[:len(before)], "a line already written was lost"
    assert all(raw.endswith(b"\n") for raw in lines)
    counts = manifest["counts"]
    assert counts["planned"] == PLANNED and counts["done"] == len(lines) >= 2
    assert counts["missing"] == PLANNED - len(lines) and counts["duplicates"] == 0
