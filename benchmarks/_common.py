"""Shared pieces: a fake server in its own process, generated suites, timing helpers."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def server_process(latency: float = 0.0, extra: list[str] | None = None) -> Iterator[str]:
    """The project's OpenAI-compatible test server in a separate process; yields its base URL."""
    cmd = [sys.executable, "-m", "evalkit.testing.server", "--port", "0", "--latency", str(latency),
           "--responder", "echo", *(extra or [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"test server did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_suite(directory: Path, n_cases: int, base_url: str, *, concurrency: int,
                scorers: str = "[bleu, {chrf: {plus: true}}, ter, exact_match]", max_attempts: int = 2,
                numbered: bool = False) -> Path:
    """A generated suite; ``numbered`` starts each source with ``item00042`` (every request differs, and
    faults can pick items by number)."""
    directory.mkdir(parents=True, exist_ok=True)
    words = "the quick brown fox jumps over a lazy dog while seven tired cats watch".split()
    with (directory / "cases.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n_cases):
            sentence = " ".join(words[(i + k) % len(words)] for k in range(8 + i % 5))
            if numbered:
                sentence = f"item{i:05d} {sentence}"
            fh.write(json.dumps({"id": f"c{i}", "source": sentence, "reference": sentence.upper()}) + "\n")
    suite = directory / "suite.yaml"
    suite.write_text(
        f"""name: bench
model: {{name: bench-model, base_url: "{base_url}", params: {{temperature: 0, max_tokens: 32}},
        concurrency: {concurrency}, max_attempts: {max_attempts}}}
languages: [de]
prompts:
  p: {{user: "{{{{ source }}}}"}}
cases: {{file: cases.jsonl}}
scorers: {scorers}
""",
        encoding="utf-8",
    )
    return suite


def evalkit_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "evalkit", *[str(a) for a in args]]


def timed_run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    return elapsed


def median_of(repeats: int, fn: Callable[[int], float]) -> float:
    return statistics.median(fn(i) for i in range(repeats))


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float
    higher_is_better: bool
    detail: str = ""

    @property
    def ratio(self) -> float:
        """value / target for lower-is-better figures; target / value for higher-is-better: <= 1 meets it."""
        if self.higher_is_better:
            return self.target / self.value if self.value else float("inf")
        return self.value / self.target

    @property
    def met(self) -> bool:
        return self.ratio <= 1.0


def machine_line() -> str:
    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, "
            f"{platform.system()} {platform.release()}")
