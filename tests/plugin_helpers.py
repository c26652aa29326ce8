"""Helpers for the custom scorer tests: a clean plugin registry, the example plugin's paths, suites."""

from __future__ import annotations

import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.scoring import _plugins

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


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Scorers registered by a test are forgotten after it (and plugin modules unloaded)."""
    monkeypatch.setattr(_plugins, "_registered", {})
    monkeypatch.setattr(_plugins, "_loaded", [])
    monkeypatch.setattr(_plugins, "_env_seen", None)
    monkeypatch.delenv(_plugins.ENV_VAR, raising=False)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:  # plugin modules a test imported from tmp_path or examples/
        source = str(getattr(sys.modules[name], "__file__", "") or "")
        if source.startswith((tempfile.gettempdir(), str(EXAMPLE))):
            del sys.modules[name]
