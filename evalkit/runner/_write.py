"""Stage 4, write: each result line appended (and counted) as it is made; at the end the manifest, the summary and
the report, computed from ``results.jsonl`` alone.

A run ends ``complete`` only when every planned item id has exactly one line in ``results.jsonl``; a run that
was not stopped early yet misses lines (or has extra ones) ends ``incomplete`` and the CLI exits 3.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from evalkit.errors import ResultsError, RunAborted, TooManyErrors
from evalkit.results import (
    MANIFEST,
    RESULTS,
    SUMMARY,
    IdTally,
    ItemResult,
    ResultsWriter,
    RunManifest,
    summarize_file,
    write_json_atomic,
)
from evalkit.runner._plan import now

MIN_ITEMS_BEFORE_ABORT = 10


class Recorder:
    """Appends result lines and keeps the run's counts: progress, and the error-rate limit."""

    def __init__(self, writer: ResultsWriter, counts: Counter[str], max_error_rate: float, out: Path,
                 progress: Callable[[int, int, Counter[str]], None] | None,
                 stop_with: Callable[[BaseException], None]) -> None:
        self.writer, self.counts, self.max_error_rate, self.out = writer, counts, max_error_rate, out
        self.progress, self.stop_with = progress, stop_with
        self.stopped = False

    def record(self, result: ItemResult) -> None:
        self.writer.write(result)
        counts = self.counts
        counts["done"] += 1
        if result.cached:
            counts["cached"] += 1
        if result.error is not None:
            counts["failed"] += 1
            counts["error:" + result.error.kind] += 1
            if result.error.kind == "quota_exceeded":
                self._check_quota(result.error.message)
            self._check_error_rate()
        if self.progress:
            self.progress(counts["done"], counts["todo"], counts)

    def _check_quota(self, message: str) -> None:
        """Every request so far refused for quota or billing (whatever the error-rate limit): the cause, once."""
        done = self.counts["done"]
        if self._judged() and self.counts["error:quota_exceeded"] == done:
            self._stop(f"every request was refused ({done} of {done}): {message}; stopped early "
                       f"(results so far are kept in {self.out})")

    def _check_error_rate(self) -> None:
        done, failed = self.counts["done"], self.counts["failed"]
        if self._judged() and failed / done > self.max_error_rate:
            kinds = ", ".join(
                f"{k.removeprefix('error:')} {v}" for k, v in sorted(self.counts.items()) if k.startswith("error:")
            )
            self._stop(f"{failed} of {done} items failed ({kinds}), more than the limit of "
                       f"{self.max_error_rate:.0%}; stopped early (results so far are kept in {self.out})")

    def _judged(self) -> bool:
        """Enough items are done to judge the run by its errors, and it was not stopped for them already (a run
        smaller than the minimum is judged once all its items are done)."""
        enough = min(MIN_ITEMS_BEFORE_ABORT, max(1, self.counts["todo"]))
        return self.counts["done"] >= enough and not self.stopped

    def _stop(self, message: str) -> None:
        self.stopped = True
        self.stop_with(TooManyErrors(message))


def finish(out: Path, manifest: RunManifest, planned: set[str], abort: BaseException | None, interrupted: bool,
           write_report: bool) -> tuple[RunManifest, BaseException | None]:
    """Write the final manifest, the summary and the report. Returns the manifest and the error the run ends with
    (the abort reason, or ``RunAborted`` when the results are incomplete; None when all is well)."""
    tally = IdTally(planned, manifest.run_key)
    stopped = "aborted" if abort is not None else ("interrupted" if interrupted else None)
    manifest = manifest.model_copy(update={"finished_at": now(), "status": stopped or "incomplete",
                                           "abort_reason": str(abort) if abort is not None else None})
    try:
        manifest, summary = summarize_file(manifest, out / RESULTS, tally)
    except ResultsError:
        write_json_atomic(out / MANIFEST, manifest)  # not left "running"
        raise
    update: dict[str, object] = {"status": stopped or "complete"}
    if stopped is None and not tally.complete:
        update.update(status="incomplete", abort_reason=tally.problem())
    manifest = manifest.model_copy(update=update)
    write_json_atomic(out / MANIFEST, manifest)
    write_json_atomic(out / SUMMARY, summary)
    if write_report:
        write_default_report(out)
    if abort is None and manifest.status == "incomplete":
        abort = RunAborted(f"{out} is incomplete: {tally.problem()} (was it changed by something "
                           "else during the run?); run the same command again to finish it")
    return manifest, abort


def preload_summary_libraries() -> None:
    def load() -> None:
        import evalkit.stats  # noqa: F401  (numpy and the bootstrap, needed only by the summary)

    threading.Thread(target=load, name="evalkit-preload", daemon=True).start()


def write_default_report(run_dir: Path) -> Path | None:
    """``report.html`` next to the results (skipped quietly when the report module is unavailable)."""
    try:
        from evalkit.report import write_run_report
    except ImportError:
        return None
    return write_run_report(run_dir, run_dir / "report.html")
