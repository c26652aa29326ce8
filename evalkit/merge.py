"""Combine shard runs (``evalkit run --shard K/N``) into one run directory.

Before anything is written the inputs are checked (``IncompatibleRuns``, exit 2, one line naming both inputs and
what differs):

* one suite (sha256), model (provider, name), endpoint, parameters, selection (languages, variants, repeats,
  ``--limit``), scorers, sacrebleu version and prices (equal, or all unknown);
* shards ``K/N`` of one ``N``, each ``K`` at most once (or a single unsharded run);
* every item of a shard belongs to that shard, and no item id is in two inputs.

A merge is ``complete`` only when every shard 1..N is there, every input is complete (its status, and its
``results.jsonl`` as :class:`evalkit.results.IdTally` judges it against its plan) and the merged file holds every
planned item once. Otherwise the merged run is written with status ``incomplete`` and ``abort_reason`` saying why
(``shard 2/2 is missing``). The merged manifest's counts are a run's counts, from the same code
(:func:`evalkit.results.summarize_file`); ``planned_ids`` is the whole plan, re-made from the suite recorded in
the manifest when a shard is missing and that is possible (see :func:`_whole_plan`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from evalkit.compare import RunData, load_run
from evalkit.errors import EvalkitError, IncompatibleRuns, UsageError
from evalkit.items import Shard
from evalkit.results import (
    MANIFEST,
    RESULTS,
    SUMMARY,
    Counts,
    IdTally,
    ItemResult,
    Prices,
    ResultsWriter,
    RunManifest,
    summarize_file,
    write_json_atomic,
)

__all__ = ["merge_runs"]


def _differences(m: RunManifest, first: RunManifest) -> list[str]:
    """What makes ``m`` a different run from ``first`` (empty when they are shards of one run)."""
    out = []
    if m.suite.sha256 != first.suite.sha256:
        out.append(f"the suite differs ({m.suite.name} sha256 {m.suite.sha256[:12]} vs "
                   f"{first.suite.name} sha256 {first.suite.sha256[:12]})")
    if m.model.provider != first.model.provider:
        out.append(f"the model provider differs ({m.model.provider} vs {first.model.provider})")
    if m.model.name != first.model.name:
        out.append(f"the model differs ({m.model.name!r} vs {first.model.name!r})")
    if m.model.base_url != first.model.base_url:
        out.append(f"the model endpoint differs ({m.model.base_url} vs {first.model.base_url})")
    if m.model.params != first.model.params:
        out.append(f"the model parameters differ ({m.model.params} vs {first.model.params})")
    for what, mine, theirs in [("languages", m.languages, first.languages), ("prompt variants", m.variants,
                               first.variants), ("repeats", m.repeats, first.repeats), ("--limit values", m.limit,
                               first.limit)]:
        if mine != theirs:
            out.append(f"the {what} differ ({mine} vs {theirs})")
    if [r.model_dump() for r in m.scorers] != [r.model_dump() for r in first.scorers]:
        out.append("the scorers differ")
    if m.sacrebleu_version != first.sacrebleu_version:  # each line's BLEU/chrF statistics come from it
        out.append(f"the sacrebleu version differs ({m.sacrebleu_version} vs {first.sacrebleu_version})")
    if _price_key(m.prices) != _price_key(first.prices):
        out.append(f"the prices differ ({_show_prices(m.prices)} vs {_show_prices(first.prices)}; give every shard "
                   "the same --price-in/--price-out or --prices)")
    return out


def _price_key(p: Prices | None) -> tuple[str, float, float, str] | None:
    """What makes two shards' prices the same (where they came from does not)."""
    return None if p is None else (p.model, p.input_per_mtok, p.output_per_mtok, p.currency)


def _show_prices(p: Prices | None) -> str:
    if p is None:
        return "no prices"
    return f"{p.model} {p.currency} {p.input_per_mtok:g} in / {p.output_per_mtok:g} out per Mtok"


def _shards(runs: list[RunData]) -> tuple[int, dict[int, RunData]]:
    """``N`` and the input of each shard ``K`` (an unsharded run alone is shard 1/1)."""
    unsharded = [r for r in runs if r.manifest.shard is None]
    if unsharded:
        if len(runs) > 1:
            raise IncompatibleRuns(f"{unsharded[0].path} is not a shard (it was not run with --shard K/N): merge the "
                                   "shards K/N of one run, or give a single unsharded run")
        return 1, {1: runs[0]}
    first = runs[0]
    count = Shard.parse(str(first.manifest.shard)).count
    by_index: dict[int, RunData] = {}
    for run in runs:
        shard = Shard.parse(str(run.manifest.shard))
        if shard.count != count:
            raise IncompatibleRuns(f"{run.path} is shard {run.manifest.shard} but {first.path} is shard "
                                   f"{first.manifest.shard}: every input must be a shard of the same N")
        if shard.index in by_index:
            raise IncompatibleRuns(f"shard {shard.index}/{count} is given twice: {by_index[shard.index].path} and "
                                   f"{run.path}")
        by_index[shard.index] = run
        outside = [r.item_id for r in run.results if not shard.contains(r.item_id)]
        if outside:
            raise IncompatibleRuns(f"{run.path} holds {len(outside)} item(s) that are not in shard "
                                   f"{run.manifest.shard} (e.g. item {outside[0]})")
    return count, by_index


def _check_overlap(runs: list[RunData]) -> None:
    owner: dict[str, Path] = {}
    for run in runs:
        for r in run.results:
            if r.item_id in owner:
                raise IncompatibleRuns(f"item {r.item_id} is in both {owner[r.item_id]} and {run.path}")
            owner[r.item_id] = run.path


def _input_problems(run: RunData) -> list[str]:
    m = run.manifest
    if m.status != "complete":
        return [f"{run.path} is {m.status}"]
    problem = run.tally.problem() if run.tally is not None else None
    return [] if problem is None else [f"{run.path}: {problem}"]


def _whole_plan(m: RunManifest, count: int, present: dict[int, int]) -> tuple[set[str] | None, str]:
    """The planned item ids of all ``count`` shards, re-made from the suite the shards ran, or None and why.

    The count is trusted only when it reproduces the planned count of every shard that is there (not every
    selection is recorded in old manifests)."""
    from evalkit.items import Planner, Selection
    from evalkit.suite import load_suite

    path = Path(m.suite.path)
    if not path.exists():
        return None, f"suite {path} not found"
    try:
        loaded = load_suite(path)
        if loaded.sha256 != m.suite.sha256:
            return None, f"suite {path} changed since the shards ran"
        planner = Planner(loaded, Selection(languages=m.languages, prompts=m.variants, repeats=m.repeats,
                                            limit=m.limit))
        ids = {item.item_id for item in planner.iter_items()}
    except EvalkitError as exc:
        return None, f"suite {path} cannot be planned: {exc}"
    per_shard = Counter(int(item_id[:12], 16) % count + 1 for item_id in ids)  # as Shard.contains decides
    if any(per_shard[k] != planned for k, planned in present.items()):
        return None, "the shards were run with a selection (e.g. --limit) the suite alone does not reproduce"
    return ids, ""


def _given_plan(runs: list[RunData]) -> set[str] | int:
    """The planned ids of the inputs (their number when an input's manifest does not record them)."""
    if all(run.manifest.planned_ids is not None for run in runs):
        return {i for run in runs for i in run.manifest.planned_ids or ()}
    return sum(run.manifest.counts.planned for run in runs)


def _plural(missing: list[int], count: int) -> str:
    names = ", ".join(f"{k}/{count}" for k in missing)
    return f"shard {names} is missing" if len(missing) == 1 else f"shards {names} are missing"


def merge_runs(run_dirs: list[Path], out_dir: Path) -> RunManifest:
    """Merge the shards of one run into ``out_dir`` (the last line per item of each shard).

    Raises ``IncompatibleRuns`` (exit 2) for inputs that are not the shards of one run, ``UsageError``
    for a bad ``--out``. Returns the merged manifest: ``complete``, or ``incomplete`` with the reason
    in ``abort_reason`` (missing shards, incomplete inputs)."""
    if not run_dirs:
        raise UsageError("merge needs at least one run directory")
    if Path(out_dir).resolve() in {Path(d).resolve() for d in run_dirs}:
        raise UsageError("--out must be a new directory, not one of the inputs")
    runs = [load_run(Path(d)) for d in run_dirs]
    first = runs[0]
    for run in runs[1:]:
        diffs = _differences(run.manifest, first.manifest)
        if diffs:
            raise IncompatibleRuns(f"{run.path} is not a shard of the same run as {first.path}: " + "; ".join(diffs))
    count, by_index = _shards(runs)
    _check_overlap(runs)
    if (out_dir / RESULTS).exists():
        raise UsageError(f"{out_dir} already holds results; choose a new --out directory")

    problems = [p for run in runs for p in _input_problems(run)]
    plan = _given_plan(runs)
    missing = [k for k in range(1, count + 1) if k not in by_index]
    if missing:
        problems.insert(0, _plural(missing, count))
        present = {k: run.manifest.counts.planned for k, run in by_index.items()}
        whole, why = _whole_plan(first.manifest, count, present)
        if whole is None:
            problems.append(f"the planned count covers only the shards given ({why})")
        else:
            plan = whole

    out_dir.mkdir(parents=True, exist_ok=True)
    merged = first.manifest.model_copy(
        update={
            "shard": None,
            "started_at": min(run.manifest.started_at for run in runs),
            "finished_at": max((run.manifest.finished_at or run.manifest.started_at) for run in runs),
            "counts": Counts(planned=plan if isinstance(plan, int) else len(plan)),
            "planned_ids": None if isinstance(plan, int) else sorted(plan),
            "argv": ["evalkit", "merge", *map(str, run_dirs), "--out", str(out_dir)],
        }
    )
    writer = ResultsWriter(out_dir / RESULTS, flush_each=False)  # the manifest, written last, makes it a run

    def written() -> Iterator[ItemResult]:
        for run in runs:
            for result in run.results:
                writer.write(result)
                yield result

    tally = IdTally(plan, first.manifest.run_key)
    try:  # counted and summarized as they are written (the file is not read back)
        merged, summary = summarize_file(merged, written(), tally)
    finally:
        writer.close()
    if not tally.complete:
        problems.append(f"the merged {tally.problem()}")
    merged = merged.model_copy(update={"status": "incomplete" if problems else "complete",
                                       "abort_reason": "; ".join(problems) or None})
    write_json_atomic(out_dir / MANIFEST, merged)
    write_json_atomic(out_dir / SUMMARY, summary)
    return merged
