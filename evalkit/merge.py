"""Combine shard runs (``evalkit run --shard K/N``) into one run directory."""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import IncompatibleRuns, UsageError
from evalkit.results import (
    MANIFEST,
    RESULTS,
    SUMMARY,
    Counts,
    ResultsWriter,
    RunManifest,
    iter_results,
    latest_by_item,
    read_manifest,
    summarize_run,
    write_json_atomic,
)


def _identity(m: RunManifest) -> tuple[object, ...]:
    return (m.suite.sha256, m.model.name, m.model.base_url, m.model.params, m.languages, m.variants, m.repeats,
            [r.model_dump() for r in m.scorers])


def merge_runs(run_dirs: list[Path], out_dir: Path) -> RunManifest:
    """Merge results of runs of the same suite, model and settings; the last line per item wins."""
    if not run_dirs:
        raise UsageError("merge needs at least one run directory")
    manifests = [read_manifest(d) for d in run_dirs]
    first = manifests[0]
    for d, m in zip(run_dirs[1:], manifests[1:], strict=True):
        if _identity(m) != _identity(first):
            raise IncompatibleRuns(f"{d} is not a shard of the same suite, model and settings as {run_dirs[0]}")
    if out_dir.resolve() in {d.resolve() for d in run_dirs}:
        raise UsageError("--out must be a new directory, not one of the inputs")
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / RESULTS).exists():
        raise UsageError(f"{out_dir} already holds results; choose a new --out directory")
    writer = ResultsWriter(out_dir / RESULTS)
    seen: set[str] = set()
    try:
        for d in run_dirs:
            for result in latest_by_item(d / RESULTS).values():
                if result.item_id not in seen:
                    seen.add(result.item_id)
                    writer.write(result)
    finally:
        writer.close()
    statuses = {m.status for m in manifests}
    merged = first.model_copy(
        update={
            "shard": None,
            "started_at": min(m.started_at for m in manifests),
            "finished_at": max((m.finished_at or m.started_at) for m in manifests),
            "status": "complete" if statuses == {"complete"} else sorted(statuses - {"complete"})[0],
            "counts": Counts(planned=sum(m.counts.planned for m in manifests)),
            "argv": ["evalkit", "merge", *map(str, run_dirs), "--out", str(out_dir)],
        }
    )
    merged, summary = summarize_run(merged, iter_results(out_dir / RESULTS))
    write_json_atomic(out_dir / MANIFEST, merged)
    write_json_atomic(out_dir / SUMMARY, summary)
    return merged
