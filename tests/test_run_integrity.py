"""Run-directory integrity (issue #11): one process per run directory, ``complete`` only when every planned
item has exactly one line, and a resume that adopts only the lines that belong to it (the rest quarantined)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, run_subprocess, translator, write_suite

from evalkit.results import read_manifest, read_summary
from evalkit.testing import FakeOpenAIServer

PLANNED = 18  # helpers.SUITE: 3 cases x 3 languages x 2 prompt variants
QUARANTINE = "results.quarantine.jsonl"
LOCK = ".evalkit.lock"

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")


def _evalkit(*args: str | Path, cache_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "EVALKIT_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen([sys.executable, "-m", "evalkit", *[str(a) for a in args]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.02)


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def _check_complete(out: Path, planned: int = PLANNED) -> list[dict[str, Any]]:
    lines = _lines(out)
    ids = [line["item_id"] for line in lines]
    assert len(ids) == len(set(ids)) == planned
    manifest = read_manifest(out)
    assert manifest.status == "complete"
    assert (manifest.counts.planned, manifest.counts.done) == (planned, planned)
    assert (manifest.counts.missing, manifest.counts.duplicates, manifest.counts.unplanned) == (0, 0, 0)
    return lines


# --- 1. one process per run directory ---------------------------------------------------------------------------

@posix_only
def test_second_run_into_a_busy_directory_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with FakeOpenAIServer(translator, latency=0.25) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "run"
        first = _evalkit("run", suite, "--out", out, "--concurrency", "2", "--no-report", cache_dir=cache)
        try:
            _wait_for_lines(out / "results.jsonl", 2, first)
            first.send_signal(signal.SIGSTOP)  # frozen mid-run, holding the directory, until the second is done
            assert first.poll() is None, first.communicate()
            files = {p.name: (p.stat().st_ino, p.read_bytes()) for p in out.iterdir()}
            second = run_subprocess("run", suite, "--out", out, "--no-report", env={"EVALKIT_CACHE_DIR": str(cache)})
            # Still the first run's files: not replaced, not rewritten.
            assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in out.iterdir()} == files
            first.send_signal(signal.SIGCONT)
            assert first.wait(60) == 0, first.communicate()
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    assert second.returncode == 2, second.stderr
    message = second.stderr.strip().splitlines()
    assert len(message) == 1, second.stderr
    assert str(out) in message[0] and f"pid {first.pid}" in message[0]
    assert "Traceback" not in second.stderr
    _check_complete(out)


@posix_only
def test_killed_holder_leaves_no_lock_behind_and_resume_completes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with FakeOpenAIServer(translator, latency=0.2) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "run"
        first = _evalkit("run", suite, "--out", out, "--concurrency", "2", "--no-report", cache_dir=cache)
        _wait_for_lines(out / "results.jsonl", 3, first)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert read_manifest(out).status == "running"
        again = run_subprocess("run", suite, "--out", out, "--no-report", env={"EVALKIT_CACHE_DIR": str(cache)})
    assert again.returncode == 0, again.stderr
    _check_complete(out)


def test_a_symlink_in_place_of_the_lock_file_is_refused_not_followed(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    (out / LOCK).symlink_to(victim)
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--no-report") == 2
        assert srv.count == 0
    assert victim.read_text(encoding="utf-8") == "precious"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and LOCK in err[0]


@pytest.mark.parametrize("planted", ["results.jsonl.tmp", "manifest.json.tmp", QUARANTINE])
def test_resume_writes_through_no_planted_symlink(tmp_path: Path, planted: str) -> None:
    out = tmp_path / "run"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--no-report") == 0
        with (out / "results.jsonl").open("ab") as handle:
            handle.write(b"garbage\n")  # the resume rewrites results.jsonl and writes the quarantine
        (out / planted).symlink_to(victim)
        code = run_cli("run", suite, "--out", out, "--no-report")
    assert victim.read_text(encoding="utf-8") == "precious"
    if planted == QUARANTINE:
        assert code == 2  # refused: the quarantine file would be a link elsewhere
    else:
        assert code == 0
        _check_complete(out)


# --- 2. complete means complete ---------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["replaced", "duplicated"])
def test_lines_lost_or_doubled_during_a_run_make_it_incomplete(tmp_path: Path, damage: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Something outside the run (a user, another tool) replaces or appends to results.jsonl while it runs: the
    run must not call itself complete."""
    out = tmp_path / "run"
    results = out / "results.jsonl"
    calls = itertools.count()

    def vandal(request: dict[str, Any]) -> str:
        if next(calls) == 9:
            lines = results.read_bytes().splitlines(keepends=True)
            if damage == "replaced":  # what a concurrent resume's clean-up used to do: the writer loses its file
                tmp = results.with_name("other.tmp")
                tmp.write_bytes(b"".join(lines[:3]))
                os.replace(tmp, results)
            else:
                with results.open("ab") as handle:
                    handle.write(lines[0])
        return translator(request)

    with FakeOpenAIServer(vandal) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        code = run_cli("run", suite, "--out", out, "--concurrency", "1", "--no-cache", "--no-report")
        manifest = read_manifest(out)
        err = capsys.readouterr().err
        srv.set_responder(translator)
        # The same command finishes it: every item once.
        assert run_cli("run", suite, "--out", out, "--no-report") == 0
    _check_complete(out)
    assert code == 3
    assert manifest.status == "incomplete"
    assert ("3 of 18 planned items" if damage == "replaced" else "duplicate") in str(manifest.abort_reason)
    assert "incomplete" in err
    c = manifest.counts
    assert c.planned == PLANNED
    if damage == "replaced":
        assert c.missing == PLANNED - 3 and c.done == 3 and c.duplicates == 0
    else:
        assert c.missing == 0 and c.done == PLANNED + 1 and c.duplicates == 1


# --- 4. resume keeps only what belongs --------------------------------------------------------------------------

def test_lines_of_another_run_are_quarantined_not_adopted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, other = tmp_path / "run", tmp_path / "other"
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--no-report") == 0
        # The same cases (so the same item ids) from another suite: another model answering "Sorry".
        with FakeOpenAIServer(lambda request: "Sorry") as alien_srv:
            alien = write_suite(tmp_path, alien_srv.base_url, name="alien.yaml")
            assert run_cli("run", alien, "--out", other, "--model", "other-model", "--no-report") == 0
        foreign = (other / "results.jsonl").read_bytes()
        with (out / "results.jsonl").open("ab") as handle:
            handle.write(foreign)
        capsys.readouterr()
        srv.reset()
        assert run_cli("run", suite, "--out", out, "--no-report") == 0
        assert srv.count == 0
    lines = _check_complete(out)
    assert all(line["output"] != "Sorry" for line in lines)
    assert (out / QUARANTINE).read_bytes() == foreign
    assert read_manifest(out).counts.quarantined == PLANNED
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if QUARANTINE in line]
    assert len(notes) == 1 and f"{PLANNED} lines" in notes[0]
    assert all(c.n in (0, 3) for c in read_summary(out).cells)  # 3 cases per cell, not 6


@pytest.mark.parametrize("bad", [
    b'{"item_id": "ITEM", "case_id": 5}\n',  # valid JSON, not a result (used to send everything, then exit 2)
    b"garbage in the middle\n",  # used to refuse with "move the file away", throwing every result away
    b"[1, 2]\n",
])
def test_damaged_lines_are_quarantined_before_any_request(tmp_path: Path, bad: bytes,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--no-cache", "--no-report") == 0
        lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
        lost = json.loads(lines[4])["item_id"]
        bad = bad.replace(b"ITEM", lost.encode())
        (out / "results.jsonl").write_bytes(b"".join([*lines[:4], bad, *lines[5:]]))
        srv.reset()
        capsys.readouterr()
        assert run_cli("run", suite, "--out", out, "--no-cache", "--no-report") == 0
        assert srv.count == 1  # only the item whose line was damaged
    _check_complete(out)
    assert (out / QUARANTINE).read_bytes() == bad
    assert read_manifest(out).counts.quarantined == 1
    assert "line 5" in capsys.readouterr().err


@pytest.mark.parametrize("cut", [30, 1])
def test_torn_last_line_is_quarantined_or_adopted_when_only_its_newline_is_lost(tmp_path: Path, cut: int) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--no-cache", "--no-report") == 0
        whole = (out / "results.jsonl").read_bytes()
        (out / "results.jsonl").write_bytes(whole[:-cut])  # a crash in the middle of the last write
        srv.reset()
        assert run_cli("run", suite, "--out", out, "--no-cache", "--no-report") == 0
        assert srv.count == (1 if cut > 1 else 0)
    _check_complete(out)
    if cut > 1:
        last = whole.splitlines(keepends=True)[-1]
        assert (out / QUARANTINE).read_bytes() == last[:-cut] + b"\n"
    else:
        assert (out / "results.jsonl").read_bytes() == whole and not (out / QUARANTINE).exists()


def test_lost_manifest_does_not_let_another_model_adopt_the_answers(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--no-report") == 0
        first_key = read_manifest(out).run_key
        (out / "manifest.json").unlink()
        srv.reset()
        assert run_cli("run", suite, "--out", out, "--model", "other", "--no-report") == 0
        assert srv.count == PLANNED  # every item asked of the other model
    lines = _check_complete(out)
    manifest = read_manifest(out)
    assert manifest.model.name == "other" and manifest.run_key not in (None, first_key)
    assert {line["run_key"] for line in lines} == {manifest.run_key}
    assert read_manifest(out).counts.quarantined == PLANNED


def test_lines_without_a_run_key_are_adopted_when_the_manifest_vouches_for_them(tmp_path: Path) -> None:
    """Run directories written before lines carried their run key (and manifests their --limit) still resume."""
    out = tmp_path / "run"
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--limit", "2", "--no-report") == 0
        legacy = [{k: v for k, v in line.items() if k not in ("run_key", "seed")} for line in _lines(out)]
        (out / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in legacy[:-2]), encoding="utf-8")
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        del manifest["run_key"], manifest["limit"]
        (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        srv.reset()
        assert run_cli("run", suite, "--out", out, "--limit", "2", "--no-cache", "--no-report") == 0
        assert srv.count == 2
    _check_complete(out, planned=12)
    assert not (out / QUARANTINE).exists()


def test_changed_selection_on_resume_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", out, "--limit", "2", "--languages", "de,zh", "--no-report") == 0
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        capsys.readouterr()
        code = run_cli("run", suite, "--out", out, "--limit", "1", "--languages", "de", "--no-report")
        err = capsys.readouterr().err.strip().splitlines()
        assert srv.count == 8
        after = {p.name: p.read_bytes() for p in out.iterdir()}
        # The same selection resumes.
        assert run_cli("run", suite, "--out", out, "--limit", "2", "--languages", "de,zh", "--no-report") == 0
    assert code == 2
    assert len(err) == 1 and str(out) in err[0] and "--limit" in err[0] and "--languages" in err[0]
    assert {k: v for k, v in after.items() if k != LOCK} == {k: v for k, v in before.items() if k != LOCK}
    _check_complete(out, planned=8)
