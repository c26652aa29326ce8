"""Exit codes are 0 ok, 1 gate failed, 2 bad input, 3 could not complete (130 when interrupted), and nothing
else: every documented failure path ends with one of them and ONE line on stderr naming the file or option
and the remedy, never a traceback. Paths that crashed with exit 4 ("internal error") are swept here: an
unwritable or broken run directory, an unusable cache, data that parses but is not text, SIGTERM during
start-up, and a bug (which exits 3 with a line saying how to see the traceback)."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, translator, write_suite

import evalkit.runner
import evalkit.validate
from evalkit.results import read_manifest
from evalkit.testing import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
BAD_INPUTS = ROOT / "tests" / "bad_inputs"
ALLOWED = {0, 1, 2, 3}
PROGRESS = " items  "  # the progress line ("12/18 items  0 failed  0 cached  40.0 items/s") is not an error line


def error_lines(stderr: str) -> list[str]:
    """stderr without progress lines: what an exit path says."""
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.strip() and PROGRESS not in line]


def one_line(stderr: str) -> str:
    lines = error_lines(stderr)
    assert len(lines) == 1, lines
    return lines[0]


# --- unprivileged subprocesses: permissions do not stop root, so tests running as root drop the capabilities ---------
# that override them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) from the bounding set and exec evalkit.

_DROP_AND_EXEC = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2, 3):
    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def unprivileged(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root: permissions cannot be tested without Linux capabilities")
    return [sys.executable, "-c", _DROP_AND_EXEC, *argv[1:]]


def run_unprivileged(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
                     timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = unprivileged([sys.executable, "-m", "evalkit", *[str(a) for a in args]])
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def read_only(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def check_unwritable(path: Path) -> None:
    """The test is meaningful only if the unprivileged process really cannot write there."""
    touch = subprocess.run(unprivileged([sys.executable, "-c", f"open({str(path / 'probe')!r}, 'w')"]),
                           capture_output=True, text=True, check=False)
    assert touch.returncode != 0 and "PermissionError" in touch.stderr, touch.stderr


# --- the run directory -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["out_is_read_only", "parent_is_read_only"])
def test_unwritable_out_exits_2_naming_out(where: str, tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    folder = tmp_path / "runs"
    folder.mkdir()
    out = folder / "pr" if where == "parent_is_read_only" else folder
    read_only(folder)
    check_unwritable(folder)
    proc = run_unprivileged("run", suite, "--out", out, "--no-report", cwd=tmp_path,
                            env={"EVALKIT_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert f"--out {out}" in line and "Permission denied" in line and "writable" in line, line
    assert not (out / "manifest.json").exists()
    assert len(server.chat_requests) == 0


def test_results_file_that_is_a_directory_exits_2(tmp_path: Path, server: FakeOpenAIServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    (out / "results.jsonl").mkdir(parents=True)
    code = run_cli("run", suite, "--out", out, "--no-report")
    line = one_line(capsys.readouterr().err)
    assert code == 2, line
    assert str(out / "results.jsonl") in line and "--out" in line, line
    assert not (out / "manifest.json").exists()


# --- the cache ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_file", [False, True], ids=["empty_folder", "folder_with_cache_file"])
def test_read_only_cache_folder_exits_2_and_leaves_no_running_manifest(
        with_file: bool, tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    cache = tmp_path / "cache"
    env = {"EVALKIT_CACHE_DIR": str(cache)}
    if with_file:
        first = run_unprivileged("run", suite, "--out", tmp_path / "first", "--no-report", cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
    else:
        cache.mkdir()
    read_only(cache)
    check_unwritable(cache)
    out = tmp_path / "run"
    proc = run_unprivileged("run", suite, "--out", out, "--no-report", cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert str(cache / "responses.sqlite") in line and "--no-cache" in line, line
    assert not (out / "manifest.json").exists() or read_manifest(out).status != "running"
    # The remedy it names works.
    again = run_unprivileged("run", suite, "--out", out, "--no-report", "--no-cache", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr


def test_cache_path_that_is_a_directory_exits_2(tmp_path: Path, server: FakeOpenAIServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    cache = tmp_path / "cache" / "responses.sqlite"  # the default cache file (EVALKIT_CACHE_DIR)
    cache.mkdir(parents=True)
    out = tmp_path / "run"
    code = run_cli("run", suite, "--out", out, "--no-report")
    line = one_line(capsys.readouterr().err)
    assert code == 2, line
    assert str(cache) in line and "--no-cache" in line and "directory" in line, line
    assert not (out / "manifest.json").exists()
    assert len(server.chat_requests) == 0
    assert cache.is_dir()  # not the user's file to move


# --- data files: parsed, but not usable text or numbers --------------------------------------------------------

DATA_SUITE = """\
name: data-test
model: {{name: test-model, base_url: '{base_url}', max_attempts: 1}}
languages: [de]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  file: cases.jsonl
scorers: [exact_match]
"""

GOOD = '{"id": "a", "source": "Good morning", "reference": {"de": "Guten Morgen"}}'
BAD_LINES = {
    "big_int_source": ('{"id": "b", "source": ' + "9" * 5000 + ', "reference": {"de": "x"}}', "source"),
    "big_int_id": ('{"id": ' + "1" * 4400 + ', "source": "Hello", "reference": {"de": "Hallo"}}', "id"),
    "surrogate_source": ('{"id": "b", "source": "half \\ud800 a pair", "reference": {"de": "x"}}', "source"),
    "surrogate_reference": ('{"id": "b", "source": "Hello", "reference": {"de": "Hal\\udc00lo"}}', "reference.de"),
    "surrogate_id": ('{"id": "b\\uD83D", "source": "Hello", "reference": {"de": "Hallo"}}', "id"),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_data_that_is_not_text_or_a_usable_number_exits_2(kind: str, command: str, tmp_path: Path,
                                                          server: FakeOpenAIServer,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, server.base_url, DATA_SUITE)
    bad, field = BAD_LINES[kind]
    (tmp_path / "cases.jsonl").write_text(f"{GOOD}\n{bad}\n", encoding="utf-8")
    args = ["--out", tmp_path / "run", "--no-report"] if command == "run" else []
    code = run_cli(command, suite.name, *args)
    line = one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.removeprefix("evalkit: error: ").startswith(f"cases.jsonl:2: {field}: "), line
    assert ("half a surrogate pair" if kind.startswith("surrogate") else "more than 4300 digits") in line, line
    assert len(line) < 400, line  # the 5,000 digits are not echoed
    assert len(server.chat_requests) == 0


INLINE_BIG_INT = """\
name: inline
model: {{name: test-model, base_url: '{base_url}', max_attempts: 1}}
languages: [de]
prompts: {{plain: {{user: "{{{{ source }}}}"}}}}
cases:
  - {{id: a, source: """ + "7" * 4400 + """, reference: {{de: x}}}}
scorers: [exact_match]
"""


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_inline_integer_too_long_to_convert_exits_2(command: str, tmp_path: Path, server: FakeOpenAIServer,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, server.base_url, INLINE_BIG_INT)
    args = ["--out", tmp_path / "run", "--no-report"] if command == "run" else []
    code = run_cli(command, suite.name, *args)
    line = one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.removeprefix("evalkit: error: ").startswith("suite.yaml:6:21: cases[0].source: a number has "), line
    assert len(line) < 400, line


# --- signals ----------------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and FIFOs")
@pytest.mark.parametrize("command", ["run", "validate"])
def test_sigterm_during_start_up_exits_130(command: str, tmp_path: Path) -> None:
    # The suite is a FIFO: evalkit blocks reading it, deep in its start-up, until the test lets it go.
    fifo = tmp_path / "suite.yaml"
    os.mkfifo(fifo)
    args = ["--out", str(tmp_path / "run")] if command == "run" else []
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", command, str(fifo), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None and time.monotonic() < deadline and proc.poll() is None:
            try:  # succeeds once evalkit has opened the suite for reading
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO
                time.sleep(0.01)
        assert writer is not None, "evalkit never opened the suite"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert one_line(stderr) == "evalkit: interrupted"


def test_the_cli_restores_signal_handlers_after_an_in_process_run(tmp_path: Path, server: FakeOpenAIServer,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # The CLI handles SIGTERM from its start; embedded in a program (or a test) it leaves the handlers as they were,
    # and a run leaves SIGTERM handled like SIGINT (not back at the default, which kills with 143).
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    seen: list[Any] = []
    real_run = evalkit.runner.run

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(signal.getsignal(signal.SIGTERM))
        outcome = real_run(*args, **kwargs)
        seen.append(signal.getsignal(signal.SIGTERM))
        return outcome

    suite = write_suite(tmp_path, server.base_url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evalkit.runner, "run", spy)
        assert run_cli("run", suite, "--out", tmp_path / "run", "--no-report") == 0
    assert seen[0] is seen[1] and seen[0] not in (signal.SIG_DFL, None, before[0])
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# --- bugs ------------------------------------------------------------------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a bug\nwith a second line")


def test_a_bug_exits_3_with_one_line_saying_how_to_see_the_traceback(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVALKIT_DEBUG", raising=False)
    monkeypatch.setattr(evalkit.validate, "validate_suite", _boom)
    code = run_cli("validate", tmp_path / "suite.yaml")
    line = one_line(capsys.readouterr().err)
    assert code == 3, line
    assert "internal error" in line and "please report" in line and "EVALKIT_DEBUG=1" in line, line
    assert "RuntimeError: a bug with a second line" in line, line
    monkeypatch.setenv("EVALKIT_DEBUG", "1")
    with pytest.raises(RuntimeError):
        run_cli("validate", tmp_path / "suite.yaml")


# --- the sweep: every documented failure path --------------------------------------------------------------------

GATED = """\
name: gated
model: {{name: test-model, base_url: '{base_url}', max_attempts: 1}}
languages: [de]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - {{id: c1, source: Good morning, reference: {{de: Guten Morgen}}}}
  - {{id: c2, source: Thank you very much, reference: {{de: Vielen Dank}}}}
scorers: [exact_match]
gates:
  min_items: 1
  thresholds:
    exact_match: {{min: 100}}
"""


def _sweep_case(name: str, tmp: Path, srv: FakeOpenAIServer) -> tuple[list[str | Path], int, str | None]:
    """The command line of a documented failure path, its exit code and a substring of its error line."""
    suite = write_suite(tmp, srv.base_url)
    out = tmp / "run"
    if name == "ok":
        return ["run", suite, "--out", out, "--no-report"], 0, None
    if name == "gate_failed":
        srv.set_responder(lambda request: "Guten Morgen")
        gated = write_suite(tmp, srv.base_url, GATED, "gated.yaml")
        assert run_cli("run", gated, "--out", out, "--no-report") == 0
        return ["gate", out], 1, None
    if name == "bad_suite":
        return ["validate", BAD_INPUTS / "unknown_language.yaml"], 2, "unknown_language.yaml:5:17: languages[1]"
    if name == "suite_not_found":
        return ["run", tmp / "missing.yaml", "--out", out], 2, "missing.yaml"
    if name == "unknown_option":
        return ["run", suite, "--out", out, "--frobnicate"], 2, "--frobnicate"
    if name == "bad_shard":
        return ["run", suite, "--out", out, "--shard", "5/4"], 2, "shard"
    if name == "out_is_a_file":
        (tmp / "file").write_text("x", encoding="utf-8")
        return ["run", suite, "--out", tmp / "file"], 2, "file"
    if name == "results_is_a_directory":
        (out / "results.jsonl").mkdir(parents=True)
        return ["run", suite, "--out", out], 2, "results.jsonl"
    if name == "cache_is_a_directory":
        (tmp / "c").mkdir()
        return ["run", suite, "--out", out, "--cache", tmp / "c"], 2, "--cache"
    if name == "unreadable_run_dir":
        return ["report", tmp / "nothing"], 2, "nothing"
    if name == "report_out_under_a_file":
        assert run_cli("run", suite, "--out", out, "--no-report") == 0
        (tmp / "file").write_text("x", encoding="utf-8")
        return ["report", out, "--out", tmp / "file" / "r.html"], 2, f"--out {tmp / 'file' / 'r.html'}"
    if name == "endpoint_unreachable":
        dead = write_suite(tmp, "http://127.0.0.1:9/v1", name="dead.yaml")
        return ["run", dead, "--out", out, "--max-attempts", "1"], 3, "failed"
    if name == "auth_refused":
        srv.api_key = "right"
        return ["run", suite, "--out", out], 3, "AIMLAPI_API_KEY"
    raise AssertionError(name)


SWEEP = ["ok", "gate_failed", "bad_suite", "suite_not_found", "unknown_option", "bad_shard", "out_is_a_file",
         "results_is_a_directory", "cache_is_a_directory", "unreadable_run_dir", "report_out_under_a_file",
         "endpoint_unreachable", "auth_refused"]


@pytest.mark.parametrize("name", SWEEP)
def test_every_documented_failure_path_exits_0_to_3_with_one_line(name: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(translator) as srv:
        args, expected, says = _sweep_case(name, tmp_path, srv)
        capsys.readouterr()
        code = run_cli(*args)
    err = capsys.readouterr().err
    assert code in ALLOWED and code == expected, (code, err)
    if code >= 2:
        line = one_line(err)
        assert says is None or says in line, line
    else:
        assert "Traceback" not in err


def test_sweep_as_a_subprocess_never_exits_4(tmp_path: Path) -> None:
    # The console entry point, not only main(): the same exit codes reach the shell.
    with FakeOpenAIServer(translator) as srv:
        for name in ("results_is_a_directory", "cache_is_a_directory"):
            case = tmp_path / name
            case.mkdir()
            args, expected, says = _sweep_case(name, case, srv)
            proc = subprocess.run([sys.executable, "-m", "evalkit", *map(str, args)], capture_output=True,
                                  text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
            assert proc.returncode == expected, proc.stderr
            assert says is not None and says in one_line(proc.stderr)


def test_out_of_space_exits_3_naming_the_file(tmp_path: Path, server: FakeOpenAIServer,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # A full disk is not bad input: the run could not complete (3), and the line says what to do.
    real = os.replace

    def full(src: Any, dst: Any, **kwargs: Any) -> None:
        if Path(dst).name == "summary.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    suite = write_suite(tmp_path, server.base_url)
    code = run_cli("run", suite, "--out", tmp_path / "run", "--no-report")
    line = one_line(capsys.readouterr().err)
    assert code == 3, line
    assert str(tmp_path / "run" / "summary.json") in line and "No space left on device" in line, line
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] != "running"


def test_a_failure_after_the_manifest_is_written_never_leaves_it_running(tmp_path: Path, server: FakeOpenAIServer,
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Outside the abort path (a bug while setting up the scorers, after manifest.json was written): the manifest
    # records that the run was aborted and why, and the exit is 3 with one line.
    from evalkit.scoring._pool import ItemScorer

    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("scorer set-up failed")

    monkeypatch.delenv("EVALKIT_DEBUG", raising=False)
    monkeypatch.setattr(ItemScorer, "__init__", broken)
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    code = run_cli("run", suite, "--out", out, "--no-report")
    line = one_line(capsys.readouterr().err)
    assert code == 3 and "internal error" in line, line
    manifest = read_manifest(out)
    assert manifest.status == "aborted" and manifest.finished_at is not None
    assert manifest.abort_reason is not None and "scorer set-up failed" in manifest.abort_reason
