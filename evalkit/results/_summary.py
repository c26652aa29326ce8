"""Per variant × language × metric scores with 95% intervals, computed from what is on disk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalkit.results._judge_usage import JudgeUsageTally
from evalkit.results._models import (
    ErrorCell,
    ItemResult,
    MetricCell,
    RepeatItem,
    RunManifest,
    ScorerRecord,
    Summary,
)
from evalkit.results._usage import UsageTally
from evalkit.scoring import Scorer, build_scorer, recorded_scorer

if TYPE_CHECKING:
    import numpy as np

# numpy is imported where it is used: a run starts sending requests before it is needed.
ScoreFn = Callable[["np.ndarray"], float]

BOOTSTRAP_RESAMPLES = 1000


@dataclass
class _Group:
    planned: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    target: str | None = None
    # (item_id, stats): sorted by id before resampling so the interval does not depend on file order
    stats: dict[str, list[tuple[str, list[float]]]] = field(default_factory=lambda: defaultdict(list))
    num_refs: set[int] = field(default_factory=set)
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    case_ids: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # aligned with values
    wrong_language: int = 0


def scorer_record(name: str, options: dict[str, Any], language: str) -> ScorerRecord:
    """What the manifest stores about a scorer: enough to rebuild it (see ``ScorerBook``)."""
    scorer = build_scorer(name, options, language)
    return ScorerRecord(name=name, label=scorer.label, options=options, kind=scorer.kind,
                        higher_is_better=scorer.higher_is_better, plugin=getattr(scorer, "plugin", None),
                        aggregate=getattr(scorer, "aggregate_name", None))


def sacrebleu_version() -> str:
    from importlib.metadata import version

    return version("sacrebleu")


class ScorerBook:
    """Scorer objects rebuilt from the manifest, one per (label, target language)."""

    def __init__(self, records: list[ScorerRecord]) -> None:
        self.records = {r.label: r for r in records}
        self._cache: dict[tuple[str, str], Scorer] = {}

    def get(self, label: str, language: str) -> Scorer:
        key = (label, language)
        if key not in self._cache:
            rec = self.records[label]
            self._cache[key] = recorded_scorer(rec.name, rec.options, language, rec.aggregate)
        return self._cache[key]

    def score_fn(self, label: str, language: str) -> ScoreFn:
        """Summed sufficient statistics → corpus score for corpus metric ``label`` in ``language``."""
        from evalkit.stats import corpus_score_fn

        scorer = self.get(label, language)
        metric = getattr(scorer, "_metric", None)
        # BLEU, chrF and TER: sacrebleu's own formula, vectorised by evalkit.stats (checked against the
        # scalar path when built). BLEU's statistics are sums of integer counts, so the rounding that
        # BleuScorer.corpus_score applies first changes nothing.
        if metric is not None and type(metric).__name__ in ("BLEU", "CHRF", "TER"):
            return corpus_score_fn(metric)

        import numpy as np

        def score(summed: np.ndarray) -> float:
            return scorer.corpus_score(np.asarray(summed, dtype=float).tolist())

        return score


def group_results(results: Iterable[ItemResult]) -> dict[tuple[str, str], _Group]:
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for r in results:
        g = groups[(r.variant, r.language)]
        g.planned += 1
        g.target = g.target or r.target_language
        if r.error is not None:
            g.errors[r.error.kind] += 1
            continue
        g.num_refs.add(len(r.references))
        for label, st in r.stats.items():
            g.stats[label].append((r.item_id, st))
        for label, value in r.scores.items():
            if value is not None and label not in r.stats:
                g.values[label].append(value)
                g.case_ids[label].append(r.case_id)
        if r.wrong_language:
            g.wrong_language += 1
    return groups


def corpus_cell(
    variant: str,
    language: str,
    record: ScorerRecord,
    scorer: Scorer,
    score_fn: ScoreFn,
    rows: list[list[float]],
    num_refs: set[int],
    seed: int = 0,
) -> MetricCell:
    import numpy as np

    from evalkit.stats import bootstrap_ci

    stats = np.asarray(rows, dtype=float)
    est = bootstrap_ci(stats, score_fn, n_resamples=BOOTSTRAP_RESAMPLES, seed=seed)
    return MetricCell(
        variant=variant,
        language=language,
        metric=record.label,
        value=est.value,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        n=est.n,
        interval=f"bootstrap 95% ({BOOTSTRAP_RESAMPLES} resamples)",
        signature=scorer.signature(next(iter(num_refs)) if len(num_refs) == 1 else -1),
        higher_is_better=record.higher_is_better,
    )


def binary_cell(variant: str, language: str, record: ScorerRecord, values: list[float]) -> MetricCell:
    from evalkit.stats import wilson_interval

    n = len(values)
    passes = int(round(sum(values)))
    low, high = wilson_interval(passes, n) if n else (float("nan"), float("nan"))
    return MetricCell(
        variant=variant,
        language=language,
        metric=record.label,
        value=100.0 * passes / n if n else None,
        ci_low=100.0 * low if n else None,
        ci_high=100.0 * high if n else None,
        n=n,
        interval="Wilson 95%",
        higher_is_better=record.higher_is_better,
    )


def repeat_aggregates(variant: str, language: str, metric: str, case_ids: list[str],
                      values: list[float]) -> list[RepeatItem]:
    """Per-item pass rates over repeats, with Wilson intervals (see evalkit.stats.aggregate_repeats)."""
    from evalkit.stats import aggregate_repeats

    return [
        RepeatItem(variant=variant, language=language, case_id=agg.item_key, metric=metric, passes=agg.passes,
                   n=agg.n, rate=100.0 * agg.rate, ci_low=100.0 * agg.ci_low, ci_high=100.0 * agg.ci_high,
                   unstable=agg.unstable)
        for agg in aggregate_repeats(case_ids, [v >= 0.5 for v in values])
    ]


def summarize(manifest: RunManifest, results: Iterable[ItemResult]) -> Summary:
    book = ScorerBook(manifest.scorers)
    usage = UsageTally()
    judges = JudgeUsageTally(manifest.scorers)
    groups = group_results(usage.watch(judges.watch(results)))
    cells: list[MetricCell] = []
    errors: list[ErrorCell] = []
    wrong: dict[str, int] = defaultdict(int)
    repeat_items: list[RepeatItem] = []
    for (variant, language), g in sorted(groups.items()):
        target = g.target or language
        for record in manifest.scorers:
            if record.kind == "corpus":
                rows = [st for _, st in sorted(g.stats.get(record.label, []))]
                if rows:
                    cells.append(
                        corpus_cell(variant, language, record, book.get(record.label, target),
                                    book.score_fn(record.label, target), rows, g.num_refs)
                    )
                else:
                    cells.append(MetricCell(variant=variant, language=language, metric=record.label, value=None,
                                            higher_is_better=record.higher_is_better))
            else:
                cell = binary_cell(variant, language, record, g.values.get(record.label, []))
                if manifest.repeats > 1:
                    aggs = repeat_aggregates(variant, language, record.label, g.case_ids.get(record.label, []),
                                             g.values.get(record.label, []))
                    cell.unstable = sum(a.unstable for a in aggs)
                    repeat_items.extend(a for a in aggs if a.unstable)
                cells.append(cell)
        errors.append(
            ErrorCell(variant=variant, language=language, planned=g.planned, errors=sum(g.errors.values()),
                      by_kind=dict(g.errors))
        )
        wrong[language] += g.wrong_language
    return Summary(
        suite_sha256=manifest.suite.sha256,
        model=manifest.model.name,
        cells=cells,
        errors=errors,
        wrong_language=dict(wrong),
        repeats=manifest.repeats,
        repeat_items=repeat_items,
        usage=usage.cells(manifest.prices),
        judge_usage=judges.result(manifest.prices),
        prices=manifest.prices,
    )
