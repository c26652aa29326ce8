"""The one rule for ``complete``: every planned item id has exactly one line in ``results.jsonl``.

:class:`IdTally` is the only place that counts it. The runner (at the end of a run, and when a resume looks at what
it found), the gate (``evalkit.compare.results_problem``) and ``evalkit merge`` each stream the lines through an
``IdTally`` and read its counts, its verdict (:attr:`IdTally.complete`) and its wording (:meth:`IdTally.problem`),
so they cannot disagree. :func:`summarize_file` is how a run and a merge write their final counts and summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from evalkit.errors import ResultsError
from evalkit.results._models import Counts, ItemResult, RunManifest, Summary
from evalkit.results._summary import summarize

RESULTS_FILE = "results.jsonl"


class IdTally:
    """Counts, while lines stream past, what ``complete`` needs, and the counts a manifest records.

    ``planned`` is the set of planned ids, or only their number when the ids are not known (a run written before
    manifests recorded them: then extra ids are counted as unplanned without knowing which). ``run_key``: lines
    carrying another run's key are counted as ``foreign`` and fill no planned item (a line without a key, written
    before keys existed, is taken as this run's).

    Per line: a damaged line (not a result) is ``damaged``; a result is ``done`` (and ``failed`` / ``cached``);
    of another run, ``foreign``; else its id, if seen before, a ``duplicate``; else, if not planned, ``unplanned``.
    """

    def __init__(self, planned: Collection[str] | int, run_key: str | None = None) -> None:
        self.planned_ids = None if isinstance(planned, int) else planned
        self.planned = planned if isinstance(planned, int) else len(planned)
        self.run_key = run_key
        self.seen: set[str] = set()
        self.done = self.failed = self.cached = 0
        self.damaged = self.duplicates = self.foreign = self._unplanned = 0
        self.errors_by_kind: Counter[str] = Counter()

    # --- feeding -------------------------------------------------------------------------------------------

    def add(self, result: ItemResult) -> None:
        self.done += 1
        self.cached += result.cached
        if result.error is not None:
            self.failed += 1
            self.errors_by_kind[result.error.kind] += 1
        if self.run_key is not None and result.run_key is not None and result.run_key != self.run_key:
            self.foreign += 1
        elif result.item_id in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(result.item_id)
            if self.planned_ids is not None and result.item_id not in self.planned_ids:
                self._unplanned += 1

    def take(self, raw: bytes) -> ItemResult | None:
        """One raw line of ``results.jsonl`` counted: the result, or None (blank, or counted as damaged)."""
        if not raw.strip():
            return None
        try:
            result = ItemResult.model_validate_json(raw)
        except ValidationError:
            self.damaged += 1
            return None
        self.add(result)
        return result

    def count(self, results: Iterable[ItemResult]) -> Iterator[ItemResult]:
        for result in results:
            self.add(result)
            yield result

    def read(self, path: Path) -> Iterator[ItemResult]:
        """Every result line of ``path``, counted; damaged lines (a torn last one included) are counted, not
        raised, so every reader of a damaged file reaches the same verdict."""
        if not path.exists():
            raise ResultsError(f"{path}: not found")
        with path.open("rb") as handle:
            for raw in handle:
                result = self.take(raw)
                if result is not None:
                    yield result

    # --- the verdict -----------------------------------------------------------------------------------------

    @property
    def unplanned(self) -> int:
        if self.planned_ids is None:
            return max(0, len(self.seen) - self.planned)
        return self._unplanned

    @property
    def missing(self) -> int:
        return max(0, self.planned - (len(self.seen) - self.unplanned))

    @property
    def complete(self) -> bool:
        return not (self.missing or self.duplicates or self.unplanned or self.foreign or self.damaged)

    def counts(self, quarantined: int = 0) -> Counts:
        """The counts block of a manifest (``quarantined``: lines a resume set aside, not in the file)."""
        return Counts(planned=self.planned, done=self.done, failed=self.failed, cached=self.cached,
                      errors_by_kind=dict(self.errors_by_kind), missing=self.missing, duplicates=self.duplicates,
                      unplanned=self.unplanned, foreign=self.foreign, damaged=self.damaged, quarantined=quarantined)

    def describe(self) -> str:
        """What keeps the lines from being complete, e.g. "17 of 18 planned items, 1 duplicate line and 1 damaged
        line" ("all 18 planned items" when complete)."""
        have = self.planned - self.missing
        parts = [f"{have} of {self.planned} planned items" if self.missing else f"all {have} planned items"]
        for n, one, many in [(self.duplicates, "duplicate line", "duplicate lines"),
                             (self.unplanned, "unplanned item id", "unplanned item ids"),
                             (self.foreign, "line of another run", "lines of another run"),
                             (self.damaged, "damaged line", "damaged lines")]:
            if n:
                parts.append(f"{n} {one if n == 1 else many}")
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def problem(self) -> str | None:
        """None when complete, else e.g. "results.jsonl holds 17 of 18 planned items and 1 duplicate line"."""
        return None if self.complete else f"{RESULTS_FILE} holds {self.describe()}"


def tally_for(manifest: RunManifest) -> IdTally:
    """An empty tally of ``manifest``'s plan: its planned ids when it records them, else their number."""
    planned: Collection[str] | int = manifest.counts.planned
    if manifest.planned_ids is not None:
        planned = set(manifest.planned_ids)
    return IdTally(planned, manifest.run_key)


def summarize_file(manifest: RunManifest, source: Path | Iterable[ItemResult],
                   tally: IdTally) -> tuple[RunManifest, Summary]:
    """One pass over ``source`` (a results file, or the results as they are written to one): the summary, and
    ``manifest`` with its signatures and the counts of ``tally`` (``quarantined`` kept from ``manifest``). What a
    run and a merge write, from the same code."""
    results = tally.read(source) if isinstance(source, Path) else tally.count(source)
    summary = summarize(manifest, results)
    signatures: dict[str, dict[str, str]] = {}
    for cell in summary.cells:
        if cell.signature:
            signatures.setdefault(cell.metric, {})[cell.language] = cell.signature
    counts = tally.counts(manifest.counts.quarantined)
    return manifest.model_copy(update={"counts": counts, "signatures": signatures}), summary


def summarize_run(manifest: RunManifest, results: Iterable[ItemResult]) -> tuple[RunManifest, Summary]:
    """:func:`summarize_file` of ``results``, counted against ``manifest``'s own plan."""
    return summarize_file(manifest, results, tally_for(manifest))
