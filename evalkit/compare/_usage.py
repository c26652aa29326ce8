"""Usage deltas of a comparison: tokens, cost, latency and truncation per (variant, language), with paired
95% intervals over the items both runs answered (docs/results-format.md, docs/gates.md).

Mean measures (tokens per item, cost per item, truncation rate) use :func:`evalkit.stats.paired_bootstraps`
over the per-item values; latency percentiles resample the same pairs and take the percentile of each
resample.  Latency leaves out pairs answered from the response cache in either run (no timing of that run).
The unit is the same for every measure: with repeats aggregated (the default) a case is one unit, its value
the mean over its repeats (latency: over its repeats timed in both runs), so a case timed on three repeats
does not weigh three times as much as one timed once in the latency percentiles.
Cost needs the prices of both runs (each run at its own prices); without them there is no cost delta.
Every measure is "lower is better"; ``delta = cand - base``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from evalkit.compare._model import Comparison, ItemPair
from evalkit.results import ItemResult, Prices, cost_of
from evalkit.results._usage import item_tokens, percentile, plain_amount, signed_amount
from evalkit.stats import PairedInput, mean_score_fn, mean_stats, paired_bootstraps

#: Measure name -> unit shown after a value.
USAGE_MEASURES: dict[str, str] = {
    "tokens": "tokens/item",
    "prompt_tokens": "tokens/item",
    "completion_tokens": "tokens/item",
    "cost": "per item",
    "latency_p50_ms": "ms",
    "latency_p95_ms": "ms",
    "truncation_rate": "%",
}
MEAN_MEASURES = ("tokens", "prompt_tokens", "completion_tokens", "cost", "truncation_rate")
LATENCY_MEASURES = {"latency_p50_ms": 50.0, "latency_p95_ms": 95.0}
RESAMPLE_CELLS = 2_000_000  # values per block of percentile resamples


@dataclass(frozen=True)
class UsageDelta:
    """One (variant, language, measure) of a comparison. ``pct``: ``delta`` relative to ``base`` (percent)."""

    variant: str | None
    language: str
    measure: str
    base: float
    cand: float
    delta: float
    ci_low: float
    ci_high: float
    n: int
    p: float | None = None  # two-sided bootstrap p (None for percentiles)

    @property
    def pct(self) -> float | None:
        return None if self.base == 0 or math.isnan(self.base) else 100.0 * self.delta / self.base

    @property
    def pct_ci(self) -> tuple[float, float] | None:
        if self.base == 0 or math.isnan(self.base):
            return None
        return 100.0 * self.ci_low / self.base, 100.0 * self.ci_high / self.base


def _value(measure: str, r: ItemResult, prices: Prices | None) -> float | None:
    tokens = item_tokens(r)
    if measure == "truncation_rate":
        return 1.0 if r.truncated else 0.0
    if tokens is None:
        return None
    if measure == "tokens":
        return float(tokens[0] + tokens[1])
    if measure == "prompt_tokens":
        return float(tokens[0])
    if measure == "completion_tokens":
        return float(tokens[1])
    return cost_of(prices, tokens[0], tokens[1])  # cost


def _latency(r: ItemResult) -> float | None:
    return None if r.cached or r.latency_ms is None else r.latency_ms


def _clustered(values: list[tuple[str, float, float]], aggregate: bool) -> list[tuple[float, float]]:
    """(base, cand) per item; with ``aggregate`` the repeats of a case are one unit (their means)."""
    if not aggregate:
        return [(b, c) for _, b, c in values]
    clusters: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for case, b, c in values:
        clusters[case].append((b, c))
    return [(sum(b for b, _ in v) / len(v), sum(c for _, c in v) / len(v)) for v in clusters.values()]


def usage_deltas(comparison: Comparison, *, aggregate_repeats: bool = True) -> list[UsageDelta]:
    """The usage deltas of ``comparison`` (its item pairs, resamples and seed), per (variant, language).

    With ``aggregate_repeats`` (and ``--repeat N``) the repeats of a case are one unit of the bootstrap, as in
    the metric comparison: for the mean measures and for the latency percentiles, which are then percentiles
    over cases (each case's mean latency over its repeats timed in both runs), not over requests."""
    cached = comparison.usage_cache.get(aggregate_repeats)
    if cached is None:
        cached = comparison.usage_cache[aggregate_repeats] = _usage_deltas(comparison, aggregate_repeats)
    return list(cached)


def _usage_deltas(comparison: Comparison, aggregate_repeats: bool) -> list[UsageDelta]:
    prices = (comparison.base.manifest.prices, comparison.cand.manifest.prices)
    groups: dict[tuple[str | None, str], list[ItemPair]] = defaultdict(list)
    for pair in comparison.pairs:
        if pair.base.error is None and pair.cand.error is None:
            groups[(pair.variant, pair.language)].append(pair)
    order = {lang: i for i, lang in enumerate(comparison.base.manifest.languages)}
    keys = sorted(groups, key=lambda k: (order.get(k[1], len(order)), k[1], k[0] or ""))
    inputs: list[PairedInput] = []
    where: list[tuple[str | None, str, str]] = []
    out: list[UsageDelta] = []
    for variant, language in keys:
        pairs = groups[(variant, language)]
        for measure in MEAN_MEASURES:
            if measure == "cost" and None in prices:
                continue
            values = _clustered([(p.case_id, b, c) for p in pairs
                                 if (b := _value(measure, p.base, prices[0])) is not None
                                 and (c := _value(measure, p.cand, prices[1])) is not None], aggregate_repeats)
            if not values:
                continue
            scale = 100.0 if measure == "truncation_rate" else 1.0
            inputs.append(PairedInput(mean_stats([b for b, _ in values]), mean_stats([c for _, c in values]),
                                      mean_score_fn(scale), measure, higher_is_better=False, language=language))
            where.append((variant, language, measure))
        timed = _clustered([(p.case_id, b, c) for p in pairs
                            if (b := _latency(p.base)) is not None and (c := _latency(p.cand)) is not None],
                           aggregate_repeats)
        for measure, q in LATENCY_MEASURES.items():
            if timed:
                out.append(_percentile_delta(variant, language, measure, timed, q, comparison))
    results = paired_bootstraps(inputs, n_resamples=comparison.n_resamples, seed=comparison.seed)
    for (variant, language, measure), r in zip(where, results, strict=True):
        out.append(UsageDelta(variant, language, measure, r.base, r.cand, r.delta, r.ci_low, r.ci_high, r.n,
                              r.p_value))
    rank = {m: i for i, m in enumerate(USAGE_MEASURES)}
    return sorted(out, key=lambda d: (order.get(d.language, len(order)), d.language, d.variant or "",
                                      rank[d.measure]))


def _percentile_delta(variant: str | None, language: str, measure: str, timed: list[tuple[float, float]],
                      q: float, comparison: Comparison) -> UsageDelta:
    base = np.asarray([b for b, _ in timed])
    cand = np.asarray([c for _, c in timed])
    b0, c0 = percentile(base.tolist(), q), percentile(cand.tolist(), q)
    assert b0 is not None and c0 is not None
    n = len(timed)
    if n < 2:
        return UsageDelta(variant, language, measure, b0, c0, c0 - b0, c0 - b0, c0 - b0, n)
    rng = np.random.default_rng(comparison.seed)
    idx = rng.integers(0, n, size=(comparison.n_resamples, n))
    chunk = max(1, RESAMPLE_CELLS // n)  # resamples taken together: bounded memory for large runs
    deltas = np.concatenate([
        np.percentile(cand[idx[i:i + chunk]], q, axis=1) - np.percentile(base[idx[i:i + chunk]], q, axis=1)
        for i in range(0, len(idx), chunk)
    ])
    low, high = np.percentile(deltas, [2.5, 97.5])
    return UsageDelta(variant, language, measure, b0, c0, c0 - b0, float(low), float(high), n)


def _fmt(measure: str, x: float) -> str:
    return plain_amount(x) if measure == "cost" else f"{x:.1f}"


def format_usage_delta(d: UsageDelta) -> str:
    """``tokens 45.0 → 52.0 (+15.6%, 95% CI +5.0%..+26.1%, n=40)``; truncation changes in points."""
    unit = "%" if d.measure == "truncation_rate" else (" ms" if d.measure.startswith("latency") else "")
    text = f"{d.measure} {_fmt(d.measure, d.base)}{unit} → {_fmt(d.measure, d.cand)}{unit}"
    if d.measure == "truncation_rate":
        change = f"{d.delta:+.1f} pts, 95% CI {d.ci_low:+.1f}..{d.ci_high:+.1f}"
    elif d.pct is not None and d.pct_ci is not None:
        lo, hi = d.pct_ci
        change = f"{d.pct:+.1f}%, 95% CI {lo:+.1f}%..{hi:+.1f}%"
    else:
        sign = signed_amount if d.measure == "cost" else (lambda x: f"{x:+.1f}")
        change = f"{sign(d.delta)}, 95% CI {sign(d.ci_low)}..{sign(d.ci_high)}"
    return f"{text} ({change.replace('-', '−')}, n={d.n})"


#: What the terminal line shows (the rest is in the report and in ``usage_deltas``).
SUMMARY_MEASURES = ("tokens", "cost", "latency_p95_ms", "truncation_rate")


def usage_summary_lines(deltas: list[UsageDelta]) -> list[str]:
    """One line per (variant, language): the change of tokens, cost, p95 latency and truncation."""
    several = len({d.variant for d in deltas}) > 1
    lines: dict[tuple[str | None, str], list[str]] = {}
    for d in deltas:
        if d.measure in SUMMARY_MEASURES:
            lines.setdefault((d.variant, d.language), []).append(format_usage_delta(d))
    return [f"usage {lang}{f' [{v}]' if several and v else ''}: " + "; ".join(parts)
            for (v, lang), parts in lines.items()]
