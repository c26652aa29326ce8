"""No p-value below what the data allow (issue #11, item 8).

A paired test on n items (m of which differ between the runs) cannot give a two-sided p below
2^(1-m): even if every changed item moved the same way, the sign-flip arrangement that flips them
all is as extreme. Every path of evalkit.stats must respect that floor — the paired bootstrap
(resampled and normal-tail p), exact McNemar, and the bootstrap of per-item pass rates over
repeats — and with few changed items the bootstrap p is replaced by the exact sign-flip test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sacrebleu

from evalkit.stats import (
    PairedInput,
    adjust,
    corpus_score_fn,
    mcnemar_exact_p,
    mean_score_fn,
    mean_stats,
    min_paired_p,
    paired_binary,
    paired_bootstrap,
    paired_bootstraps,
    randomized_sign_flip_p,
    sign_flip_p,
)
from evalkit.stats._paired import EXACT_MAX_CHANGED, RANDOMIZED_MAX_CHANGED

SMALL_N = range(5, 13)


def _brute_force_sign_flip(base: np.ndarray, cand: np.ndarray) -> float:
    """Two-sided exact sign-flip p of a mean difference, over all 2^n swaps of the n items."""
    d = cand - base
    observed = abs(d.sum())
    extreme = sum(abs(np.dot(s, d)) >= observed - 1e-9 for s in itertools.product((1, -1), repeat=d.size))
    return extreme / 2**d.size


def test_min_paired_p() -> None:
    assert min_paired_p(6) == 2**-5 == 0.03125
    assert min_paired_p(1) == min_paired_p(0) == 1.0
    assert min_paired_p(2000) == 0.0  # below the smallest float: no floor in practice


@pytest.mark.parametrize("n", SMALL_N)
def test_the_issue_six_items_all_better(n: int) -> None:
    """Every item better in the candidate: the smallest p an n-item paired test can give."""
    base = np.zeros(n)
    cand = np.full(n, 1.0)
    r = paired_bootstrap(mean_stats(base), mean_stats(cand), mean_score_fn(), metric="m")
    assert r.p_value == pytest.approx(2.0 ** (1 - n))
    assert "exact sign-flip" in r.method


def test_six_items_are_not_significant_after_holm() -> None:
    """The issue's case: 6 items, two variants compared in 3 cells; raw p was "<0.001", adjusted 0.024."""
    rng = np.random.default_rng(3)
    quality = rng.random(6)
    inputs = [PairedInput(mean_stats(quality), mean_stats(quality - 0.3 - 0.01 * rng.random(6)), mean_score_fn(),
                          "m", language=lang) for lang in ("de", "fr", "ja")]
    results = adjust(paired_bootstraps(inputs), "holm")
    for r in results:
        assert r.p_value >= 2**-5
        assert r.p_adjusted is not None and r.p_adjusted >= 3 * 2**-5
        assert not r.significant and not r.regression


@pytest.mark.parametrize("n", SMALL_N)
@pytest.mark.parametrize("seed", range(6))
def test_small_n_bootstrap_p_is_the_exact_sign_flip_p(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed * 100 + n)
    base = rng.random(n)
    cand = base + rng.normal(0.2, 0.3, n)
    r = paired_bootstrap(mean_stats(base), mean_stats(cand), mean_score_fn(), metric="m", seed=seed)
    assert r.p_value == pytest.approx(_brute_force_sign_flip(base, cand))
    assert r.p_value >= 2.0 ** (1 - n)


@pytest.mark.parametrize("n", SMALL_N)
def test_small_n_corpus_metric(n: int) -> None:
    """chrF on n sentences, candidate clearly worse on every one: p is exact and floored."""
    chrf = sacrebleu.CHRF()
    refs = [f"the quick brown fox number {i} jumps over the lazy dog" for i in range(n)]
    good = list(refs)
    bad = [r.replace("quick brown", "slow red").replace("lazy", "busy") for r in refs]
    base = np.asarray(chrf._extract_corpus_statistics(good, [refs]), dtype=float)
    cand = np.asarray(chrf._extract_corpus_statistics(bad, [refs]), dtype=float)
    r = paired_bootstrap(base, cand, corpus_score_fn(chrf), metric="chrF")
    assert r.delta < 0
    assert r.p_value == pytest.approx(2.0 ** (1 - n))


def test_unchanged_items_do_not_count() -> None:
    """200 items of which 5 changed (all for the worse): the evidence is 5 items, p = 2/32."""
    base = np.ones(200)
    cand = base.copy()
    cand[[3, 50, 99, 120, 180]] = 0.0
    r = paired_bootstrap(mean_stats(base), mean_stats(cand), mean_score_fn(), metric="m")
    assert r.p_value == pytest.approx(2**-4)
    assert r.n == 200
    assert not r.regression


def test_sign_flip_p_matches_brute_force_and_handles_edges() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 10):
        base, cand = rng.random(n), rng.random(n)
        got = sign_flip_p(mean_stats(base), mean_stats(cand), mean_score_fn())
        assert got == pytest.approx(_brute_force_sign_flip(base, cand))
    same = mean_stats(rng.random(8))
    assert sign_flip_p(same, same, mean_score_fn()) == 1.0
    with pytest.raises(ValueError):
        sign_flip_p(mean_stats(np.zeros(EXACT_MAX_CHANGED + 1)), mean_stats(np.ones(EXACT_MAX_CHANGED + 1)),
                    mean_score_fn())


@pytest.mark.parametrize("n", [13, 16, 20, 30])
def test_floor_on_the_bootstrap_path(n: int) -> None:
    """More changed items than the exact test enumerates: the randomized sign-flip p (counted or
    normal tail) is still never below 2^(1-m), and no larger than the resolution 1/(B+1) says."""
    base = np.zeros(n)
    cand = np.full(n, 1.0)  # no arrangement but two as extreme: the tail is estimated
    r = paired_bootstrap(mean_stats(base), mean_stats(cand), mean_score_fn(), metric="m", n_resamples=200)
    assert "exact sign-flip" not in r.method
    assert f"sign-flip p over 200 random arrangements of {n} changed items" in r.method
    assert 2.0 ** (1 - n) <= r.p_value <= 1 / 201


@pytest.mark.parametrize("n", SMALL_N)
def test_mcnemar_path(n: int) -> None:
    base = np.ones(n, dtype=bool)
    cand = np.zeros(n, dtype=bool)
    r = paired_binary(base, cand, metric="em")
    assert r.p_value == pytest.approx(2.0 ** (1 - n))
    cand[:2] = True  # 2 unchanged: n-2 discordant
    assert paired_binary(base, cand, metric="em").p_value == pytest.approx(2.0 ** (3 - n))
    assert mcnemar_exact_p(n, 0) == pytest.approx(2.0 ** (1 - n))


@pytest.mark.parametrize("n", SMALL_N)
def test_repeats_path(n: int) -> None:
    """Per-item pass rates over 3 repeats (what compare sends for binary metrics with --repeat): the
    items are the clusters, and the exact test is over them."""
    rng = np.random.default_rng(n)
    base_rates = np.full(n, 1.0)
    cand_rates = rng.choice([0.0, 1 / 3], size=n)
    (r,) = paired_bootstraps([PairedInput(mean_stats(base_rates), mean_stats(cand_rates), mean_score_fn(), "em")])
    assert r.p_value == pytest.approx(_brute_force_sign_flip(base_rates, cand_rates))
    assert r.p_value >= 2.0 ** (1 - n)


def test_large_n_is_unchanged() -> None:
    """Many changed items and a clear change: no random arrangement is as extreme, so the tail comes
    from the normal approximation (p far below 1/(B+1): it survives a correction over many cells)."""
    rng = np.random.default_rng(11)
    quality = rng.random(500)
    base = quality + rng.normal(0, 0.1, 500)
    cand = quality - 0.05 + rng.normal(0, 0.1, 500)
    r = paired_bootstrap(mean_stats(base), mean_stats(cand), mean_score_fn(1.0), metric="m")
    assert r.method.endswith("; sign-flip p over 1000 random arrangements of 500 changed items, "
                             "tail by normal approximation)")
    assert r.p_value < 1e-6
    assert not math.isnan(r.ci_low)


@pytest.mark.parametrize("n", [6, 10, 13, 20, 40])
def test_aa_false_alarm_rate(n: int) -> None:
    """A/A on n items: the shift bootstrap said p < 0.05 in 14 % (n = 6), 8 % (10), 9.2 % (13), 7.2 %
    (20) and ~6.5 % (30-100) of 1,000 seeds; the exact (n <= 12) and randomized sign-flip tests keep
    the nominal 5 %."""
    fn = mean_score_fn()
    seeds = 300
    significant = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        quality = rng.random(n)
        base, cand = quality + rng.normal(0, 0.2, n), quality + rng.normal(0, 0.2, n)
        r = paired_bootstrap(mean_stats(base), mean_stats(cand), fn, metric="m", n_resamples=200, seed=seed)
        significant += r.p_value < 0.05
    assert significant / seeds <= 0.07


def test_sign_flip_p_on_a_corpus_metric_equals_explicit_swaps() -> None:
    """BLEU is not a mean: check the enumeration against swapping the items' statistics one
    arrangement at a time and scoring both sides with sacrebleu's own formula."""
    bleu = sacrebleu.BLEU()
    rng = np.random.default_rng(5)
    words = "the a dog cat house tree runs quickly today green market friend".split()
    refs = [" ".join(rng.choice(words, 8)) for _ in range(8)]
    hyp_b = [" ".join(r.split()[: int(rng.integers(4, 9))]) for r in refs]
    hyp_c = [" ".join(rng.permutation(r.split())) for r in refs]
    hyp_c[2] = hyp_b[2]  # one unchanged item
    b = np.asarray(bleu._extract_corpus_statistics(hyp_b, [refs]), dtype=float)
    c = np.asarray(bleu._extract_corpus_statistics(hyp_c, [refs]), dtype=float)

    def score(sums: np.ndarray) -> float:
        return float(bleu._compute_score_from_stats(list(sums)).score)

    delta = score(c.sum(axis=0)) - score(b.sum(axis=0))
    extreme = 0
    for swap in itertools.product((False, True), repeat=8):
        mask = np.asarray(swap)[:, None]
        base, cand = np.where(mask, c, b), np.where(mask, b, c)
        extreme += abs(score(cand.sum(axis=0)) - score(base.sum(axis=0))) >= abs(delta) - 1e-9
    assert sign_flip_p(b, c, corpus_score_fn(bleu)) == pytest.approx(extreme / 2**8)
    assert sign_flip_p(b, c, score) == pytest.approx(extreme / 2**8)  # a plain callable too


def test_sign_flip_p_of_a_mean_matches_scipys_exact_permutation_test() -> None:
    from scipy import stats as sps

    rng = np.random.default_rng(11)
    for n in (5, 9, 12):
        base = rng.normal(0.5, 0.2, n)
        cand = base + rng.normal(0.1, 0.2, n)
        ref = sps.permutation_test((cand, base), lambda x, y: np.mean(x - y), permutation_type="samples",
                                   n_resamples=np.inf, alternative="two-sided")
        assert sign_flip_p(mean_stats(base), mean_stats(cand), mean_score_fn()) == pytest.approx(ref.pvalue, rel=1e-9)


def test_randomized_sign_flip_agrees_with_the_exact_enumeration() -> None:
    """On 12 changed items both tests exist: with many random arrangements the randomized p is the
    exact p within its Monte Carlo error, for a mean and for corpus BLEU alike."""
    rng = np.random.default_rng(3)
    base, cand = rng.random(12), rng.random(12) - 0.25
    exact = sign_flip_p(mean_stats(base), mean_stats(cand), mean_score_fn())
    randomized, tail = randomized_sign_flip_p(mean_stats(base), mean_stats(cand), mean_score_fn(), n_flips=20000)
    assert not tail
    assert randomized == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 20000) + 1 / 20001)
    bleu = sacrebleu.BLEU()
    words = "the a dog cat house tree runs quickly today green market friend".split()
    refs = [" ".join(rng.choice(words, 8)) for _ in range(12)]
    hyp_b = [" ".join(r.split()[: int(rng.integers(3, 9))]) for r in refs]
    hyp_c = [" ".join(rng.permutation(r.split())) for r in refs]
    b = np.asarray(bleu._extract_corpus_statistics(hyp_b, [refs]), dtype=float)
    c = np.asarray(bleu._extract_corpus_statistics(hyp_c, [refs]), dtype=float)
    exact = sign_flip_p(b, c, corpus_score_fn(bleu))
    randomized, _ = randomized_sign_flip_p(b, c, corpus_score_fn(bleu), n_flips=20000, seed=1)
    assert randomized == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 20000) + 1 / 20001)


def test_beyond_the_randomized_range_the_bootstrap_p_is_used() -> None:
    rng = np.random.default_rng(4)
    n = RANDOMIZED_MAX_CHANGED + 1
    base, cand = rng.random(n), rng.random(n)
    r = paired_bootstrap(mean_stats(base), mean_stats(cand), mean_score_fn(), metric="m", n_resamples=100)
    assert "sign-flip" not in r.method
