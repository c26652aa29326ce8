"""A re-run answered from the cache, killed (SIGKILL) or stopped (SIGINT) while it writes cache hits, then
resumed: every item ends up in ``results.jsonl`` exactly once, with the first run's results, and no
finished line is lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from evalkit.results import read_manifest
from evalkit.testing import FakeOpenAIServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CASES = 400
LANGS = ["de", "fr", "es"]
PLANNED = CASES * len(LANGS)


def _write_suite(tmp_path: Path, base_url: str) -> Path:
    with (tmp_path / "cases.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(CASES):
            fh.write(json.dumps({"id": f"c{i}", "source": f"sentence number {i}", "reference": f"Satz {i}"}) + "\n")
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: cached-interrupt\n"
        f"model: {{name: test-model, base_url: '{base_url}', params: {{temperature: 0, max_tokens: 32}},"
        " concurrency: 32}\n"
        f"languages: [{', '.join(LANGS)}]\n"
        "prompts:\n"
        "  plain: {user: 'Translate into {{ language.name }}: {{ source }}'}\n"
        "cases: {file: cases.jsonl}\n"
        "scorers: [exact_match]\n",
        encoding="utf-8",
    )
    return path


def _evalkit(*args: str | Path, cache_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "EVALKIT_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen([sys.executable, "-m", "evalkit", *[str(a) for a in args]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _raw_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while len(_raw_lines(path)) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def _by_item(path: Path) -> dict[str, dict[str, Any]]:
    lines = [json.loads(raw) for raw in _raw_lines(path)]
    by_id = {line["item_id"]: line for line in lines}
    assert len(by_id) == len(lines), "an item was written twice"
    return by_id


def _same_results(run: Path, first: dict[str, dict[str, Any]]) -> None:
    again = _by_item(run / "results.jsonl")
    assert again.keys() == first.keys()
    for item_id, line in again.items():
        assert {k: v for k, v in line.items() if k not in ("cached", "attempts")} == {
            k: v for k, v in first[item_id].items() if k not in ("cached", "attempts")}


@pytest.fixture
def warm(tmp_path: Path) -> Any:
    """A suite whose responses and scores are all in the cache, and the first run's results by item."""
    with FakeOpenAIServer() as srv:
        suite = _write_suite(tmp_path, srv.base_url)
        cache = tmp_path / "cache"
        proc = _evalkit("run", suite, "--out", tmp_path / "first", "--no-report", cache_dir=cache)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        yield suite, cache, _by_item(tmp_path / "first" / "results.jsonl"), srv


def test_sigkill_while_writing_cache_hits_then_resume(tmp_path: Path, warm: Any) -> None:
    suite, cache, first, srv = warm
    rng = random.Random(20261127)
    out = tmp_path / "again"
    args = ("run", suite, "--out", out, "--no-report")
    kept: set[bytes] = set()
    for _ in range(3):
        proc = _evalkit(*args, cache_dir=cache)
        _wait_for_lines(out / "results.jsonl", len(kept) + 1, proc)
        time.sleep(rng.uniform(0.0, 0.03))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        complete = {raw for raw in _raw_lines(out / "results.jsonl") if raw.endswith(b"\n")}
        assert kept <= complete, "a finished line was lost"
        kept = complete
    srv.reset()
    proc = _evalkit(*args, cache_dir=cache)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert len(srv.chat_requests) == 0  # everything came from the cache
    assert kept <= set(_raw_lines(out / "results.jsonl"))
    _same_results(out, first)
    assert read_manifest(out).counts.done == PLANNED


def test_sigint_while_writing_cache_hits_stops_cleanly_then_resume(tmp_path: Path, warm: Any) -> None:
    suite, cache, first, _ = warm
    out = tmp_path / "again"
    # One worker: it goes back to the event loop after every batch of hits, where the signal is seen.
    args = ("run", suite, "--out", out, "--no-report", "--concurrency", "1")
    proc = _evalkit(*args, cache_dir=cache)
    _wait_for_lines(out / "results.jsonl", 1, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert proc.returncode in (0, 130), stderr  # 0: every hit was written before the signal arrived
    assert all(raw.endswith(b"\n") for raw in _raw_lines(out / "results.jsonl"))
    status = read_manifest(out).status
    assert status == ("interrupted" if proc.returncode == 130 else "complete")
    proc = _evalkit(*args, cache_dir=cache)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    _same_results(out, first)
    assert read_manifest(out).status == "complete"
