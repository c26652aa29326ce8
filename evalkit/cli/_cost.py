"""``evalkit run``'s cost side: the price options, the terminal usage lines and ``--dry-run``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from evalkit.cli._common import safe_text
from evalkit.errors import UsageError

if TYPE_CHECKING:
    from evalkit.dryrun import DryRun
    from evalkit.results import Prices
    from evalkit.runner import RunOptions
    from evalkit.suite import LoadedSuite


def prices_from_options(price_in: float | None, price_out: float | None, model: str,
                        out_dir: Path | None = None, prices_file: Path | None = None) -> Prices | None:
    """The prices the person running evalkit gave for ``model`` (None: unknown; never a default): the
    options, or the model's entry in ``prices_file``. Without either, a resume into ``out_dir`` keeps the
    prices its manifest recorded for the same model."""
    from evalkit.results import Prices

    if prices_file is not None:
        if price_in is not None or price_out is not None:
            raise UsageError("give --prices FILE or --price-in/--price-out, not both")
        from evalkit.prices import load_prices

        return load_prices(prices_file, model)
    if price_in is None and price_out is None:
        return _recorded_prices(out_dir, model) if out_dir is not None else None
    if price_in is None or price_out is None:
        raise UsageError("give both --price-in and --price-out (per million prompt and completion tokens), "
                         "or neither (cost is then shown as unknown)")
    return Prices(model=model, input_per_mtok=price_in, output_per_mtok=price_out, source="--price-in/--price-out")


def _recorded_prices(out_dir: Path, model: str) -> Prices | None:
    import contextlib

    from evalkit.errors import EvalkitError
    from evalkit.results import MANIFEST, read_manifest

    if not (out_dir / MANIFEST).exists():
        return None
    with contextlib.suppress(EvalkitError):
        prices = read_manifest(out_dir).prices
        if prices is not None and prices.model == model:
            return prices
    return None


def model_name(suite: LoadedSuite, options: RunOptions) -> str:
    from evalkit.runner import effective_model

    return effective_model(suite.spec.model, options).name


def record_prices(out_dir: Path, prices: Prices | None, write_report: bool,
                  judge_prices: dict[str, Prices] | None = None) -> None:
    """After the run: the prices into the manifest and the summary's costs (the judges' at ``judge_prices``),
    then the report."""
    from evalkit.results import MANIFEST
    from evalkit.results._usage import record_prices as record
    from evalkit.runner import write_default_report

    if prices is None or not (out_dir / MANIFEST).exists():
        return
    record(out_dir, prices, judge_prices)
    if write_report:
        write_default_report(out_dir)


def print_usage(out_dir: Path) -> None:
    """Per variant × language: tokens, token tax, latency p50/p95, truncation and cost."""
    from evalkit.results import read_summary
    from evalkit.results._usage import format_money, usage_line

    summary = read_summary(out_dir)
    for cell in summary.usage:
        click.echo(safe_text(usage_line(cell, summary.prices)))
    if summary.usage and summary.prices is not None:
        total = sum(c.cost or 0.0 for c in summary.usage)
        p = summary.prices
        click.echo(f"cost {format_money(total, p)} at {p.input_per_mtok:g} in / {p.output_per_mtok:g} out "
                   f"per million tokens ({safe_text(p.model)})")


def dry_run_command(suite: LoadedSuite, options: RunOptions, prices: Prices | None,
                    prices_file: Path | None = None) -> int:
    from evalkit.dryrun import dry_run

    print_dry_run(dry_run(suite, options, prices, judge_prices(suite, prices_file)))
    return 0


def judge_prices(suite: LoadedSuite, prices_file: Path | None) -> dict[str, Prices]:
    """The prices file's entries for the suite's judge models (a judge without one: cost unknown)."""
    from evalkit.errors import SuiteError
    from evalkit.prices import read_prices

    if prices_file is None:
        return {}
    try:
        table = read_prices(prices_file)  # read once for all the judges
    except SuiteError:
        return {}
    judges = {str(s.options.get("model", "")).strip() for s in suite.spec.scorers if s.name == "judge"}
    return {model: table[model] for model in sorted(judges) if model in table}


def print_dry_run(report: DryRun) -> None:
    from evalkit.dryrun import cost_text

    click.echo(f"dry run: nothing sent, nothing written ({safe_text(report.model)} at {safe_text(report.endpoint)})")
    variant_width = max((len(c.variant) for c in report.cells), default=0)
    language_width = max((len(c.language) for c in report.cells), default=0)
    for c in report.cells:  # columns as wide as the longest name (FLORES codes: deu_Latn)
        names = f"  {c.variant:<{variant_width}} {c.language:<{language_width}}"
        click.echo(f"{safe_text(names)} {c.items:>6} items  {c.done:>5} done  {c.cached:>5} cached  "
                   f"{c.to_send:>6} to send  ~{c.est_prompt_tokens} prompt tokens")
    click.echo(f"total: {report.total('items')} items, {report.total('done')} already in --out, "
               f"{report.total('cached')} in the response cache"
               + ("" if report.cache else " (no cache looked in)")
               + f", {report.total('to_send')} requests to send")
    from evalkit.items import skipped_note

    skipped = skipped_note(report.skipped_languages)  # long-format cases in a language the suite does not run
    if skipped:
        click.echo(safe_text(skipped))
    click.echo(f"estimated prompt tokens: ~{report.total('est_prompt_tokens')} "
               "(per-script estimate, see docs/results-format.md)")
    if report.prices is None:
        click.echo("estimated cost: unknown (give --price-in and --price-out)")
    else:
        cost = cost_text(report.prices, report.est_input_cost, report.max_output_cost, report.max_tokens, "answers")
        click.echo(f"estimated cost: {cost}")
    for line in report.judge_lines():  # judge scorers: their own calls, tokens and cost
        click.echo(safe_text(line))
