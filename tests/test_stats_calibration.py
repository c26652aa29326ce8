"""Calibration of the regression gate on seeded simulations (deterministic).

A/A comparisons: both runs are drawn from the *same* per-item behaviour, so
every flagged regression is a false alarm; the gate (``is_regression`` at
alpha 0.05 on the two-sided p-value) should flag at most ~alpha/2 of them,
and the tests allow 0.07.  Planted regressions check the power side.

Simulations (see ``evalkit.stats._simulation``):

* binary: items with latent pass probability ``p_i ~ Beta(1.4, 0.6)`` (mean
  70 %, about 28 % of items flip between two runs of the same system),
  compared with the exact McNemar test (and, once, with the paired bootstrap
  on the 0/1 scores);
* chrF: real sacrebleu chrF statistics of synthetic hypotheses at nested
  corruption levels; compared with the paired bootstrap.

The bootstrap simulations use 500 resamples instead of the default 1000 to
keep the whole module well under 20 s; p-values are still resolved to 0.002.
"""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.stats import (
    PairedInput,
    adjust,
    corpus_score_fn,
    is_regression,
    mean_score_fn,
    mean_stats,
    paired_binary,
    paired_bootstrap,
    paired_bootstraps,
)
from evalkit.stats._simulation import ChrfPool, simulate_binary

SEEDS = 200
ALPHA = 0.05
MAX_FALSE_ALARM = 0.07
MIN_POWER = 0.80
RESAMPLES = 500


@pytest.fixture(scope="module")
def chrf_pool() -> ChrfPool:
    return ChrfPool(400, seed=11)


def _binary_rates(n: int, drop: float, seeds: int = SEEDS) -> tuple[float, float]:
    """(share flagged as regression, share with two-sided p < alpha) over seeded binary comparisons."""
    flagged = significant = 0
    for seed in range(seeds):
        base, cand = simulate_binary(np.random.default_rng(seed), n, drop=drop)
        c = paired_binary(base, cand, metric="exact_match")
        flagged += is_regression(c, alpha=ALPHA)
        significant += c.p_value < ALPHA
    return flagged / seeds, significant / seeds


@pytest.mark.parametrize("n", [50, 200, 1000])
def test_binary_aa_false_alarm_rate(n: int) -> None:
    false_alarm, two_sided = _binary_rates(n, drop=0.0, seeds=400)
    assert false_alarm <= MAX_FALSE_ALARM
    assert two_sided <= MAX_FALSE_ALARM  # the exact test is valid (conservative) in both directions


def test_binary_planted_regression_is_detected() -> None:
    # exact-match rate dropping 15 points (70 % → 55 %) on n = 200 items
    power, _ = _binary_rates(200, drop=15.0)
    assert power >= MIN_POWER


def test_binary_bootstrap_aa_and_power() -> None:
    """The paired bootstrap on 0/1 scores (mean_score_fn) is calibrated too."""
    fn = mean_score_fn()
    false_alarms = detected = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(10_000 + seed)
        base, cand = simulate_binary(rng, 200)
        c = paired_bootstrap(mean_stats(base), mean_stats(cand), fn, metric="em", n_resamples=RESAMPLES, seed=seed)
        false_alarms += c.regression
        base, cand = simulate_binary(rng, 200, drop=15.0)
        c = paired_bootstrap(mean_stats(base), mean_stats(cand), fn, metric="em", n_resamples=RESAMPLES, seed=seed)
        detected += c.regression
    assert false_alarms / SEEDS <= MAX_FALSE_ALARM
    assert detected / SEEDS >= MIN_POWER


def test_chrf_aa_false_alarm_rate(chrf_pool: ChrfPool) -> None:
    fn = corpus_score_fn(chrf_pool.metric)
    flagged = significant = 0
    for seed in range(SEEDS):
        base, cand = chrf_pool.pair(np.random.default_rng(seed), 200)
        c = paired_bootstrap(base, cand, fn, metric="chrF", n_resamples=RESAMPLES, seed=seed)
        flagged += c.regression
        significant += c.p_value < ALPHA
    assert flagged / SEEDS <= MAX_FALSE_ALARM
    assert significant / SEEDS <= MAX_FALSE_ALARM + 0.02  # two-sided, allows the bootstrap's small-n optimism


def test_chrf_planted_regression_is_detected(chrf_pool: ChrfPool) -> None:
    # a shift of 0.5 corruption levels ≈ a 3.7-point corpus chrF drop (about 81.6 → 77.9) on n = 200
    shift = 0.5
    drop = chrf_pool.expected_drop(shift)
    assert 3.2 < drop < 4.2
    fn = corpus_score_fn(chrf_pool.metric)
    detected = 0
    for seed in range(SEEDS):
        base, cand = chrf_pool.pair(np.random.default_rng(50_000 + seed), 200, shift=shift)
        detected += paired_bootstrap(base, cand, fn, metric="chrF", n_resamples=RESAMPLES, seed=seed).regression
    assert detected / SEEDS >= MIN_POWER


def test_family_wise_false_alarm_with_holm() -> None:
    """Ten languages compared at once: Holm keeps P(any false alarm) at ~alpha/2."""
    any_flagged = any_flagged_raw = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(90_000 + seed)
        comparisons = []
        for lang in ["ar", "de", "es", "fr", "hi", "ja", "ko", "pt", "sw", "zh"]:
            base, cand = simulate_binary(rng, 100)
            comparisons.append(paired_binary(base, cand, metric="exact_match", language=lang))
        any_flagged += any(c.regression for c in adjust(comparisons, "holm"))
        any_flagged_raw += any(c.regression for c in comparisons)
    assert any_flagged / SEEDS <= MAX_FALSE_ALARM
    # without the correction the family fails far more often (≈ 1 - (1 - alpha/2)^10)
    assert any_flagged_raw > any_flagged


def test_large_regression_in_one_of_30_bootstrap_cells_survives_holm(chrf_pool: ChrfPool) -> None:
    """30 chrF cells, one with a large planted regression (≈ 10 points on 200 items), Holm over all.

    A resampled p-value cannot go below 1/(B+1) = 1/501, so Holm would multiply it to ≥ 30/501 ≈ 0.06
    and nothing could be flagged; the normal-approximation tail (used only beyond every resample)
    lets the clear regression through, while the 29 unchanged cells still rarely raise an alarm.
    """
    fn = corpus_score_fn(chrf_pool.metric)
    seeds = 60
    caught = false_alarm = 0
    for seed in range(seeds):
        rng = np.random.default_rng(70_000 + seed)
        inputs = []
        for cell in range(30):
            base, cand = chrf_pool.pair(rng, 200, shift=1.5 if cell == 0 else 0.0)
            inputs.append(PairedInput(base, cand, fn, "chrF", language=f"l{cell}"))
        results = adjust(paired_bootstraps(inputs, n_resamples=RESAMPLES, seed=seed), "holm")
        assert results[0].p_value < 1 / (RESAMPLES + 1)
        caught += results[0].regression
        false_alarm += any(r.regression for r in results[1:])
    assert caught / seeds >= 0.95
    assert false_alarm / seeds <= MAX_FALSE_ALARM
