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

from evalkit.cli._common import one_line, safe_text
from evalkit.cli._format import quiet_libraries, summary_grid
from evalkit.cli._select import pick
from evalkit.errors import EvalkitError, RunAborted, UsageError
from evalkit.redact import strip_credentials_in_args

if TYPE_CHECKING:
    from evalkit.results import Prices, RunManifest
    from evalkit.runner import RunOptions, RunOutcome
    from evalkit.suite import LoadedSuite


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

    def wait(self, line: str) -> None:
        """A stall: what the run is waiting for, on a line of its own."""
        click.echo(("\r" + line.ljust(70)) if self.tty else line, err=True)


@click.command("run")
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))  # a file, or a built-in suite's name
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (re-running into it resumes).")
@click.option("--model", "models", multiple=True,
              help="Model name; 'local:smollm2' or 'local:/path/model.gguf' for the embedded provider. Repeat it to "
                   "run several models side by side: one run each in --out/<model>/ and --out/compare.html.")
@click.option("--provider", type=click.Choice(["openai", "local"]), help="Force a provider.")
@click.option("--base-url", help="OpenAI-compatible base URL that may receive the API key (default: "
              "$EVALKIT_BASE_URL, evalkit.toml, a keyless suite endpoint, else the AI/ML API).")
@click.option("--api-key-env", help="Environment variable holding the API key (default: $EVALKIT_API_KEY_ENV, "
              "evalkit.toml, else AIMLAPI_API_KEY).")
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Requests in flight at most.")
@click.option("--timeout", type=click.FloatRange(0.001, 3600), help="Seconds per request.")
@click.option("--max-attempts", type=click.IntRange(1, 50), help="Attempts per item, retries included.")
@click.option("--max-retry-wait", type=click.FloatRange(0, 86400),
              help="Seconds to wait at most when a server asks for longer (Retry-After); default 120.")
@click.option("--max-error-rate", type=click.FloatRange(0, 1), help="Stop (exit 3) when more items fail.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Generation parameter replacing the suite's (repeatable): --param temperature=0.7; "
                   "values are JSON (numbers, true, [\"END\"]), null removes one.")
@click.option("--max-tokens", type=int, help="Shorthand for --param max_tokens=N.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), help="Cache file.")
@click.option("--languages", help="Comma-separated subset of the suite's languages.")
@click.option("--prompts", help="Comma-separated subset of the suite's prompt variants.")
@click.option("--limit", type=click.IntRange(1), help="Use only the first N cases (of each language).")
@click.option("--repeat", type=click.IntRange(1, 1000), help="Repeat every item N times.")
@click.option("--shard", help="Run slice K of N (e.g. 2/4) of the items, for CI matrices.")
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
@click.option("--allow-outside-paths", is_flag=True, help="Let the suite read data outside its folder.")
@click.option("--max-response-bytes", type=click.IntRange(1024), envvar="EVALKIT_MAX_RESPONSE_BYTES",
              help="Largest reply body read, decompressed (default 8 MiB; env EVALKIT_MAX_RESPONSE_BYTES).")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE_OR_PATH",
              help="Import custom scorers from a module or .py/package path (repeatable; see docs/scorers.md).")
@click.option("--price-in", type=click.FloatRange(min=0), help="Price per million prompt tokens (else cost: unknown).")
@click.option("--price-out", type=click.FloatRange(min=0), help="Price per million completion tokens.")
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of prices per model (see docs/results-format.md).")
@click.option("--dry-run", is_flag=True, help="Show items, requests to send, estimated tokens and cost; send nothing.")
def command(suite: Path, out_dir: Path, models: tuple[str, ...], provider: str | None, base_url: str | None,
            api_key_env: str | None, concurrency: int | None, timeout: float | None, max_attempts: int | None,
            max_retry_wait: float | None, max_error_rate: float | None, no_cache: bool, cache_path: Path | None,
            languages: str | None, prompts: str | None, limit: int | None, repeat: int | None, shard: str | None,
            no_report: bool, allow_outside_paths: bool, max_response_bytes: int | None,
            params: tuple[str, ...] = (), max_tokens: int | None = None, plugins: tuple[str, ...] = (),
            price_in: float | None = None, price_out: float | None = None, prices_file: Path | None = None,
            dry_run: bool = False) -> int:
    """Run SUITE (a file, or a built-in suite's name: see `evalkit suites`) against a model and write results,
    summary and report into --out."""
    from evalkit.cli._params import apply_params  # imports the suite schema: not at `evalkit --help`
    from evalkit.items import Selection, Shard
    from evalkit.languages import same_language
    from evalkit.runner import RunOptions
    from evalkit.scoring import load_plugins
    from evalkit.suite import load_suite
    from evalkit.suites import resolve_suite

    quiet_libraries()

    load_plugins(plugins)  # before the suite is read: its scorers may come from them
    loaded = load_suite(resolve_suite(suite), allow_outside_paths=allow_outside_paths)
    apply_params(loaded, params, max_tokens)
    if max_response_bytes is not None:  # the person running evalkit may raise the cap; a suite may not
        model_spec = loaded.spec.model.model_copy(update={"max_response_bytes": max_response_bytes})
        loaded.spec = loaded.spec.model_copy(update={"model": model_spec})
    # --model overrides the suite's models: list; several either way run side by side.
    names = [_with_provider(m, provider) for m in models or loaded.spec.models or ()]
    names = names or [_with_provider(None, provider)]
    selection = Selection(
        languages=pick("--languages", languages, loaded.spec.languages, same_language),
        prompts=pick("--prompts", prompts, list(loaded.spec.prompts)),
        limit=limit,
        repeats=repeat,
        shard=Shard.parse(shard) if shard else None,
    )

    def options_for(model: str | None, out_dir: Path) -> RunOptions:
        progress = _LineProgress()
        return RunOptions(
            out_dir=out_dir,
            selection=selection,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            concurrency=concurrency,
            use_cache=not no_cache,
            cache_path=cache_path,
            max_error_rate=max_error_rate,
            max_attempts=max_attempts,
            timeout=timeout,
            max_retry_wait=max_retry_wait,
            write_report=not no_report,
            # Stored in the manifest and printed to resume: a URL's user name and password are left out.
            argv=["evalkit", "run", *strip_credentials_in_args(sys.argv[2:])] if sys.argv[1:2] == ["run"] else [],
            progress=progress,
            on_wait=progress.wait,
            notice=lambda message: click.echo(safe_text(message), err=True),
        )

    from evalkit.cli._cost import dry_run_command, model_name, prices_from_options, print_usage

    if len(names) > 1:  # several models side by side (evalkit/cli/_models.py)
        from evalkit.cli._models import check_prices, run_models

        check_prices(price_in, price_out)
        return run_models(loaded, [n or "" for n in names], out_dir, options_for,
                          lambda name, run_dir: prices_from_options(None, None, name, run_dir, prices_file),
                          write_report=not no_report, dry_run=dry_run, prices_file=prices_file)
    options = options_for(names[0], out_dir)
    prices = prices_from_options(price_in, price_out, model_name(loaded, options), out_dir, prices_file)
    if dry_run:
        return dry_run_command(loaded, options, prices, prices_file)
    outcome = run_and_record(loaded, options, prices, prices_file)
    m = outcome.manifest
    if outcome.interrupted:
        resume = shlex.join(m.argv) if m.argv else f"evalkit run {suite} --out {out_dir}"
        click.echo(f"interrupted; resume with: {safe_text(resume)}", err=True)
        return 130
    _print_summary(out_dir)
    print_usage(out_dir)
    return 0


def _with_provider(model: str | None, provider: str | None) -> str | None:
    """``--model`` as ``--provider`` reads it (``local:`` added or refused)."""
    if provider == "local" and model and not model.startswith("local:"):
        return f"local:{model}"
    if provider == "local" and not model:
        return "local:smollm2"
    if provider == "openai" and model and model.startswith("local:"):
        raise UsageError("--provider openai cannot serve a local: model")
    return model


def run_and_record(suite: LoadedSuite, options: RunOptions, prices: Prices | None,
                   prices_file: Path | None = None) -> RunOutcome:
    """Run ``suite`` with ``options``, record ``prices`` (the report is written once they are), print the counts.
    ``RunAborted`` is raised again after the counts on disk: what was done and why items failed."""
    from evalkit.cli._cost import judge_prices, record_prices
    from evalkit.runner import run

    out_dir, write_report = options.out_dir, options.write_report
    judges = judge_prices(suite, prices_file)  # the judge models' own prices, for the judges' cost
    options.write_report = write_report and prices is None  # written once the prices are recorded
    try:
        outcome = run(suite, options)
        record_prices(out_dir, prices, write_report=write_report, judge_prices=judges)
    except RunAborted:
        record_prices(out_dir, prices, write_report=write_report, judge_prices=judges)
        print_counts_on_disk(out_dir)  # before the abort message
        raise
    print_counts(outcome.manifest, out_dir)
    return outcome


def print_counts(m: RunManifest, out_dir: Path) -> None:
    c = m.counts
    click.echo(f"{c.done}/{c.planned} items done, {c.failed} failed, {c.cached} from cache -> {out_dir}")
    if c.errors_by_kind:
        click.echo("errors: " + ", ".join(f"{k} {v}" for k, v in sorted(c.errors_by_kind.items())))
        for kind, message in first_errors(out_dir / "results.jsonl", set(c.errors_by_kind)).items():
            click.echo(f"  first {kind}: {one_line(safe_text(message), 200)}")


def first_errors(results: Path, kinds: set[str]) -> dict[str, str]:
    """The message of the first failed item of each kind (its cause: "cannot connect to ..."), read until every
    kind is found; the counts alone do not say why."""
    from evalkit.results import iter_results

    found: dict[str, str] = {}
    with contextlib.suppress(EvalkitError, OSError):
        for result in iter_results(results, strict=False):
            if result.error is not None and result.error.kind in kinds and result.error.kind not in found:
                found[result.error.kind] = result.error.message
                if len(found) == len(kinds):
                    break
    return dict(sorted(found.items()))


def print_counts_on_disk(out_dir: Path) -> None:
    from evalkit.results import read_manifest

    with contextlib.suppress(EvalkitError):  # no manifest: nothing was run
        print_counts(read_manifest(out_dir), out_dir)


def _print_summary(out_dir: Path) -> None:
    from evalkit.results import read_manifest, read_summary

    summary, manifest = read_summary(out_dir), read_manifest(out_dir)
    for line in summary_grid(summary, manifest.languages, manifest.variants):
        click.echo(line)
    if summary.cells:
        click.echo(f"95% intervals and item counts: {out_dir / 'summary.json'}")
    from evalkit.runner._judge import quality_lines

    for line in quality_lines(out_dir):  # judge scorers: parse rate, agreement with reference metrics
        click.echo(safe_text(line))
    report = out_dir / "report.html"
    if report.exists():
        click.echo(f"report: {report}")
