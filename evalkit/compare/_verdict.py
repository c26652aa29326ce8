"""Stage 3 of a comparison: one multiple-comparison correction over all cells, the regressions and
improvements it finds, the items that flipped, and :func:`compare_runs`, which runs the three stages."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

from evalkit.compare._align import (
    Clustered,
    align_items,
    check_variants,
    cluster_items,
    common_scorers,
    find_incompatibilities,
    group_pairs,
    split_errors,
)
from evalkit.compare._model import (
    CORRECTION_NAMES,
    Comparison,
    Correction,
    Flip,
    ItemPair,
    MetricComparison,
    RunData,
    load_run,
    results_problem,
)
from evalkit.compare._tests import Options, RateCache, cell_signature, raw_results
from evalkit.errors import IncompatibleRuns, UsageError
from evalkit.results import ScorerRecord
from evalkit.stats import adjust

_FLIP_ORDER: dict[str, int] = {"pass_to_fail": 0, "score_drop": 1, "fail_to_pass": 2, "score_gain": 3}


def _cells(base: RunData, cand: RunData, clustered: Clustered, rates: RateCache,
           opts: Options) -> list[MetricComparison]:
    raw = raw_results(base, cand, clustered, rates, opts)
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
                signature=cell_signature(base, cand, rec.label, key[1]) if rec.kind == "corpus" else None,
                variant=key[0],
                repeats=repeats,
            )
        )
    return cells


# --- flips -----------------------------------------------------------------------------------------


def _flips(base: RunData, cand: RunData, clustered: Clustered, rates: RateCache, opts: Options) -> list[Flip]:
    flips: list[Flip] = []
    for key in clustered:
        for rec in common_scorers(base, cand):
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
        check_variants(base, variants[0])
        check_variants(cand, variants[1])
    opts = Options(alpha, n_resamples, seed, correction, aggregate_repeats, max_score_flips)
    pairs, unmatched_base, unmatched_cand = align_items(base, cand, variants)
    reasons = find_incompatibilities(base, cand, pairs)
    if reasons and not force:
        raise IncompatibleRuns(
            f"cannot compare {cand.path} with {base.path}: " + "; ".join(reasons) + " (use --force to compare anyway)"
        )
    ok_pairs, errors_base, errors_cand = split_errors(pairs)
    clustered = {key: cluster_items(pairs, opts.aggregate) for key, pairs in group_pairs(ok_pairs).items()}
    rates = RateCache(clustered)
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
        problem = results_problem(run)
        if problem is not None:
            notes.append(f"the {name} {problem}")
    return notes
