"""``evalkit run SUITE --out DIR``."""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from evalkit.cli._common import safe_text, split_list
from evalkit.errors import EvalkitError, RunAborted, UsageError

if TYPE_CHECKING:
    from evalkit.results import RunManifest


class _LineProgress:
    """Quiet, line-oriented progress for logs (CI); a redrawn line on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.start = time.monotonic()

    def __call__(self, done: int, todo: int, counts: Counter[str]) -> None:
        now = time.monotonic()
        final = done >= todo
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        line = f"{done}/{todo} items  {counts['failed']} failed  {counts['cached']} cached  {rate:.1f} items/s"
        if self.tty:
            filled = round(24 * done / todo) if todo else 24
            bar = "[" + "#" * filled + "." * (24 - filled) + "] "
            click.echo("\r" + bar + line.ljust(70), err=True, nl=final)
        else:
            click.echo(line, err=True)


@click.command("run")
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (re-running into it resumes).")
@click.option("--model", help="Model name; 'local:smollm2' or 'local:/path/model.gguf' for the embedded provider.")
@click.option("--provider", type=click.Choice(["openai", "local"]), help="Force a provider.")
@click.option("--base-url", help="OpenAI-compatible base URL (default: the suite's, else the AI/ML API).")
@click.option("--api-key-env", help="Environment variable holding the API key (default AIMLAPI_API_KEY).")
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Requests in flight at most.")
@click.option("--timeout", type=click.FloatRange(0.001, 3600), help="Seconds per request.")
@click.option("--max-attempts", type=click.IntRange(1, 50), help="Attempts per item, retries included.")
@click.option("--max-error-rate", type=click.FloatRange(0, 1), help="Stop (exit 3) when more items fail.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), help="Cache file.")
@click.option("--languages", help="Comma-separated subset of the suite's languages.")
@click.option("--prompts", help="Comma-separated subset of the suite's prompt variants.")
@click.option("--limit", type=click.IntRange(1), help="Use only the first N cases.")
@click.option("--repeat", type=click.IntRange(1, 1000), help="Repeat every item N times.")
@click.option("--shard", help="Run slice K of N (e.g. 2/4) of the items, for CI matrices.")
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
@click.option("--allow-outside-paths", is_flag=True, help="Let the suite read data outside its folder.")
@click.option("--price-in", type=click.FloatRange(min=0), help="Price per million prompt tokens (else cost: unknown).")
@click.option("--price-out", type=click.FloatRange(min=0), help="Price per million completion tokens.")
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of prices per model (see docs/results-format.md).")
@click.option("--dry-run", is_flag=True, help="Show items, requests to send, estimated tokens and cost; send nothing.")
def command(suite: Path, out_dir: Path, model: str | None, provider: str | None, base_url: str | None,
            api_key_env: str | None, concurrency: int | None, timeout: float | None, max_attempts: int | None,
            max_error_rate: float | None, no_cache: bool, cache_path: Path | None, languages: str | None,
            prompts: str | None, limit: int | None, repeat: int | None, shard: str | None, no_report: bool,
            allow_outside_paths: bool, price_in: float | None, price_out: float | None, prices_file: Path | None,
            dry_run: bool) -> int:
    """Run SUITE against a model and write results, summary and report into --out."""
    from evalkit.items import Selection, Shard
    from evalkit.runner import RunOptions, run
    from evalkit.suite import load_suite

    loaded = load_suite(suite, allow_outside_paths=allow_outside_paths)
    if provider == "local" and model and not model.startswith("local:"):
        model = f"local:{model}"
    elif provider == "local" and not model:
        model = "local:smollm2"
    elif provider == "openai" and model and model.startswith("local:"):
        raise UsageError("--provider openai cannot serve a local: model")
    options = RunOptions(
        out_dir=out_dir,
        selection=Selection(
            languages=split_list(languages),
            prompts=split_list(prompts),
            limit=limit,
            repeats=repeat,
            shard=Shard.parse(shard) if shard else None,
        ),
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=concurrency,
        use_cache=not no_cache,
        cache_path=cache_path,
        max_error_rate=max_error_rate,
        max_attempts=max_attempts,
        timeout=timeout,
        write_report=not no_report,
        argv=["evalkit", "run", *sys.argv[2:]] if sys.argv[1:2] == ["run"] else [],
        progress=_LineProgress(),
    )
    from evalkit.cli._cost import dry_run_command, model_name, prices_from_options, print_usage, record_prices

    prices = prices_from_options(price_in, price_out, model_name(loaded, options), out_dir, prices_file)
    if dry_run:
        return dry_run_command(loaded, options, prices)
    options.write_report = options.write_report and prices is None  # written once the prices are recorded
    try:
        outcome = run(loaded, options)
        record_prices(out_dir, prices, write_report=not no_report)
    except RunAborted:
        record_prices(out_dir, prices, write_report=not no_report)
        _print_counts_on_disk(out_dir)  # what was done and why items failed, before the abort message
        raise
    m = outcome.manifest
    _print_counts(m, out_dir)
    if outcome.interrupted:
        resume = shlex.join(m.argv) if m.argv else f"evalkit run {suite} --out {out_dir}"
        click.echo(f"interrupted; resume with: {safe_text(resume)}", err=True)
        return 130
    _print_summary(out_dir)
    print_usage(out_dir)
    return 0


def _print_counts(m: RunManifest, out_dir: Path) -> None:
    c = m.counts
    click.echo(f"{c.done}/{c.planned} items done, {c.failed} failed, {c.cached} from cache -> {out_dir}")
    if c.errors_by_kind:
        click.echo("errors: " + ", ".join(f"{k} {v}" for k, v in sorted(c.errors_by_kind.items())))


def _print_counts_on_disk(out_dir: Path) -> None:
    from evalkit.results import read_manifest

    with contextlib.suppress(EvalkitError):  # no manifest: nothing was run
        _print_counts(read_manifest(out_dir), out_dir)


def _print_summary(out_dir: Path) -> None:
    from evalkit.results import read_summary

    summary = read_summary(out_dir)
    for cell in summary.cells:
        if cell.value is None:
            continue
        ci = f" [{cell.ci_low:.1f}, {cell.ci_high:.1f}]" if cell.ci_low is not None else ""
        names = f"  {cell.variant:<14} {cell.language:<6} {cell.metric:<12}"  # from the suite: may be hostile
        click.echo(f"{safe_text(names)} {cell.value:6.1f}{ci}  n={cell.n}")
    report = out_dir / "report.html"
    if report.exists():
        click.echo(f"report: {report}")
