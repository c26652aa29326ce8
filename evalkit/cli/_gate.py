"""``evalkit gate RUN_DIR [--baseline BASE_DIR] [--gates FILE] [--junit FILE] [--markdown FILE] [--json FILE]``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from evalkit.cli._common import safe_text

if TYPE_CHECKING:  # the gate package is imported only when the command runs
    from evalkit.gate import GateResult


def print_gate(result: GateResult) -> None:
    """Print a ``GateResult``: the comparison lines, one line per failing check, warnings, the summary."""
    cmp = result.comparison
    if cmp is not None and cmp.summary_lines():
        click.echo(f"vs baseline {safe_text(cmp.base_label)} ({cmp.correction}, alpha {cmp.alpha:g}):")
        for line in cmp.summary_lines():
            click.echo("  " + safe_text(line))
    for line in result.lines():
        click.echo(safe_text(line))


def write_gate_outputs(result: GateResult, junit: Path | None, markdown: Path | None, json_path: Path | None) -> None:
    """Write the requested files and append the Markdown summary to ``$GITHUB_STEP_SUMMARY`` when set."""
    from evalkit.gate import write_outputs

    summary_env = os.environ.get("GITHUB_STEP_SUMMARY")
    step_summary = Path(summary_env) if summary_env else None
    try:
        write_outputs(result, junit=junit, markdown=markdown, json_path=json_path, step_summary=step_summary)
    except OSError as exc:
        from evalkit.errors import UsageError

        raise UsageError(f"cannot write gate output: {exc}") from None


_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("gate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path), help="Run directory to check regressions against.")
@click.option("--gates", "gates_file", type=_FILE,
              help="Gate definition (a suite with gates:, or a gates YAML file). Default: the run's suite.")
@click.option("--junit", type=_FILE, help="Write JUnit XML (one testsuite per language).")
@click.option("--markdown", type=_FILE, help="Write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY).")
@click.option("--json", "json_path", type=_FILE, help="Write the JSON verdict (format evalkit.gate, version 1).")
@click.option("--force", is_flag=True, help="Compare with the baseline even if the runs are incompatible.")
def command(run_dir: Path, baseline: Path | None, gates_file: Path | None, junit: Path | None,
            markdown: Path | None, json_path: Path | None, force: bool) -> int:
    """Check RUN_DIR against quality gates; exit 0 when every check passes, 1 when one fails, 2 on bad input.

    \b
    Absolute thresholds apply per language; with --baseline every shared metric is also
    checked for a statistically significant regression (paired bootstrap / exact McNemar,
    Holm correction), with the tolerances given under regressions: in the gate file.
    """
    from evalkit.gate import run_gate

    result = run_gate(run_dir, baseline=baseline, gates=gates_file, force=force)
    print_gate(result)
    write_gate_outputs(result, junit, markdown, json_path)
    return 0 if result.passed else 1
