"""Markdown summaries written to files carry no raw control sequences from model output."""

from __future__ import annotations

from pathlib import Path

from helpers import run_cli, translator, write_suite

from evalkit.testing import FakeOpenAIServer

HOSTILE = "Guten \x1b[2J\x1b]0;pwned\x07Morgen \u202eevil <script>alert(1)</script>"


def test_markdown_files_escape_control_sequences(tmp_path: Path) -> None:
    with FakeOpenAIServer(translator) as good, FakeOpenAIServer(lambda request: HOSTILE) as bad:
        for name, srv in (("base", good), ("cand", bad)):
            suite = write_suite(tmp_path, srv.base_url, name=f"{name}.yaml")
            assert run_cli("run", suite, "--out", tmp_path / name, "--languages", "de", "--prompts", "plain",
                           "--no-report") == 0
    md_file = tmp_path / "compare.md"
    # Different endpoints, same suite content: compare the regressions, whose outputs the summary lists.
    assert run_cli("compare", tmp_path / "base", tmp_path / "cand", "--format", "md", "--out", md_file) == 0
    text = md_file.read_text(encoding="utf-8")
    assert "pwned" in text  # the hostile output is in the summary...
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text  # ...but inert
    assert "\\\\x1b" in text or "\\x1b" in text
