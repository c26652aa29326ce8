"""``evalkit compare BASE_RUN CAND_RUN [MORE_RUNS...] [--out FILE] [--format html|md] [--gate ...]``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from evalkit.cli._common import safe_text
from evalkit.errors import UsageError

if TYPE_CHECKING:
    from evalkit.compare import Comparison
    from evalkit.compare._pairwise import Pairwise
    from evalkit.gate import GateResult

_FILE = click.Path(dir_okay=False, path_type=Path)


def _variants(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"--variants: expected two prompt variants as BASE,CAND (got {value!r})")
    return parts[0], parts[1]


@click.command("compare")
@click.argument("base_run", type=click.Path(file_okay=False, path_type=Path))
@click.argument("cand_runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Report file (default: compare.html here; Markdown goes to stdout).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True,
              help="A self-contained HTML page, or a Markdown summary for pull-request comments.")
@click.option("--variants", "variants_opt", metavar="BASE,CAND",
              help="Compare prompt variant BASE of the base run with variant CAND of each candidate "
                   "(the runs may be the same directory).")
@click.option("--force", is_flag=True, help="Compare even when the runs are incompatible (the report says so).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Significance level after the multiple-comparison correction.")
@click.option("--correction", type=click.Choice(["holm", "bh"]), default="holm", show_default=True,
              help="Multiple-comparison correction: Holm–Bonferroni or Benjamini–Hochberg.")
@click.option("--resamples", type=click.IntRange(100, 100_000), default=1000, show_default=True,
              help="Paired bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--gate", "gate", is_flag=True, help="Also check each candidate against the quality gates (exit 1 "
              "when one fails).")
@click.option("--gates", "gates_file", type=_FILE, help="Gate definition for --gate (default: the run's suite).")
@click.option("--junit", type=_FILE, help="With --gate: write JUnit XML (one testsuite per language).")
@click.option("--markdown", type=_FILE, help="With --gate: write the gate's Markdown summary.")
@click.option("--json", "json_path", type=_FILE, help="With --gate: write the JSON verdict.")
@click.option("--judge", "judge", metavar="MODEL", help="Also ask MODEL which answer of each aligned item is better, "
              "in both orders (win/tie/loss per language, sign test; with --gate, a candidate that loses "
              "significantly in a language fails).")
@click.option("--judge-base-url", help="The judge's endpoint (default: $EVALKIT_BASE_URL, the project config, "
              "the AI/ML API).")
@click.option("--judge-api-key-env", metavar="VAR", help="The variable holding the judge endpoint's API key.")
@click.option("--judge-max-tokens", type=click.IntRange(min=1), metavar="N",
              help="The judge's max_tokens (default: 512).")
@click.option("--judge-param", "judge_params", multiple=True, metavar="NAME=VALUE",
              help="A judge request parameter, as run's --param (default: temperature=0); repeatable.")
def command(base_run: Path, cand_runs: tuple[Path, ...], out: Path | None, fmt: str, variants_opt: str | None,
            force: bool, alpha: float, correction: str, resamples: int, seed: int, gate: bool,
            gates_file: Path | None, junit: Path | None, markdown: Path | None, json_path: Path | None,
            judge: str | None = None, judge_base_url: str | None = None, judge_api_key_env: str | None = None,
            judge_max_tokens: int | None = None, judge_params: tuple[str, ...] = ()) -> int:
    """Compare CAND_RUN (and any MORE_RUNS, each against BASE_RUN) item by item: per-language deltas with
    paired 95% CIs and adjusted p-values, and the items that regressed."""
    from evalkit.compare import compare_runs
    from evalkit.report import render_compare_report, write_compare_report

    variants = _variants(variants_opt)
    _check_gate_options(gate, variants, len(cand_runs), gates_file, junit, markdown, json_path)
    comparisons = [
        compare_runs(base_run, cand, variants=variants, force=force, alpha=alpha, n_resamples=resamples, seed=seed,
                     correction="bh" if correction == "bh" else "holm")
        for cand in cand_runs
    ]
    for comparison in comparisons:
        if comparison.forced and comparison.incompatibilities:
            click.echo("warning: forced comparison of incompatible runs: "
                       + safe_text("; ".join(comparison.incompatibilities)), err=True)
    # With --gate the verdicts are computed before the report is written, so the page shows them.
    results = _gate_results(base_run, comparisons, force, gates_file) if gate else None
    pairwise = _pairwise(comparisons, _JudgeOptions(judge, judge_base_url, judge_api_key_env, judge_max_tokens,
                                                    judge_params), results)
    if fmt == "md" and out is None:
        page = _with_pairwise(render_compare_report(comparisons, "md", results), comparisons, pairwise, "md")
        click.echo(safe_text(page))  # outputs and names are untrusted
    else:
        target = out or Path("compare.html")
        write_compare_report(comparisons, target, "md" if fmt == "md" else "html", results)
        if pairwise:
            page = target.read_text(encoding="utf-8")
            target.write_text(_with_pairwise(page, comparisons, pairwise, fmt), encoding="utf-8")
        for i, comparison in enumerate(comparisons):
            print_comparison(comparison, pairwise[i].lines() if pairwise else ())
        click.echo(f"report: {target}")
    if results is None:
        return 0
    return _print_gates(comparisons, results, junit, markdown, json_path)


def print_comparison(comparison: Comparison, more: Iterable[str] = ()) -> None:
    """``CAND vs BASE:``, then its summary lines, its usage deltas and ``more``, indented."""
    from evalkit.compare import usage_deltas, usage_summary_lines

    click.echo(f"{safe_text(comparison.cand_label)} vs {safe_text(comparison.base_label)}:")
    for line in comparison.summary_lines():
        click.echo("  " + safe_text(line))
    for line in usage_summary_lines(usage_deltas(comparison)):
        click.echo("  " + safe_text(line))
    for line in more:
        click.echo("  " + safe_text(line))


@dataclass(frozen=True)
class _JudgeOptions:
    model: str | None
    base_url: str | None
    api_key_env: str | None
    max_tokens: int | None
    params: tuple[str, ...]


def _pairwise(comparisons: list[Comparison], judge: _JudgeOptions, results: list[GateResult] | None) -> list[Pairwise]:
    """Each comparison judged pairwise (and, with --gate, its per-language check added to the gate)."""
    if not judge.model:
        if judge.base_url or judge.api_key_env or judge.max_tokens is not None or judge.params:
            raise UsageError("--judge-base-url, --judge-api-key-env, --judge-max-tokens and --judge-param "
                             "need --judge MODEL")
        return []
    from evalkit.cli._params import merge_params
    from evalkit.compare._pairwise import default_judge_params, judge_comparisons, pairwise_checks, user_judge_spec

    params = merge_params(default_judge_params().as_body(), judge.params, judge.max_tokens, "--judge-param",
                          "--judge-max-tokens")
    spec = user_judge_spec(judge.model, judge.base_url, judge.api_key_env, params=params)
    judged = judge_comparisons(comparisons, spec)
    for result, pairwise in zip(results or [], judged, strict=False):  # --judge replaces the gate's pairwise:
        result.use_pairwise(judge.model, pairwise_checks(pairwise))
    return judged


def _with_pairwise(page: str, comparisons: list[Comparison], pairwise: list[Pairwise], fmt: str) -> str:
    from evalkit.compare._pairwise import add_to_page, html_section, markdown

    if not pairwise:
        return page
    for comparison, result in zip(comparisons, pairwise, strict=True):
        page = add_to_page(page, markdown(result) if fmt == "md" else html_section(result, comparison))
    return page


def _check_gate_options(gate: bool, variants: tuple[str, str] | None, n_candidates: int, gates_file: Path | None,
                        junit: Path | None, markdown: Path | None, json_path: Path | None) -> None:
    if not gate:
        if gates_file or junit or markdown or json_path:
            raise UsageError("--gates, --junit, --markdown and --json need --gate")
        return
    if variants is not None:
        raise UsageError("--gate compares whole runs; it cannot be combined with --variants")
    if n_candidates > 1 and (junit or markdown or json_path):
        raise UsageError("--junit, --markdown and --json with --gate need a single candidate run")


def _gate_results(base_run: Path, comparisons: list[Comparison], force: bool,
                  gates_file: Path | None) -> list[GateResult]:
    """The quality gate of every candidate (reusing its comparison)."""
    from evalkit.gate import run_gate

    return [run_gate(c.cand.path, baseline=base_run, gates=gates_file, force=force, comparison=c)
            for c in comparisons]


def _print_gates(comparisons: list[Comparison], results: list[GateResult], junit: Path | None,
                 markdown: Path | None, json_path: Path | None) -> int:
    """Print each gate's lines and write its CI outputs; 1 when any gate fails."""
    from evalkit.cli._gate import write_gate_outputs

    passed = True
    for comparison, result in zip(comparisons, results, strict=True):
        click.echo(f"gate {safe_text(comparison.cand_label)}:")
        for line in result.lines():
            click.echo("  " + safe_text(line))
        write_gate_outputs(result, junit, markdown, json_path)
        passed = passed and result.passed
    return 0 if passed else 1
