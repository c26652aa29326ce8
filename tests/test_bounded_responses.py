"""A hostile server cannot exhaust memory or kill the run: replies are read with a size cap (decompressed
size included), an over-size reply is a per-item ``bad_response`` that is not retried, and JSON nested
too deeply is a per-item error whatever the status.

Memory is checked as the peak RSS of ``evalkit run`` in a subprocess, against a real server on
127.0.0.1 sending a 64 MB answer, a gzip bomb expanding to 1 GB, or a body that never ends.
"""

from __future__ import annotations

import asyncio
import json
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers import SUITE, run_cli, run_subprocess, translator, write_suite

from evalkit.errors import BadResponse, ResponseTooLarge, ServerError
from evalkit.providers import OpenAIProvider, Request
from evalkit.providers._body import _Inflater
from evalkit.results import read_manifest
from evalkit.testing import FakeOpenAIServer, Fault

ONE = ("--languages", "de", "--prompts", "plain")  # 3 items
QUICK = ("--no-report", "--no-cache")
# Peak RSS of `evalkit run` on three items: ~150 MB here. Holding any of the hostile bodies costs
# 0.6-2.6 GB without a cap; with one, at most the cap (8 MiB) and its JSON decoding.
RSS_BOUND_MB = 450

# Runs `evalkit run` and prints its peak RSS in MB as the last line of stderr.
_MEASURED_RUN = """
import sys
from evalkit.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
# VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's peak (pytest's, in a full run).
print(next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:")) // 1024, file=sys.stderr)
sys.exit(code)
"""


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def _measured_run(*args: str | Path) -> tuple[int, int, str]:
    import subprocess

    proc = subprocess.run([sys.executable, "-c", _MEASURED_RUN, *[str(a) for a in args]],
                          capture_output=True, text=True, timeout=300, check=False)
    lines = proc.stderr.strip().splitlines()
    return proc.returncode, int(lines[-1]), proc.stderr


HOSTILE_BODIES = [
    Fault("huge-body", match="Thank you", size=64 * 1024 * 1024),
    Fault("gzip-bomb", match="Thank you"),  # 1 GiB of whitespace, then a valid answer
    Fault("endless-body", match="Thank you"),
]


@pytest.mark.parametrize("fault", HOSTILE_BODIES, ids=lambda f: f.kind)
def test_hostile_body_is_a_bad_response_and_memory_stays_bounded(fault: Fault, tmp_path: Path) -> None:
    with FakeOpenAIServer(translator) as server:
        server.set_faults([fault])
        suite = write_suite(tmp_path, server.base_url)
        out = tmp_path / "run"
        code, peak_mb, stderr = _measured_run("run", suite, "--out", out, *ONE, *QUICK, "--timeout", "60")
        hit = [r for r in server.chat_requests if r.fault == fault.kind]
    assert code == 0, stderr
    assert peak_mb < RSS_BOUND_MB, f"peak RSS {peak_mb} MB"
    lines = _lines(out)
    failed = [x for x in lines if x["error"]]
    assert len(lines) == 3 and len(failed) == 1
    assert failed[0]["error"]["kind"] == "bad_response"
    assert "larger than 8,388,608 bytes" in failed[0]["error"]["message"]
    assert failed[0]["attempts"] == 1 and len(hit) == 1  # never retried: it would cost as much again
    assert all(x["output"] for x in lines if not x["error"])


def test_provider_refuses_each_shape_without_retry() -> None:
    async def ask(server: FakeOpenAIServer, limit: int) -> Any:
        provider = OpenAIProvider("m", server.base_url, "EVALKIT_TEST_NO_KEY", timeout=30,
                                  max_response_bytes=limit)
        try:
            return await provider.complete(Request(({"role": "user", "content": "Translate into German: hi"},)))
        finally:
            await provider.aclose()

    with FakeOpenAIServer(translator) as server:
        for fault in (Fault("huge-body", size=100_000), Fault("gzip-bomb", size=100_000), Fault("endless-body")):
            server.set_faults([fault])
            with pytest.raises(ResponseTooLarge) as exc:
                asyncio.run(ask(server, 50_000))
            assert exc.value.kind == "bad_response" and not exc.value.retryable
            assert "larger than 50,000 bytes" in exc.value.message
        # Under the cap, a gzip-encoded answer is decoded as usual.
        server.set_faults([Fault("gzip-bomb", size=20_000)])
        assert asyncio.run(ask(server, 50_000)).text == "Sorry"
        server.set_faults([Fault("huge-body", size=20_000)])
        assert asyncio.run(ask(server, 50_000)).text == "x" * 20_000
        # An error reply is cut short, not refused: a 500 stays a (retryable) server error.
        server.set_faults([Fault("deep-json-500", size=10_000)])  # a 20 kB error body, over the 1 kB cap
        with pytest.raises(ServerError) as err:
            asyncio.run(ask(server, 1024))
        assert err.value.retryable and err.value.status == 500
        assert "larger than" not in err.value.message
        server.set_faults([])
        assert asyncio.run(ask(server, 1024)).text == "Sorry"


def test_deflate_variants_and_garbage() -> None:
    text = b'{"a": 1}' * 1000
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    for data in (zlib.compress(text), raw.compress(text) + raw.flush()):
        assert _Inflater("deflate").feed(data, 1_000_000) == text
    assert len(_Inflater("gzip").feed(zlib.compress(text, wbits=31), 100)) == 100  # bounded output
    with pytest.raises(zlib.error):
        _Inflater("gzip").feed(b"not gzip at all", 1000)


SMALL_CAP_SUITE = SUITE.replace("  max_attempts: 3\n", "  max_attempts: 3\n  max_response_bytes: 2048\n")


def test_suite_may_lower_the_cap_and_the_runner_may_raise_it(tmp_path: Path) -> None:
    with FakeOpenAIServer(translator) as server:
        server.set_faults([Fault("huge-body", match="Thank you", size=4096)])
        suite = write_suite(tmp_path, server.base_url, SMALL_CAP_SUITE)
        assert run_cli("run", suite, "--out", tmp_path / "a", *ONE, *QUICK) == 0
        failed = [x for x in _lines(tmp_path / "a") if x["error"]]
        assert [x["error"]["kind"] for x in failed] == ["bad_response"]
        assert "larger than 2,048 bytes" in failed[0]["error"]["message"]
        assert run_cli("run", suite, "--out", tmp_path / "b", *ONE, *QUICK, "--max-response-bytes", "100000") == 0
        assert not any(x["error"] for x in _lines(tmp_path / "b"))
        proc = run_subprocess("run", suite, "--out", tmp_path / "c", *ONE, *QUICK,
                              env={"EVALKIT_MAX_RESPONSE_BYTES": "100000"})
        assert proc.returncode == 0, proc.stderr
        assert not any(x["error"] for x in _lines(tmp_path / "c"))


def test_suite_may_not_raise_the_cap(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1",
                        SUITE.replace("  max_attempts: 3\n", "  max_attempts: 3\n  max_response_bytes: 999999999\n"))
    proc = run_subprocess("validate", suite)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "suite.yaml:7:" in lines[0] and "max_response_bytes" in lines[0]
    assert "--max-response-bytes" in lines[0]


DEEP = [("deep-json", "bad_response", 200), ("deep-json-400", "client_error", 400),
        ("deep-json-429", "rate_limited", 429), ("deep-json-500", "server_error", 500)]


@pytest.mark.parametrize(("kind", "error_kind", "status"), DEEP)
def test_deeply_nested_json_is_a_per_item_error(kind: str, error_kind: str, status: int, tmp_path: Path) -> None:
    with FakeOpenAIServer(translator) as server:
        server.set_faults([Fault(kind, match="Thank you", retry_after=0)])
        suite = write_suite(tmp_path, server.base_url)
        out = tmp_path / "run"
        assert run_cli("run", suite, "--out", out, *ONE, *QUICK, "--max-error-rate", "0.5") == 0
    lines = _lines(out)
    failed = [x for x in lines if x["error"]]
    assert len(lines) == 3 and len(failed) == 1
    assert failed[0]["error"]["kind"] == error_kind and failed[0]["error"]["status"] == status
    assert read_manifest(out).counts.errors_by_kind == {error_kind: 1}


def test_deep_json_in_a_reply_is_bad_response_at_the_provider() -> None:
    async def ask(server: FakeOpenAIServer) -> Any:
        provider = OpenAIProvider("m", server.base_url, "EVALKIT_TEST_NO_KEY")
        try:
            return await provider.complete(Request(({"role": "user", "content": "hi"},)))
        finally:
            await provider.aclose()

    with FakeOpenAIServer(translator) as server:
        server.set_faults([Fault("deep-json")])
        with pytest.raises(BadResponse, match="nested too deeply"):
            asyncio.run(ask(server))
