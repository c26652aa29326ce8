"""Compare two runs (or two prompt variants of one run) item by item, from what is on disk.

    load_run(dir) ─┐
                   ├─ align items (item_id, or case|language|repeat for variants) → ItemPair
    load_run(dir) ─┘      │
                          ├─ refuse incompatible runs (sacrebleu signatures, suite, scorers, no overlap)
                          ├─ per (variant, language, metric): paired bootstrap (corpus) / exact McNemar (binary)
                          ├─ one multiple-comparison correction over all cells (Holm or BH)
                          └─ flips: pass→fail, largest per-item score drops, then improvements

Repeats (``--repeat N``): a repeated item is one cluster.  Corpus metrics sum the
sufficient statistics of an item's repeats, so the bootstrap resamples *items*, not
repeats; binary metrics compare per-item pass rates (mean over repeats) with a paired
bootstrap, and an item counts as passing when it passes in more than half its repeats
(used for the pass→fail counts and the flips).  ``aggregate_repeats=False`` treats
every repeat as an independent item (anti-conservative; for diagnostics only).

A resampled p-value cannot go below ``1/(n_resamples+1)``; when no resample is as extreme as
the observed difference, ``paired_bootstrap`` estimates the tail with a normal approximation of
the bootstrap distribution, so that the multiple-comparison correction over many cells can still
flag a clear change (docs/statistics.md).

The library never prints or exits: bad input raises ``ResultsError``/``UsageError``,
incompatible runs ``IncompatibleRuns`` (exit 2) unless ``force=True``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from evalkit.errors import IncompatibleRuns, ResultsError, UsageError
from evalkit.results import MANIFEST, RESULTS, ItemResult, RunManifest, ScorerBook, ScorerRecord, read_manifest
from evalkit.results._store import latest_by_item
from evalkit.stats import (
    PairedComparison,
    PairedInput,
    ScoreFn,
    adjust,
    mean_score_fn,
    mean_stats,
    paired_binary,
    paired_bootstraps,
)

__all__ = [
    "Comparison",
    "Flip",
    "ItemPair",
    "MetricComparison",
    "RunData",
    "compare_runs",
    "load_run",
    "score_function",
]

Correction = Literal["holm", "bh"]
CORRECTION_NAMES = {"holm": "Holm–Bonferroni", "bh": "Benjamini–Hochberg"}
DISPLAY_NAMES = {"bleu": "BLEU", "chrf": "chrF", "chrf++": "chrF++", "ter": "TER"}


# --- reading runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunData:
    """Everything read from a run directory: the manifest and the latest line per item id."""

    path: Path
    manifest: RunManifest
    results: list[ItemResult]

    @property
    def label(self) -> str:
        """A short name for reports: the directory name."""
        return self.path.name or str(self.path)


def load_run(run_dir: Path) -> RunData:
    """Read ``manifest.json`` and ``results.jsonl`` of ``run_dir`` (``ResultsError`` when it is not a run)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: not a directory (expected an evalkit run directory)")
    if not (run_dir / MANIFEST).exists():
        raise ResultsError(f"{run_dir}: no {MANIFEST} (is this an evalkit run directory?)")
    manifest = read_manifest(run_dir)
    if not (run_dir / RESULTS).exists():
        raise ResultsError(f"{run_dir}: no {RESULTS} (the run has not written any results)")
    results = list(latest_by_item(run_dir / RESULTS).values())
    return RunData(run_dir, manifest, results)


# --- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemPair:
    """The same item in the base and the candidate run."""

    key: str  # item_id, or "case|language|repeat" when comparing two variants of one run
    language: str
    case_id: str
    repeat: int
    base: ItemResult
    cand: ItemResult
    variant: str | None = None  # the variant in both runs (None when comparing two variants)


@dataclass(frozen=True)
class MetricComparison:
    """One (variant, language, metric) cell of a comparison."""

    language: str
    metric: str
    higher_is_better: bool
    kind: Literal["corpus", "binary"]
    result: PairedComparison
    significant: bool  # p_adjusted < alpha
    regression: bool  # significant and in the bad direction
    signature: str | None
    variant: str | None = None  # None when comparing two variants (see Comparison.base_variant)
    repeats: int = 1  # repeats per item that were aggregated (1: none)

    @property
    def improvement(self) -> bool:
        """Significant and in the good direction."""
        return self.result.improvement


FlipKind = Literal["pass_to_fail", "fail_to_pass", "score_drop", "score_gain"]
_FLIP_ORDER: dict[str, int] = {"pass_to_fail": 0, "score_drop": 1, "fail_to_pass": 2, "score_gain": 3}


@dataclass(frozen=True)
class Flip:
    """An item whose pass/fail changed, or that lost/gained the most score on a corpus metric.

    Values are the item's own scores (0/1 for binary metrics, sentence-level scores for
    corpus metrics; means over repeats when repeats are aggregated); ``delta = cand - base``.
    """

    pair: ItemPair
    metric: str
    base_value: float | None
    cand_value: float | None
    delta: float
    kind: FlipKind

    @property
    def regression(self) -> bool:
        return self.kind in ("pass_to_fail", "score_drop")


@dataclass
class Comparison:
    """The comparison of a candidate run with a base run (see :func:`compare_runs`)."""

    base: RunData
    cand: RunData
    base_label: str
    cand_label: str
    base_variant: str | None
    cand_variant: str | None
    metrics: list[MetricComparison]
    flips: list[Flip]
    unmatched_base: int
    unmatched_cand: int
    errors_base: int
    errors_cand: int
    incompatibilities: list[str]
    forced: bool
    correction: str
    alpha: float
    n_resamples: int
    seed: int
    pairs: list[ItemPair] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)
    correction_method: Correction = "holm"

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.regression]

    def languages(self) -> list[str]:
        """Languages with at least one metric cell, in the base run's language order."""
        order = {lang: i for i, lang in enumerate(self.base.manifest.languages)}
        langs = {m.language for m in self.metrics}
        return sorted(langs, key=lambda x: (order.get(x, len(order)), x))

    def variants(self) -> list[str | None]:
        """Variants with metric cells (``[None]`` when comparing two variants)."""
        seen: dict[str | None, None] = {}
        for m in self.metrics:
            seen.setdefault(m.variant, None)
        return list(seen)

    def summary_lines(self) -> list[str]:
        """One PR-pasteable line per language (per variant and language when a run has several)."""
        several = len(self.variants()) > 1
        lines = []
        for variant in self.variants():
            for lang in self.languages():
                cells = [m for m in self.metrics if m.language == lang and m.variant == variant]
                cells.sort(key=lambda m: self._metric_order(m.metric))
                if not cells:
                    continue
                head = f"{lang} [{variant}]" if several and variant else lang
                lines.append(f"{head}: " + "; ".join(format_cell(m) for m in cells))
        return lines

    def _metric_order(self, label: str) -> int:
        labels = [r.label for r in self.base.manifest.scorers]
        return labels.index(label) if label in labels else len(labels)


# --- formatting ------------------------------------------------------------------------------------


def display_metric(label: str) -> str:
    """``chrf++`` → ``chrF++``; other labels unchanged."""
    return DISPLAY_NAMES.get(label, label)


def signed(x: float, digits: int = 1) -> str:
    """``-3.2`` → ``−3.2`` (Unicode minus), ``3.2`` → ``+3.2``."""
    if math.isnan(x):
        return "n/a"
    text = f"{x:+.{digits}f}"
    return text.replace("-", "−")


def plain(x: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}".replace("-", "−")


def format_p(p: float) -> str:
    if math.isnan(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def format_cell(m: MetricComparison) -> str:
    """``chrF++ 41.2 → 38.0 (−3.2, 95% CI −5.1..−1.4, p=0.003) ▼ regression`` (p adjusted)."""
    r = m.result
    unit = "%" if m.kind == "binary" else ""
    pts = " pts" if m.kind == "binary" else ""
    text = (
        f"{display_metric(m.metric)} {plain(r.base)}{unit} → {plain(r.cand)}{unit} "
        f"({signed(r.delta)}{pts}, 95% CI {plain(r.ci_low)}..{plain(r.ci_high)}, {format_p(r.p)}, n={r.n})"
    )
    if m.regression:
        text += " ▼ regression"
    elif m.improvement:
        text += " ▲ improvement"
    return text


# --- alignment -------------------------------------------------------------------------------------


def _align(base: RunData, cand: RunData, variants: tuple[str, str] | None) -> tuple[list[ItemPair], int, int]:
    if variants is None:
        b_index = {r.item_id: r for r in base.results}
        c_index = {r.item_id: r for r in cand.results}
    else:
        b_index = {_variant_key(r): r for r in base.results if r.variant == variants[0]}
        c_index = {_variant_key(r): r for r in cand.results if r.variant == variants[1]}
    pairs = [
        ItemPair(key, b.language, b.case_id, b.repeat, b, c_index[key], b.variant if variants is None else None)
        for key, b in b_index.items()
        if key in c_index
    ]
    matched = len(pairs)
    return pairs, len(b_index) - matched, len(c_index) - matched


def _variant_key(r: ItemResult) -> str:
    return f"{r.case_id}|{r.language}|{r.repeat}"


def _check_variants(run: RunData, variant: str) -> None:
    if variant not in run.manifest.variants:
        have = ", ".join(run.manifest.variants)
        raise UsageError(f"{run.path}: no prompt variant {variant!r} (the run has: {have})")


# --- compatibility ---------------------------------------------------------------------------------


def _common_scorers(base: RunData, cand: RunData) -> list[ScorerRecord]:
    cand_labels = {r.label for r in cand.manifest.scorers}
    return [r for r in base.manifest.scorers if r.label in cand_labels]


def _incompatibilities(base: RunData, cand: RunData, pairs: list[ItemPair]) -> list[str]:
    reasons = []
    bm, cm = base.manifest, cand.manifest
    if bm.suite.name != cm.suite.name:
        reasons.append(f"the suites differ: {bm.suite.name!r} vs {cm.suite.name!r}")
    cand_records = {r.label: r for r in cm.scorers}
    for rec in bm.scorers:
        other = cand_records.get(rec.label)
        if other is not None and (rec.name, rec.options) != (other.name, other.options):
            reasons.append(
                f"scorer {rec.label!r} is configured differently: "
                f"{rec.name} {rec.options} vs {other.name} {other.options}"
            )
    for label in sorted(set(bm.signatures) & set(cm.signatures)):
        for lang in sorted(set(bm.signatures[label]) & set(cm.signatures[label])):
            a, b = bm.signatures[label][lang], cm.signatures[label][lang]
            if a != b:
                reasons.append(f"{lang} {label}: sacrebleu signatures differ ({a} vs {b})")
    if not _common_scorers(base, cand):
        reasons.append("the runs have no metric in common")
    if not pairs:
        reasons.append(f"no items align ({len(base.results)} base items, {len(cand.results)} candidate items)")
    return reasons


# --- metric cells ----------------------------------------------------------------------------------

GroupKey = tuple[str | None, str]  # (variant or None, language)


def _clusters(pairs: Iterable[ItemPair], aggregate: bool) -> list[list[ItemPair]]:
    """Pairs grouped per item (all repeats of one case) when aggregating, else one pair each."""
    if not aggregate:
        return [[p] for p in pairs]
    groups: dict[str, list[ItemPair]] = defaultdict(list)
    for p in pairs:
        groups[p.case_id].append(p)
    return list(groups.values())


def score_function(book: ScorerBook, label: str, target: str) -> ScoreFn:
    """Summed sufficient statistics → corpus score for corpus metric ``label`` in ``target`` language."""
    return book.score_fn(label, target)


def _corpus_input(clusters: list[list[ItemPair]], rec: ScorerRecord, book: ScorerBook, language: str,
                  score_fns: dict[tuple[str, str], ScoreFn]) -> PairedInput:
    base_rows, cand_rows = _stat_rows(clusters, rec.label)
    target = language
    for cluster in clusters:  # the target language of the first usable item
        usable = [p for p in cluster if rec.label in p.base.stats and rec.label in p.cand.stats]
        if usable:
            target = usable[0].base.target_language
            break
    fn = score_fns.get((rec.label, target))
    if fn is None:  # built once per metric and target language (building checks the vectorised path)
        fn = score_fns[(rec.label, target)] = score_function(book, rec.label, target)
    return PairedInput(base_rows, cand_rows, fn, rec.label, rec.higher_is_better, language)


def _stat_rows(clusters: list[list[ItemPair]], label: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-item sufficient statistics of both sides (summed over an item's repeats), shape (n, k) each.

    Items where either side lacks statistics for ``label`` are left out. One array is built from
    a flat list of rows, and repeats are summed with one ``np.add.reduceat``: no per-item numpy call.
    """
    base: list[list[float]] = []
    cand: list[list[float]] = []
    starts: list[int] = []
    for cluster in clusters:
        first = True
        for p in cluster:
            b, c = p.base.stats.get(label), p.cand.stats.get(label)
            if b is None or c is None:
                continue
            if first:
                starts.append(len(base))
                first = False
            base.append(b)
            cand.append(c)
    k = len(base[0]) if base else 1
    b_arr = np.asarray(base, dtype=np.float64).reshape(-1, k)
    c_arr = np.asarray(cand, dtype=np.float64).reshape(-1, k)
    if len(starts) < len(base):  # some item has several repeats
        idx = np.asarray(starts, dtype=np.intp)
        b_arr, c_arr = np.add.reduceat(b_arr, idx, axis=0), np.add.reduceat(c_arr, idx, axis=0)
    return b_arr, c_arr


Rates = tuple[list[float], list[float], list[ItemPair]]
Clustered = dict[GroupKey, list[list[ItemPair]]]  # per group, the pairs of each item (see _clusters)


class _RateCache:
    """:func:`_binary_rates` per (group, scorer label), computed once for the cells and the flips."""

    def __init__(self, clustered: Clustered) -> None:
        self._clustered = clustered
        self._cache: dict[tuple[GroupKey, str], Rates] = {}

    def get(self, key: GroupKey, label: str) -> Rates:
        hit = self._cache.get((key, label))
        if hit is None:
            hit = self._cache[(key, label)] = _binary_rates(self._clustered[key], label)
        return hit


def _binary_rates(clusters: list[list[ItemPair]], label: str) -> Rates:
    """Per-item mean values (pass rates) of both sides, over pairs where both values exist."""
    base, cand, reps = [], [], []
    for cluster in clusters:
        if len(cluster) == 1:  # no repeats: the common case, kept free of per-item numpy calls
            p = cluster[0]
            bv, cv = p.base.scores.get(label), p.cand.scores.get(label)
            if bv is not None and cv is not None:
                base.append(float(bv))
                cand.append(float(cv))
                reps.append(p)
            continue
        usable = [p for p in cluster if p.base.scores.get(label) is not None and p.cand.scores.get(label) is not None]
        if not usable:
            continue
        base.append(float(np.mean([_value(p.base, label) for p in usable])))
        cand.append(float(np.mean([_value(p.cand, label) for p in usable])))
        reps.append(usable[0])
    return base, cand, reps


def _value(r: ItemResult, label: str) -> float:
    v = r.scores.get(label)
    return math.nan if v is None else float(v)


def _binary_cell(clusters: list[list[ItemPair]], rec: ScorerRecord, language: str,
                 rates: Rates) -> PairedComparison | PairedInput:
    """Exact McNemar without repeats; with repeats, the input of a paired bootstrap of pass rates."""
    base, cand, _ = rates
    repeated = any(len(c) > 1 for c in clusters)
    if not repeated:
        return paired_binary(np.asarray(base) >= 0.5, np.asarray(cand) >= 0.5, metric=rec.label, language=language)
    return PairedInput(mean_stats(base), mean_stats(cand), mean_score_fn(), rec.label, True, language)


def _pass_rate_result(result: PairedComparison, inp: PairedInput) -> PairedComparison:
    """A paired bootstrap of per-item pass rates, with pass→fail counts by majority of repeats."""
    b = np.asarray(inp.base)[:, 0] > 0.5
    c = np.asarray(inp.cand)[:, 0] > 0.5
    return dataclasses.replace(
        result,
        method=result.method.replace("paired bootstrap", "paired bootstrap of per-item pass rates over repeats", 1),
        n_pass_to_fail=int(np.count_nonzero(b & ~c)),
        n_fail_to_pass=int(np.count_nonzero(~b & c)),
    )


@dataclass(frozen=True)
class _Options:
    alpha: float
    n_resamples: int
    seed: int
    correction: Correction
    aggregate: bool
    max_score_flips: int


def _signature(base: RunData, cand: RunData, label: str, language: str) -> str | None:
    sig = cand.manifest.signatures.get(label, {}).get(language)
    return sig or base.manifest.signatures.get(label, {}).get(language)


Raw = tuple[GroupKey, ScorerRecord, PairedComparison, int]


def _raw_results(base: RunData, cand: RunData, clustered: Clustered, rates: _RateCache,
                 opts: _Options) -> list[Raw]:
    """Every (group, scorer) result before the correction, in group and scorer order.

    All bootstrap cells go through one ``paired_bootstraps`` call, so cells with the same number
    of items share one set of resamples (the same ones separate calls with the same seed draw).
    """
    book = ScorerBook(base.manifest.scorers)
    score_fns: dict[tuple[str, str], ScoreFn] = {}
    slots: list[tuple[GroupKey, ScorerRecord, int, PairedComparison | int]] = []
    inputs: list[PairedInput] = []
    for key, clusters in clustered.items():
        repeats = max((len(c) for c in clusters), default=1)
        for rec in _common_scorers(base, cand):
            cell: PairedInput | PairedComparison
            if rec.kind == "corpus":
                cell = _corpus_input(clusters, rec, book, key[1], score_fns)
            else:
                cell = _binary_cell(clusters, rec, key[1], rates.get(key, rec.label))
            if isinstance(cell, PairedInput):
                slots.append((key, rec, repeats, len(inputs)))
                inputs.append(cell)
            else:
                slots.append((key, rec, repeats, cell))
    boot = paired_bootstraps(inputs, n_resamples=opts.n_resamples, seed=opts.seed)
    raw: list[Raw] = []
    for key, rec, repeats, slot in slots:
        if isinstance(slot, PairedComparison):
            result = slot
        elif rec.kind == "corpus":
            result = boot[slot]
        else:
            result = _pass_rate_result(boot[slot], inputs[slot])
        if result.n > 0:
            raw.append((key, rec, result, repeats))
    return raw


def _cells(base: RunData, cand: RunData, clustered: Clustered, rates: _RateCache,
           opts: _Options) -> list[MetricComparison]:
    raw = _raw_results(base, cand, clustered, rates, opts)
    adjusted = adjust([r[2] for r in raw], opts.correction)
    cells = []
    for (key, rec, _, repeats), result in zip(raw, adjusted, strict=True):
        result = dataclasses.replace(result, alpha=opts.alpha)
        cells.append(
            MetricComparison(
                language=key[1],
                metric=rec.label,
                higher_is_better=rec.higher_is_better,
                kind=rec.kind,
                result=result,
                significant=result.significant,
                regression=result.regression,
                signature=_signature(base, cand, rec.label, key[1]) if rec.kind == "corpus" else None,
                variant=key[0],
                repeats=repeats,
            )
        )
    return cells


# --- flips -----------------------------------------------------------------------------------------


def _flips(base: RunData, cand: RunData, clustered: Clustered, rates: _RateCache, opts: _Options) -> list[Flip]:
    flips: list[Flip] = []
    for key in clustered:
        for rec in _common_scorers(base, cand):
            b, c, reps = rates.get(key, rec.label)
            if rec.kind == "binary":
                for pair, bv, cv in zip(reps, b, c, strict=True):
                    was, now = bv > 0.5, cv > 0.5  # majority of repeats (a single run: 0/1)
                    if was != now:
                        flips.append(Flip(pair, rec.label, bv, cv, cv - bv, "pass_to_fail" if was else "fail_to_pass"))
            else:
                flips.extend(_score_flips(reps, b, c, rec, opts.max_score_flips))
    flips.sort(key=_flip_sort_key)
    return flips


def _score_flips(reps: list[ItemPair], base: list[float], cand: list[float], rec: ScorerRecord,
                 limit: int) -> list[Flip]:
    sign = 1.0 if rec.higher_is_better else -1.0
    gains = [(sign * (cv - bv), pair, bv, cv) for pair, bv, cv in zip(reps, base, cand, strict=True)]
    gains = [g for g in gains if not math.isnan(g[0]) and g[0] != 0]
    gains.sort(key=lambda g: g[0])
    drops = [g for g in gains if g[0] < 0][:limit]
    ups = [g for g in reversed(gains) if g[0] > 0][:limit]
    out = [Flip(p, rec.label, bv, cv, cv - bv, "score_drop") for _, p, bv, cv in drops]
    out += [Flip(p, rec.label, bv, cv, cv - bv, "score_gain") for _, p, bv, cv in ups]
    return out


def _flip_sort_key(f: Flip) -> tuple[int, float, str, str, str]:
    magnitude = -abs(f.delta) if f.kind in ("score_drop", "score_gain") else 0.0
    return (_FLIP_ORDER[f.kind], magnitude, f.pair.language, f.metric, f.pair.key)


# --- entry point -----------------------------------------------------------------------------------


def _split_errors(pairs: list[ItemPair]) -> tuple[list[ItemPair], int, int]:
    ok = [p for p in pairs if p.base.ok and p.cand.ok]
    return ok, sum(1 for p in pairs if not p.base.ok), sum(1 for p in pairs if not p.cand.ok)


def _group(pairs: list[ItemPair]) -> dict[GroupKey, list[ItemPair]]:
    groups: dict[GroupKey, list[ItemPair]] = defaultdict(list)
    for p in pairs:
        groups[(p.variant, p.language)].append(p)
    return dict(groups)


def _sort_key(base: RunData) -> Callable[[MetricComparison], tuple[int, int, int, str, int]]:
    lang_order = {lang: i for i, lang in enumerate(base.manifest.languages)}
    var_order = {v: i for i, v in enumerate(base.manifest.variants)}
    labels = [r.label for r in base.manifest.scorers]

    def key(m: MetricComparison) -> tuple[int, int, int, str, int]:
        return (
            0 if m.regression else 1,
            lang_order.get(m.language, len(lang_order)),
            var_order.get(m.variant or "", -1),
            m.language,
            labels.index(m.metric) if m.metric in labels else len(labels),
        )

    return key


def compare_runs(
    base_dir: Path,
    cand_dir: Path,
    *,
    variants: tuple[str, str] | None = None,
    force: bool = False,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    seed: int = 0,
    correction: Correction = "holm",
    aggregate_repeats: bool = True,
    max_score_flips: int = 10,
    base_label: str | None = None,
    cand_label: str | None = None,
) -> Comparison:
    """Compare the candidate run in ``cand_dir`` with the base run in ``base_dir``.

    Without ``variants`` items align by ``item_id`` (every variant is compared with itself
    and metric cells are per variant, language and metric).  With ``variants=("a", "b")``
    variant ``a`` of the base run is compared with variant ``b`` of the candidate run (the
    two directories may be the same) and items align by case, language and repeat.

    Raises ``IncompatibleRuns`` when the runs should not be compared (different suites,
    sacrebleu signatures or scorer settings, nothing in common) unless ``force``; the reasons
    are kept in ``Comparison.incompatibilities`` either way.  All p-values are adjusted
    together (``correction``: Holm–Bonferroni or Benjamini–Hochberg) and a cell is a
    regression when its adjusted p is below ``alpha`` and the change is in the bad direction.
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1 (got {alpha})")
    if correction not in CORRECTION_NAMES:
        raise UsageError(f"unknown correction {correction!r}; use 'holm' or 'bh'")
    base = load_run(Path(base_dir))
    cand = base if variants and Path(cand_dir).resolve() == Path(base_dir).resolve() else load_run(Path(cand_dir))
    if variants is not None:
        _check_variants(base, variants[0])
        _check_variants(cand, variants[1])
    opts = _Options(alpha, n_resamples, seed, correction, aggregate_repeats, max_score_flips)
    pairs, unmatched_base, unmatched_cand = _align(base, cand, variants)
    reasons = _incompatibilities(base, cand, pairs)
    if reasons and not force:
        raise IncompatibleRuns(
            f"cannot compare {cand.path} with {base.path}: " + "; ".join(reasons) + " (use --force to compare anyway)"
        )
    ok_pairs, errors_base, errors_cand = _split_errors(pairs)
    clustered = {key: _clusters(pairs, opts.aggregate) for key, pairs in _group(ok_pairs).items()}
    rates = _RateCache(clustered)
    cells = _cells(base, cand, clustered, rates, opts)
    cells.sort(key=_sort_key(base))
    tests = sum(1 for c in cells if not math.isnan(c.result.p_value))
    return Comparison(
        base=base,
        cand=cand,
        base_label=base_label or _default_label(base, variants[0] if variants else None, cand),
        cand_label=cand_label or _default_label(cand, variants[1] if variants else None, base),
        base_variant=variants[0] if variants else None,
        cand_variant=variants[1] if variants else None,
        metrics=cells,
        flips=_flips(base, cand, clustered, rates, opts),
        unmatched_base=unmatched_base,
        unmatched_cand=unmatched_cand,
        errors_base=errors_base,
        errors_cand=errors_cand,
        incompatibilities=reasons,
        forced=force,
        correction=f"{CORRECTION_NAMES[correction]} over {tests} tests",
        alpha=alpha,
        n_resamples=n_resamples,
        seed=seed,
        pairs=pairs,
        notes=_notes(base, cand),
        correction_method=correction,
    )


def _default_label(run: RunData, variant: str | None, other: RunData) -> str:
    if variant is None:
        return run.label
    return variant if run.path == other.path else f"{run.label}:{variant}"


def _notes(base: RunData, cand: RunData) -> list[str]:
    notes = []
    b_labels = {r.label for r in base.manifest.scorers}
    c_labels = {r.label for r in cand.manifest.scorers}
    if b_labels - c_labels:
        notes.append("only in the base run (not compared): " + ", ".join(sorted(b_labels - c_labels)))
    if c_labels - b_labels:
        notes.append("only in the candidate run (not compared): " + ", ".join(sorted(c_labels - b_labels)))
    for run, name in ((base, "base"), (cand, "candidate")):
        if run.manifest.status != "complete":
            notes.append(f"the {name} run is {run.manifest.status}")
    return notes
