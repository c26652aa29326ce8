"""Embedded model: evalkit's local provider vs calling llama-cpp-python directly (tokens/s ratio).

Both sides use the same loaded model, prompts and settings; model loading is excluded from both.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

SOURCES = [
    "Good morning, how are you today?",
    "The train leaves at seven o'clock.",
    "Please close the window, it is cold.",
    "My sister works as a nurse in the city hospital.",
]
LANGUAGES = ["de", "fr", "es"]
NAMES = {"de": "German", "fr": "French", "es": "Spanish"}
PARAMS = {"temperature": 0.0, "max_tokens": 48, "seed": 1}


def _messages(source: str, lang: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Translate into {NAMES[lang]}: {source}"}]


def _direct(model: object) -> tuple[int, float]:
    tokens = 0
    start = time.perf_counter()
    for source in SOURCES:
        for lang in LANGUAGES:
            model.reset()  # type: ignore[attr-defined]
            out = model.create_chat_completion(messages=_messages(source, lang), **PARAMS)  # type: ignore[attr-defined]
            tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - start


def _through_evalkit(tmp: Path, i: int) -> tuple[int, float]:
    from evalkit.runner import RunOptions, run_async
    from evalkit.suite import load_suite

    cases = tmp / "cases.jsonl"
    cases.write_text("".join(json.dumps({"id": f"s{k}", "source": s, "reference": s}) + "\n"
                             for k, s in enumerate(SOURCES)), encoding="utf-8")
    suite = tmp / "suite.yaml"
    suite.write_text(
        "name: local-bench\n"
        "model: {name: 'local:smollm2', params: {temperature: 0, max_tokens: 48, seed: 1}}\n"
        f"languages: [{', '.join(LANGUAGES)}]\n"
        "prompts: {p: {user: 'Translate into {{ language.name }}: {{ source }}'}}\n"
        "cases: {file: cases.jsonl}\n"
        "scorers: [{chrf: {plus: true}}]\n",
        encoding="utf-8",
    )
    out = tmp / f"run{i}"
    start = time.perf_counter()
    asyncio.run(run_async(load_suite(suite), RunOptions(out_dir=out, use_cache=False, write_report=False)))
    elapsed = time.perf_counter() - start
    tokens = 0
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        tokens += json.loads(line)["usage"]["completion_tokens"]
    return tokens, elapsed


def local_ratio(repeats: int = 3) -> tuple[float, str] | None:
    try:
        from evalkit.providers._local import DEFAULT_N_CTX, load_model, smollm2_path
    except ImportError:
        return None
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return None
    import os

    model, _ = load_model(smollm2_path(), DEFAULT_N_CTX, os.cpu_count() or 1)
    direct_rates, evalkit_rates = [], []
    with tempfile.TemporaryDirectory() as tmpdir:
        for i in range(repeats):
            t, s = _direct(model)
            direct_rates.append(t / s)
            t, s = _through_evalkit(Path(tmpdir), i)
            evalkit_rates.append(t / s)
    d, e = statistics.median(direct_rates), statistics.median(evalkit_rates)
    return e / d, f"direct {d:.1f} tok/s, evalkit {e:.1f} tok/s ({len(SOURCES) * len(LANGUAGES)} prompts)"


if __name__ == "__main__":
    print(local_ratio())
