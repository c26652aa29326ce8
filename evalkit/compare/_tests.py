"""Stage 2 of a comparison: one paired test per (variant, language, metric) cell, before any correction.

Corpus metrics: a paired bootstrap over items of summed sufficient statistics (an item's repeats
summed).  Binary metrics: exact McNemar without repeats; with repeats, a paired bootstrap of per-item
pass rates.  All bootstrap cells go through one ``paired_bootstraps`` call.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from evalkit.compare._align import Clustered, GroupKey, common_scorers
from evalkit.compare._model import Correction, ItemPair, RunData
from evalkit.results import ItemResult, ScorerBook, ScorerRecord
from evalkit.stats import (
    PairedComparison,
    PairedInput,
    ScoreFn,
    mean_score_fn,
    mean_stats,
    paired_binary,
    paired_bootstraps,
)


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


class RateCache:
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
class Options:
    alpha: float
    n_resamples: int
    seed: int
    correction: Correction
    aggregate: bool
    max_score_flips: int


def cell_signature(base: RunData, cand: RunData, label: str, language: str) -> str | None:
    sig = cand.manifest.signatures.get(label, {}).get(language)
    return sig or base.manifest.signatures.get(label, {}).get(language)


Raw = tuple[GroupKey, ScorerRecord, PairedComparison, int]


def raw_results(base: RunData, cand: RunData, clustered: Clustered, rates: RateCache,
                 opts: Options) -> list[Raw]:
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
        for rec in common_scorers(base, cand):
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
