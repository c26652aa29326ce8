"""Combine shard runs (``evalkit run --shard K/N``) into one run directory.

Before anything is written the inputs are checked (``IncompatibleRuns``, exit 2):

* one suite (sha256), model, endpoint, parameters, languages, variants, repeats and scorers;
* shards ``K/N`` of one ``N``, each ``K`` at most once (or a single unsharded run);
* every item of a shard belongs to that shard, and no item id is in two inputs.

A merge is ``complete`` only when every shard 1..N is there, every input is complete (its
status, and as many distinct item ids in ``results.jsonl`` as it planned) and the merged file holds
every planned item once. Otherwise the merged run is written with status ``incomplete`` and
``abort_reason`` saying why (``shard 2/2 is missing``); ``counts.planned`` is then the whole plan,
re-counted from the suite recorded in the manifest when that is possible (see :func:`_whole_plan`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from evalkit.compare import RunData, load_run
from evalkit.errors import EvalkitError, IncompatibleRuns, UsageError
from evalkit.items import Shard
from evalkit.results import (
    MANIFEST,
    RESULTS,
    SUMMARY,
    Counts,
    ResultsWriter,
    RunManifest,
    iter_results,
    summarize_run,
    write_json_atomic,
)

__all__ = ["merge_runs"]


def _differences(m: RunManifest, first: RunManifest) -> list[str]:
    """What makes ``m`` a different run from ``first`` (empty when they are shards of one run)."""
    out = []
    if m.suite.sha256 != first.suite.sha256:
        out.append(f"the suite differs ({m.suite.name} sha256 {m.suite.sha256[:12]} vs "
                   f"{first.suite.name} sha256 {first.suite.sha256[:12]})")
    if m.model.name != first.model.name:
        out.append(f"the model differs ({m.model.name!r} vs {first.model.name!r})")
    if m.model.base_url != first.model.base_url:
        out.append(f"the model endpoint differs ({m.model.base_url} vs {first.model.base_url})")
    if m.model.params != first.model.params:
        out.append(f"the model parameters differ ({m.model.params} vs {first.model.params})")
    for what, mine, theirs in [("languages", m.languages, first.languages), ("prompt variants", m.variants,
                               first.variants), ("repeats", m.repeats, first.repeats)]:
        if mine != theirs:
            out.append(f"the {what} differ ({mine} vs {theirs})")
    if [r.model_dump() for r in m.scorers] != [r.model_dump() for r in first.scorers]:
        out.append("the scorers differ")
    return out


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
    items, planned = len(run.results), m.counts.planned
    if items < planned:
        missing = planned - items
        return [f"{run.path} holds {missing} item{'s' if missing > 1 else ''} fewer than planned"]
    if items > planned:
        return [f"{run.path} holds {items - planned} item ids more than planned"]
    return []


def _whole_plan(m: RunManifest, count: int, present: dict[int, int]) -> tuple[int | None, str]:
    """The planned items of all ``count`` shards, re-counted from the suite the shards ran, or None and why.

    Shard manifests record only their own planned count, and not every selection (``--limit``), so the
    count is trusted only when it reproduces the planned count of every shard that is there."""
    from evalkit.items import Planner, Selection
    from evalkit.suite import load_suite

    path = Path(m.suite.path)
    if not path.exists():
        return None, f"suite {path} not found"
    try:
        loaded = load_suite(path)
        if loaded.sha256 != m.suite.sha256:
            return None, f"suite {path} changed since the shards ran"
        planner = Planner(loaded, Selection(languages=m.languages, prompts=m.variants, repeats=m.repeats))
        # The shard of an item, as Shard.contains decides it.
        per_shard = Counter(int(item.item_id[:12], 16) % count + 1 for item in planner.iter_items())
    except EvalkitError as exc:
        return None, f"suite {path} cannot be planned: {exc}"
    if any(per_shard[k] != planned for k, planned in present.items()):
        return None, "the shards were run with a selection (e.g. --limit) the suite alone does not reproduce"
    return sum(per_shard.values()), ""


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
    planned = sum(run.manifest.counts.planned for run in runs)
    missing = [k for k in range(1, count + 1) if k not in by_index]
    if missing:
        problems.insert(0, _plural(missing, count))
        present = {k: run.manifest.counts.planned for k, run in by_index.items()}
        whole, why = _whole_plan(first.manifest, count, present)
        if whole is None:
            problems.append(f"the planned count covers only the shards given ({why})")
        else:
            planned = whole

    out_dir.mkdir(parents=True, exist_ok=True)
    writer = ResultsWriter(out_dir / RESULTS)
    try:
        for run in runs:
            for result in run.results:
                writer.write(result)
    finally:
        writer.close()
    written = sum(len(run.results) for run in runs)
    if not problems and written != planned:
        problems.append(f"the merged run holds {written} of {planned} planned items")
    merged = first.manifest.model_copy(
        update={
            "shard": None,
            "started_at": min(run.manifest.started_at for run in runs),
            "finished_at": max((run.manifest.finished_at or run.manifest.started_at) for run in runs),
            "status": "incomplete" if problems else "complete",
            "abort_reason": "; ".join(problems) or None,
            "counts": Counts(planned=planned),
            "argv": ["evalkit", "merge", *map(str, run_dirs), "--out", str(out_dir)],
        }
    )
    merged, summary = summarize_run(merged, iter_results(out_dir / RESULTS))
    write_json_atomic(out_dir / MANIFEST, merged)
    write_json_atomic(out_dir / SUMMARY, summary)
    return merged
