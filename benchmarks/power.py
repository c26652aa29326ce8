"""Smallest regressions the default gate detects with 80 % power, and the timing of the bootstrap.

Usage::

    PYTHONPATH=. python benchmarks/power.py            # full table (a few minutes)
    PYTHONPATH=. python benchmarks/power.py --quick    # fewer seeds, coarser search
    PYTHONPATH=. python benchmarks/power.py --timing   # only the paired_bootstrap timings

For n = 50, 200 and 1000 items it finds, by bisection over the planted drop,
the smallest drop that ``is_regression`` (alpha 0.05, defaults, no
multiple-comparison correction) flags in at least 80 % of seeded simulations:

* exact match, base rate 70 %, latent item difficulty ``p_i ~ Beta(1.4, 0.6)``
  (≈28 % of items flip between two runs of the same system), exact McNemar
  test (``paired_binary``);
* chrF on real sacrebleu statistics of synthetic hypotheses
  (``evalkit.stats._simulation.ChrfPool``), paired bootstrap with the default
  1000 resamples; the drop is reported in corpus chrF points.

Common random numbers (the same seeds at every candidate drop) make the power
curve monotone, so bisection is sound.  It also prints the A/A false-alarm
rate at each n, and times ``paired_bootstrap`` on 10,000 items of chrF and of
BLEU statistics (vectorised score functions vs one sacrebleu call per
resample).  Output is Markdown.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from evalkit.stats import ScoreFn, corpus_score_fn, is_regression, paired_binary, paired_bootstrap
from evalkit.stats._simulation import ChrfPool, simulate_binary

SIZES = (50, 200, 1000)
ALPHA = 0.05
TARGET = 0.80


def _power_binary(n: int, drop: float, seeds: int, alpha: float = ALPHA) -> float:
    hits = 0
    for seed in range(seeds):
        base, cand = simulate_binary(np.random.default_rng(seed), n, drop=drop)
        hits += is_regression(paired_binary(base, cand, metric="exact_match"), alpha=alpha)
    return hits / seeds


def _power_chrf(pool: ChrfPool, n: int, shift: float, seeds: int) -> float:
    fn = corpus_score_fn(pool.metric)
    hits = 0
    for seed in range(seeds):
        base, cand = pool.pair(np.random.default_rng(seed), n, shift=shift)
        hits += is_regression(paired_bootstrap(base, cand, fn, metric="chrF", seed=seed), alpha=ALPHA)
    return hits / seeds


def _smallest(power: Callable[[float], float], lo: float, hi: float, tol: float) -> tuple[float, float]:
    """Smallest x in [lo, hi] (to within tol) with power(x) >= TARGET, and the power there."""
    p_hi = power(hi)
    if p_hi < TARGET:
        return float("nan"), p_hi
    while hi - lo > tol:
        mid = (lo + hi) / 2
        p_mid = power(mid)
        if p_mid >= TARGET:
            hi, p_hi = mid, p_mid
        else:
            lo = mid
    return hi, p_hi


def _bleu_stats(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-item BLEU statistics [hyp_len, ref_len, correct_1..4, total_1..4] of plausible sentences."""
    hyp = rng.integers(5, 30, size=n)
    ref = np.maximum(1, hyp + rng.integers(-4, 5, size=n))
    total = np.stack([np.maximum(0, hyp - i) for i in range(4)], axis=1)
    correct = np.floor(total * rng.beta(6, 3, size=(n, 1)) ** np.arange(1, 5))
    return np.column_stack([hyp, ref, correct, total]).astype(np.float64)


def _time(label: str, base: np.ndarray, cand: np.ndarray, score_fn: ScoreFn) -> None:
    wall, cpu = [], []
    for _ in range(7):
        t, c = time.perf_counter(), time.process_time()
        paired_bootstrap(base, cand, score_fn, metric="m")
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(
        f"- {label}: wall min {min(wall):.3f} s / median {float(np.median(wall)):.3f} s, "
        f"CPU median {float(np.median(cpu)):.3f} s (7 runs)"
    )


def timings(pool: ChrfPool | None = None) -> None:
    """Time ``paired_bootstrap`` (10,000 items, 1000 resamples) with and without the vectorised scores."""
    import sacrebleu

    rng = np.random.default_rng(1)
    pool = pool if pool is not None else ChrfPool(300, seed=0)
    fn = corpus_score_fn(pool.metric)
    items = rng.integers(0, pool.n_items, size=10_000)
    base, cand = pool.draw(rng, items), pool.draw(rng, items, shift=0.2)
    print("\n## paired_bootstrap timing: 10,000 items, 1000 resamples\n")
    _time("chrF (k = 18), vectorised (default)", base, cand, fn)
    _time("chrF, one sacrebleu call per resample", base, cand, lambda v: fn(v))
    bleu = corpus_score_fn(sacrebleu.BLEU())
    b, c = _bleu_stats(rng, 10_000), _bleu_stats(rng, 10_000)
    _time("BLEU (k = 10), vectorised (default)", b, c, bleu)
    _time("BLEU, one sacrebleu call per resample", b, c, lambda v: bleu(v))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer seeds and a coarser search")
    parser.add_argument("--timing", action="store_true", help="only time paired_bootstrap")
    args = parser.parse_args()
    if args.timing:
        timings()
        return
    em_seeds, chrf_seeds = (300, 100) if args.quick else (1000, 200)
    em_tol, shift_tol = (1.0, 0.1) if args.quick else (0.25, 0.025)

    t0 = time.perf_counter()
    pool = ChrfPool(2000, seed=0)
    fn = corpus_score_fn(pool.metric)
    build = time.perf_counter() - t0
    base_chrf = fn(pool.draw(np.random.default_rng(0), np.arange(pool.n_items)).sum(axis=0))

    print("## Smallest drop detected with 80 % power (alpha 0.05, one comparison)\n")
    print(f"exact match: {em_seeds} seeds per point; chrF: {chrf_seeds} seeds per point, 1000 resamples")
    print(f"(chrF pool: {pool.n_items} items, built in {build:.1f} s; base corpus chrF ≈ {base_chrf:.1f})\n")
    print(
        "| items | exact match (base 70 %) | EM, 1 of 10 comparisons (Holm) "
        "| A/A false alarms (EM) | chrF | A/A false alarms (chrF) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in SIZES:
        em_drop, em_power = _smallest(partial(_power_binary, n, seeds=em_seeds), 0.0, 60.0, em_tol)
        # Holm over 10 comparisons where only this one changed: its p must beat alpha / 10
        em10, _ = _smallest(partial(_power_binary, n, seeds=em_seeds, alpha=ALPHA / 10), 0.0, 60.0, em_tol)
        em_aa = _power_binary(n, 0.0, em_seeds)
        shift, chrf_power = _smallest(partial(_power_chrf, pool, n, seeds=chrf_seeds), 0.0, 4.0, shift_tol)
        chrf_drop = pool.expected_drop(shift, n_runs=50)
        chrf_aa = _power_chrf(pool, n, 0.0, chrf_seeds)
        print(
            f"| {n:,} | {em_drop:.1f} points (power {em_power:.2f}) | {em10:.1f} points | {em_aa:.3f} "
            f"| {chrf_drop:.1f} points (shift {shift:.3f}, power {chrf_power:.2f}) | {chrf_aa:.3f} |",
            flush=True,
        )

    timings(pool)


if __name__ == "__main__":
    main()
