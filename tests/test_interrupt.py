"""Crashes and interruptions, with real processes: ``python -m evalkit run`` killed (SIGKILL) at seeded
random moments, or stopped (SIGINT / SIGTERM), then re-run. Every planned item ends up in
``results.jsonl`` exactly once, nothing finished is lost, and the response cache stays consistent."""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.results import iter_results, read_manifest
from evalkit.testing import FakeOpenAIServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CASES = 20
LANGS = ["de", "fr", "es"]
PLANNED = CASES * len(LANGS) * 2  # two prompt variants


def _write_suite(tmp_path: Path, base_url: str) -> Path:
    cases = "".join(
        f"  - id: c{i}\n    source: sentence number {i}\n"
        f"    reference: {{de: Satz {i}, fr: phrase {i}, es: frase {i}}}\n"
        for i in range(CASES)
    )
    text = (
        "name: interrupt-test\n"
        f"model: {{name: test-model, base_url: '{base_url}', params: {{temperature: 0, max_tokens: 32}}}}\n"
        f"languages: [{', '.join(LANGS)}]\n"
        "prompts:\n"
        "  plain:\n"
        "    user: 'Translate into {{ language.name }}: {{ source }}'\n"
        "  polite:\n"
        "    system: You are a translator.\n"
        "    user: 'Please translate into {{ language.name }}: {{ source }}'\n"
        f"cases:\n{cases}"
        "scorers: [chrf, exact_match]\n"
    )
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _evalkit(*args: str | Path, cache_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "EVALKIT_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit", *[str(a) for a in args]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.fixture
def server_process() -> Iterator[str]:
    """The fake server as a separate process, as a user would start it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit.testing.server", "--port", "0", "--latency", "0.05"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(10)


def _result_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def _complete_lines(path: Path) -> set[bytes]:
    """Lines that were completely written (a torn last line is not one)."""
    out = set()
    for raw in _result_lines(path):
        if raw.endswith(b"\n"):
            json.loads(raw)
            out.add(raw.rstrip(b"\n"))
    return out


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while len(_result_lines(path)) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def _check_exactly_once(out: Path) -> list[Any]:
    results = list(iter_results(out / "results.jsonl"))
    ids = [r.item_id for r in results]
    assert len(ids) == len(set(ids)) == PLANNED
    assert all(r.error is None and r.output is not None for r in results)
    manifest = read_manifest(out)
    assert manifest.status == "complete" and manifest.counts.done == PLANNED
    return results


def test_sigkill_at_random_moments_then_rerun(tmp_path: Path, server_process: str) -> None:
    rng = random.Random(20261127)
    suite = _write_suite(tmp_path, server_process)
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = ("run", suite, "--out", out, "--concurrency", "4", "--no-report")
    seen: set[bytes] = set()
    kills = 0
    for round_ in range(4):
        before = len(seen)
        proc = _evalkit(*args, cache_dir=cache)
        # Kill after a random number of new results has appeared (0: while it is still starting up).
        _wait_for_lines(out / "results.jsonl", before + rng.randrange(0, (PLANNED - before) // 2), proc)
        time.sleep(rng.uniform(0.0, 0.1))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
        lines = _complete_lines(out / "results.jsonl")
        assert seen <= lines, "a finished line was lost"
        seen = lines
        if round_ == 1 and (out / "results.jsonl").exists():
            # A crash in the middle of a write: a torn last line (no newline, invalid JSON).
            with (out / "results.jsonl").open("ab") as handle:
                handle.write(b'{"v": 1, "item_id": "torn", "case_id": "c1", "lang')
    assert kills >= 2
    proc = _evalkit(*args, cache_dir=cache)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    _check_exactly_once(out)
    final = _complete_lines(out / "results.jsonl")
    assert seen <= final
    assert b"torn" not in (out / "results.jsonl").read_bytes()
    with sqlite3.connect(cache / "responses.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == PLANNED


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_finishes_in_flight_items_and_resumes(sig: signal.Signals, tmp_path: Path) -> None:
    with FakeOpenAIServer(latency=0.1) as srv:
        suite = _write_suite(tmp_path, srv.base_url)
        out, cache = tmp_path / "run", tmp_path / "cache"
        proc = _evalkit("run", suite, "--out", out, "--concurrency", "4", "--no-cache", "--no-report",
                        cache_dir=cache)
        _wait_for_lines(out / "results.jsonl", 8, proc)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        manifest = read_manifest(out)
        assert manifest.status == "interrupted"
        lines = _result_lines(out / "results.jsonl")
        assert all(raw.endswith(b"\n") for raw in lines)  # in-flight items were written completely
        assert 8 <= len(lines) < PLANNED
        # Every request that was sent got its answer written: nothing in flight was dropped.
        assert len(srv.chat_requests) == len(lines) == manifest.counts.done
        match = re.search(r"resume with: (.+)", stderr)
        assert match, stderr
        resume = shlex.split(match.group(1))
        assert resume[:2] == ["evalkit", "run"]
        proc = _evalkit(*resume[1:], cache_dir=cache)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        _check_exactly_once(out)
        assert len(srv.chat_requests) == PLANNED  # nothing was asked twice


def test_second_signal_exits_at_once_and_rerun_completes(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency=0.5) as srv:
        suite = _write_suite(tmp_path, srv.base_url)
        out, cache = tmp_path / "run", tmp_path / "cache"
        args = ("run", suite, "--out", out, "--concurrency", "2", "--no-report")
        proc = _evalkit(*args, cache_dir=cache)
        _wait_for_lines(out / "results.jsonl", 2, proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert proc.returncode == 130
        srv.latency = 0.0
        proc = _evalkit(*args, cache_dir=cache)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        _check_exactly_once(out)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_scoring_worker_mode_loses_nothing_and_leaves_no_orphan(sig: signal.Signals, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Large runs score in a worker process while requests continue: an interrupted run must still
    # keep every finished line, the worker must not outlive a killed runner (it would hold the
    # runner's output pipes open), and the re-run completes every item exactly once.
    monkeypatch.setenv("EVALKIT_SCORING_WORKERS", "1")
    with FakeOpenAIServer(latency=0.05) as srv:
        suite = _write_suite(tmp_path, srv.base_url)
        out, cache = tmp_path / "run", tmp_path / "cache"
        args = ("run", suite, "--out", out, "--concurrency", "4", "--no-report")
        proc = _evalkit(*args, cache_dir=cache)
        _wait_for_lines(out / "results.jsonl", 6, proc)
        proc.send_signal(sig)
        proc.communicate(timeout=30)  # would hang while an orphaned worker keeps the pipes open
        before = _complete_lines(out / "results.jsonl")
        proc = _evalkit(*args, cache_dir=cache)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        _check_exactly_once(out)
        assert before <= _complete_lines(out / "results.jsonl")
