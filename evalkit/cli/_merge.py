"""``evalkit merge DIR... --out DIR``."""

from __future__ import annotations

from pathlib import Path

import click

from evalkit.cli._common import safe_text


@click.command("merge")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
def command(runs: tuple[Path, ...], out_dir: Path, no_report: bool) -> int:
    """Combine shard runs (evalkit run --shard K/N) into one run whose summary equals an unsharded run.

    \b
    The inputs must be shards K/N of one suite, model, parameters and prices, each K once and no item
    twice (exit 2 otherwise). With a shard missing, or an input incomplete, an incomplete run is written
    (with a run's counts: missing, duplicates, ...) and the exit code is 3."""
    from evalkit.merge import merge_runs
    from evalkit.runner import write_default_report

    manifest = merge_runs(list(runs), out_dir)
    if not no_report:
        write_default_report(out_dir)
    c = manifest.counts
    click.echo(f"merged {len(runs)} runs: {c.done}/{c.planned} items, {c.failed} failed -> {out_dir}")
    if manifest.status != "complete":  # an incomplete merge is written (to look at) but is not a success
        click.echo(f"evalkit: merge incomplete: {safe_text(manifest.abort_reason or manifest.status)}; "
                   f"{out_dir} is marked incomplete", err=True)
        return 3
    return 0
