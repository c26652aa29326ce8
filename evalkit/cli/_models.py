"""``evalkit run SUITE --model A --model B ... --out DIR``: several models side by side in one command.

Each model gets a run of its own in ``DIR/<slug>/`` (:func:`model_slug`: safe for any model name, the same
folder whatever the other models named, never two models in one folder), run one after the other by
``evalkit.runner.run`` with its own options, so each resumes on its own when the same command runs again (a
complete run sends nothing). Then one grid per metric shows the models side by side (languages across), and
``DIR/compare.html`` compares every model with the first one (the baseline), as ``evalkit compare`` does.

The exit code is the worst of the runs: 3 when any run could not complete (the others still run), 2 when one
had bad input (a missing local model file, say); 130 when interrupted (the remaining models do not start).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from evalkit.cli._common import fail, safe_text
from evalkit.cli._format import metric_tables
from evalkit.errors import EvalkitError, UsageError

if TYPE_CHECKING:
    from evalkit.results import Prices, Summary
    from evalkit.runner import RunOptions
    from evalkit.suite import LoadedSuite

MAX_SLUG = 80
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
# Names a folder in DIR may not take: the comparison report, and devices on Windows (``con``, ``con.txt``...).
_TAKEN = {"compare.html", "compare.md"}
_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def model_slug(name: str) -> str:
    """The folder of ``name``'s run: lower-case ASCII letters, digits, ``.``, ``_`` and ``-``, at most 80
    characters, starting with a letter or digit. A name that is already such a slug is kept; any other gets
    a hash of the full name appended (``meta-llama/Llama-3`` → ``meta-llama-llama-3-<hash>``), so two names
    never share a folder, on case-insensitive file systems included."""
    slug = _UNSAFE.sub("-", name.lower()).strip("-._")
    if slug == name and len(slug) <= MAX_SLUG and slug not in _TAKEN and slug.split(".")[0] not in _DEVICES:
        return slug
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem = slug[:MAX_SLUG - len(digest) - 1].rstrip("-._") or "model"
    return f"{stem}-{digest}"


def model_slugs(names: Sequence[str]) -> list[str]:
    """:func:`model_slug` of each name (``UsageError`` for a name given twice or an empty one)."""
    slugs: dict[str, str] = {}
    for name in names:
        if not name.strip():
            raise UsageError("--model: a model name cannot be empty")
        slug = model_slug(name)
        if slug in slugs:
            if slugs[slug] == name:
                raise UsageError(f"--model {name!r} is given twice; name each model once")
            raise UsageError(f"--model {name!r} and {slugs[slug]!r} would share the folder {slug!r}")  # a hash clash
        slugs[slug] = name
    return list(slugs)


@dataclass
class ModelRun:
    """One model's run and how it ended (the exit code it alone would have given, 130 when interrupted)."""

    model: str
    out_dir: Path
    code: int = 0


def check_prices(price_in: float | None, price_out: float | None) -> None:
    if price_in is not None or price_out is not None:
        raise UsageError("--price-in/--price-out price a single model; with several --model give --prices FILE "
                         "(prices per model, see docs/results-format.md)")


def run_models(suite: LoadedSuite, models: Sequence[str], out_dir: Path,
               options_for: Callable[[str, Path], RunOptions],
               prices_for: Callable[[str, Path], Prices | None], *,
               write_report: bool, dry_run: bool, prices_file: Path | None = None) -> int:
    """Run ``suite`` once per model into ``out_dir/<slug>``, then show and compare the runs. Returns the exit code."""
    from evalkit.cli._cost import dry_run_command
    from evalkit.cli._run import run_and_record
    from evalkit.results import MANIFEST
    from evalkit.validate import check_static

    if (out_dir / MANIFEST).exists():  # the runs would nest in a run
        raise UsageError(f"--out {out_dir} holds a single model's run; give several --model another --out")
    errors = check_static(suite)  # the suite's own problems: said once, not once per model
    if errors:
        raise errors[0]
    runs = [ModelRun(model, out_dir / slug) for model, slug in zip(models, model_slugs(models), strict=True)]
    prices = [prices_for(r.model, r.out_dir) for r in runs]  # a model missing from --prices: before any run
    for i, (this, price) in enumerate(zip(runs, prices, strict=True), 1):
        click.echo(f"model {i}/{len(runs)}: {safe_text(this.model)} -> {this.out_dir}", err=True)
        options = options_for(this.model, this.out_dir)
        if dry_run:
            dry_run_command(suite, options, price, prices_file)
            continue
        try:
            outcome = run_and_record(suite, options, price, prices_file)  # the file prices the judges too
        except EvalkitError as exc:  # could not complete, or this model's own bad input (a missing local model
            this.code = fail(exc)  # file, a folder in use): the next model still runs
            continue
        if outcome.interrupted:
            this.code = 130
            argv = outcome.manifest.argv or ["evalkit", "run", str(suite.path), "--out", str(out_dir),
                                             *(arg for r in runs for arg in ("--model", r.model))]
            resume = shlex.join(argv)
            click.echo(f"interrupted; resume with: {safe_text(resume)}", err=True)
            return 130
    if dry_run:
        return 0
    _print_grid(runs)
    code = max(r.code for r in runs)
    return max(code, _compare(runs, out_dir / "compare.html" if write_report else None))


def _print_grid(runs: Sequence[ModelRun]) -> None:
    from evalkit.results import read_manifest, read_summary

    shown: list[tuple[str, Summary, list[str], list[str]]] = []
    for r in runs:
        try:
            manifest = read_manifest(r.out_dir)
            shown.append((r.model, read_summary(r.out_dir), manifest.languages, manifest.variants))
        except (EvalkitError, OSError):  # nothing was run for this model (its error was said)
            continue
    for line in models_grid(shown):
        click.echo(line)


def models_grid(runs: Sequence[tuple[str, Summary, Sequence[str], Sequence[str]]]) -> list[str]:
    """One small table per metric: languages down (one row per language and prompt variant when there are
    several variants), the models side by side across, in the suite's and the command line's order."""
    metrics: dict[str, dict[tuple[int, str, str], float | None]] = {}
    languages: dict[str, None] = {}
    variants: dict[str, None] = {}
    for index, (_, summary, langs, names) in enumerate(runs):
        languages.update(dict.fromkeys(langs))
        variants.update(dict.fromkeys(names))
        for cell in summary.cells:
            metrics.setdefault(cell.metric, {})[(index, cell.variant, cell.language)] = cell.value
            languages[cell.language] = None
            variants[cell.variant] = None
    present = {(v, c) for cells in metrics.values() for (_, v, c) in cells}
    rows = [(v, c) for v in variants for c in languages if (v, c) in present]
    several = len({v for v, _ in rows}) > 1
    # Names come from the suite and the command line: shown escaped, and measured as shown.
    return metric_tables(
        [(safe_text(m), [[values.get((i, v, c)) for i in range(len(runs))] for v, c in rows])
         for m, values in metrics.items()],
        [safe_text(f"{c} {v}" if several else c) for v, c in rows], [safe_text(model) for model, *_ in runs])


def _compare(runs: Sequence[ModelRun], target: Path | None) -> int:
    """Every complete run compared with the first complete one (the first model's, unless it could not
    complete); the report to ``target`` (None: terminal only). Returns 0, or the comparison's error code."""
    from evalkit.cli._compare import print_comparison
    from evalkit.compare import compare_runs
    from evalkit.report import write_compare_report

    complete = [r for r in runs if r.code == 0]
    left_out = [r.model for r in runs if r.code != 0]
    if len(complete) < 2:
        click.echo("no comparison: fewer than two models' runs are complete", err=True)
        return 0
    if left_out:
        click.echo("comparison without " + ", ".join(safe_text(m) for m in left_out)
                   + " (could not complete)", err=True)
    base = complete[0]
    try:
        comparisons = [compare_runs(base.out_dir, cand.out_dir, base_label=base.model, cand_label=cand.model)
                       for cand in complete[1:]]
        if target is not None:
            write_compare_report(comparisons, target)
    except EvalkitError as exc:
        return fail(exc)
    for comparison in comparisons:
        print_comparison(comparison)
    if target is not None:
        click.echo(f"comparison: {target}")
    return 0
