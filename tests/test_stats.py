"""Unit and reference tests for evalkit.stats (scipy and sacrebleu as references)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sacrebleu
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sacrebleu.significance import PairedTest
from scipy import stats as sps

import evalkit.stats as es
from evalkit.stats import (
    BatchScoreFn,
    Estimate,
    PairedComparison,
    PairedInput,
    adjust,
    aggregate_repeats,
    benjamini_hochberg,
    bootstrap_ci,
    corpus_score_fn,
    holm,
    is_regression,
    mcnemar_exact_p,
    mean_score_fn,
    mean_stats,
    newcombe_paired_interval,
    paired_binary,
    paired_bootstrap,
    paired_bootstraps,
    wilson_interval,
)
from evalkit.stats._bootstrap import resampled_sums
from evalkit.stats._paired import _p_value, bootstrap_p_value, normal_p_value

# --------------------------------------------------------------------------- helpers


def _corpus(seed: int, n: int, q_base: float, q_cand: float) -> tuple[list[str], list[str], list[str]]:
    """Synthetic references and two hypothesis sets with word-substitution rates q_base / q_cand."""
    rng = np.random.default_rng(seed)
    vocab = ["".join(rng.choice(list("abcdefghijklmnop"), size=int(rng.integers(2, 8)))) for _ in range(500)]
    refs = [" ".join(rng.choice(vocab, size=int(rng.integers(5, 20)))) for _ in range(n)]

    def corrupt(ref: str, q: float) -> str:
        return " ".join(w if rng.random() >= q else str(rng.choice(vocab)) for w in ref.split())

    return refs, [corrupt(r, q_base) for r in refs], [corrupt(r, q_cand) for r in refs]


def _stats(metric: sacrebleu.metrics.base.Metric, hyps: list[str], refs: list[str]) -> np.ndarray:
    return np.asarray(metric._extract_corpus_statistics(hyps, [refs]), dtype=np.float64)


def _sacrebleu_bs_p(hb: list[str], hc: list[str], refs: list[str]) -> float:
    """p-value of sacrebleu's own paired bootstrap test (BLEU, 1000 resamples, its default seed)."""
    _, scores = PairedTest([("b", hb), ("c", hc)], {"BLEU": sacrebleu.BLEU()}, [refs], test_type="bs")()
    result = scores["BLEU"][1]
    assert not isinstance(result, str) and result.p_value is not None
    return float(result.p_value)


def _comparison(**kw: object) -> PairedComparison:
    base: dict[str, object] = dict(
        metric="m",
        language=None,
        base=50.0,
        cand=45.0,
        delta=-5.0,
        ci_low=-8.0,
        ci_high=-2.0,
        p_value=0.01,
        n=100,
        method="test",
        higher_is_better=True,
    )
    base.update(kw)
    return PairedComparison(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- public API


def test_public_api_is_exported() -> None:
    for name in es.__all__:
        assert hasattr(es, name), name
    for name in (
        "Estimate",
        "PairedComparison",
        "RepeatAggregate",
        "ScoreFn",
        "adjust",
        "aggregate_repeats",
        "benjamini_hochberg",
        "bootstrap_ci",
        "corpus_score_fn",
        "holm",
        "is_regression",
        "mean_score_fn",
        "paired_binary",
        "paired_bootstrap",
        "paired_bootstraps",
        "PairedInput",
        "wilson_interval",
    ):
        assert name in es.__all__


def test_results_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Estimate(1.0, 0.0, 2.0, 3).value = 2.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        _comparison().delta = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- Wilson


def test_wilson_hand_computed_8_of_10() -> None:
    lo, hi = wilson_interval(8, 10)
    # z = 1.959964: centre = (0.8 + z²/20) / (1 + z²/10), half = z/(1 + z²/10) * sqrt(0.016 + z²/400)
    assert lo == pytest.approx(0.4901625, abs=1e-6)
    assert hi == pytest.approx(0.9433178, abs=1e-6)


def test_wilson_formula_and_scipy() -> None:
    z = sps.norm.ppf(0.975)
    for k, n in [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (37, 120), (500, 1000), (1, 10000)]:
        lo, hi = wilson_interval(k, n)
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert lo == pytest.approx(max(0.0, centre - half), abs=1e-12)
        assert hi == pytest.approx(min(1.0, centre + half), abs=1e-12)
        ref = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert lo == pytest.approx(ref.low, abs=1e-9)
        assert hi == pytest.approx(ref.high, abs=1e-9)
    ref90 = sps.binomtest(7, 20).proportion_ci(confidence_level=0.9, method="wilson")
    assert wilson_interval(7, 20, 0.9) == pytest.approx((ref90.low, ref90.high), abs=1e-9)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(5, 5)[1] == 1.0
    lo, hi = wilson_interval(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        wilson_interval(6, 5)
    with pytest.raises(ValueError):
        wilson_interval(1, 5, confidence=1.0)


# --------------------------------------------------------------------------- McNemar / Newcombe


@pytest.mark.parametrize(
    ("b", "c"),
    [(0, 1), (1, 0), (0, 5), (3, 7), (7, 3), (10, 10), (12, 30), (0, 25), (150, 190), (1200, 1000), (2400, 2600)],
)
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    ref = sps.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(ref, rel=1e-9, abs=1e-300)


def test_mcnemar_no_discordant_pairs() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 3000))
@example(15, 1060)  # scipy underflows to 0 here, the exact sum does not (found by a CI run)
def test_mcnemar_properties(b: int, c: int) -> None:
    p = mcnemar_exact_p(b, c)
    assert 0.0 <= p <= 1.0
    assert p == mcnemar_exact_p(c, b)
    if b + c:
        reference = sps.binomtest(b, b + c, 0.5).pvalue
        if reference == 0.0:
            # scipy underflows to 0 earlier than the exact big-integer sum (b=10, c=1065: 2.7e-300;
            # b=15, c=1060: 1.0e-290): both say "as small as a float goes".
            assert p < 1e-250
        else:
            assert p == pytest.approx(reference, rel=1e-8, abs=1e-290)


def test_newcombe_reference_example() -> None:
    # Fagerland, Lydersen & Laake (2017), ch. 8, Cavo et al. table [[59, 6], [16, 80]]:
    # Newcombe square-and-add CI: estimate -0.0621 (95% CI -0.1186 to -0.0046).
    lo, hi = newcombe_paired_interval(59, 6, 16, 80)
    assert lo == pytest.approx(-0.1186, abs=5e-5)
    assert hi == pytest.approx(-0.0046, abs=5e-5)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.integers(0, 60))
def test_newcombe_properties(a: int, b: int, c: int, d: int) -> None:
    n = a + b + c + d
    lo, hi = newcombe_paired_interval(a, b, c, d)
    if n == 0:
        assert math.isnan(lo) and math.isnan(hi)
        return
    theta = (b - c) / n
    assert -1.0 <= lo <= theta + 1e-12 <= hi + 2e-12 <= 1.0 + 2e-12
    # swapping the two runs mirrors the interval
    lo2, hi2 = newcombe_paired_interval(a, c, b, d)
    assert lo2 == pytest.approx(-hi, abs=1e-12)
    assert hi2 == pytest.approx(-lo, abs=1e-12)


def test_paired_binary_counts_pvalue_and_ci() -> None:
    base = np.array([1] * 50 + [1] * 20 + [0] * 8 + [0] * 22, dtype=bool)
    cand = np.array([1] * 50 + [0] * 20 + [1] * 8 + [0] * 22, dtype=bool)
    r = paired_binary(base, cand, metric="exact_match", language="de")
    assert (r.n, r.n_pass_to_fail, r.n_fail_to_pass) == (100, 20, 8)
    assert r.base == pytest.approx(70.0) and r.cand == pytest.approx(58.0)
    assert r.delta == pytest.approx(-12.0)
    assert r.p_value == pytest.approx(sps.binomtest(8, 28, 0.5).pvalue, rel=1e-12)
    lo, hi = newcombe_paired_interval(50, 8, 20, 22)
    assert (r.ci_low, r.ci_high) == pytest.approx((100 * lo, 100 * hi))
    assert r.ci_low < r.delta < r.ci_high
    assert r.method == "exact McNemar" and r.language == "de" and r.higher_is_better
    assert r.regression  # p ≈ 0.036 < 0.05 and a drop
    # 0/1 integers work the same as booleans
    r2 = paired_binary(base.astype(int), cand.astype(int), metric="exact_match", language="de")
    assert r2 == r


def test_paired_binary_no_change_and_empty() -> None:
    x = np.array([True, False, True])
    r = paired_binary(x, x, metric="em")
    assert r.delta == 0.0 and r.p_value == 1.0 and not r.regression
    e = paired_binary([], [], metric="em")
    assert e.n == 0 and math.isnan(e.delta) and math.isnan(e.p_value) and not e.regression


def test_paired_binary_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        paired_binary([True, False], [True], metric="em")
    with pytest.raises(ValueError):
        paired_binary([0.5, 1.0], [1, 0], metric="em")


# --------------------------------------------------------------------------- multiple comparisons


def test_holm_and_bh_hand_computed() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 → Holm 4·0.005, 3·0.01, max(2·0.03, ·), max(1·0.04, 0.06)
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: 0.005·4/1, 0.01·4/2, 0.03·4/3, 0.04·4/4 → running min from the top
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert holm([0.2, 0.6]) == pytest.approx([0.4, 0.6])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]) == [] and benjamini_hochberg([]) == []
    assert holm([0.03]) == [0.03] and benjamini_hochberg([0.03]) == [0.03]


def _naive_holm(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_corrections_against_references(p: list[float]) -> None:
    h = holm(p)
    bh = benjamini_hochberg(p)
    assert h == pytest.approx(_naive_holm(p), abs=1e-12)
    assert bh == pytest.approx(list(sps.false_discovery_control(p, method="bh")), abs=1e-12)
    for raw, a, b in zip(p, h, bh, strict=True):
        assert raw <= b + 1e-15 <= a + 2e-15 <= 1.0 + 2e-15


def test_corrections_skip_nan() -> None:
    out = holm([0.01, math.nan, 0.04])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    out = benjamini_hochberg([math.nan, 0.01, 0.04])
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.02, 0.04])
    with pytest.raises(ValueError):
        holm([1.5])


def test_adjust_fills_p_adjusted_in_order() -> None:
    cs = [_comparison(p_value=p, language=lang) for p, lang in [(0.01, "de"), (0.04, "fr"), (0.03, "ja")]]
    out = adjust(cs)
    assert [c.language for c in out] == ["de", "fr", "ja"]
    assert [c.p_adjusted for c in out] == pytest.approx([0.03, 0.06, 0.06])
    assert all(c.correction == "holm" for c in out)
    assert [c.regression for c in cs] == [True, True, True]  # unadjusted
    assert [c.regression for c in out] == [True, False, False]
    bh = adjust(cs, "bh")
    assert [c.p_adjusted for c in bh] == pytest.approx([0.03, 0.04, 0.04])
    assert [c.regression for c in bh] == [True, True, True]
    assert cs[0].p_adjusted is None  # inputs untouched
    with pytest.raises(ValueError):
        adjust(cs, "bonferroni")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- is_regression


def test_is_regression_direction_threshold_and_significance() -> None:
    drop = _comparison(delta=-5.0, p_value=0.01)
    assert is_regression(drop)
    assert not is_regression(drop, alpha=0.01)
    assert is_regression(drop, max_drop=4.9) and not is_regression(drop, max_drop=5.0)
    assert not is_regression(_comparison(delta=5.0, p_value=0.001))
    weak = _comparison(delta=-5.0, p_value=0.2)
    assert not is_regression(weak) and is_regression(weak, require_significance=False)
    assert not is_regression(weak, require_significance=False, max_drop=6.0)
    # TER: lower is better, an increase is the bad direction
    ter_up = _comparison(delta=3.0, p_value=0.001, higher_is_better=False)
    assert is_regression(ter_up) and not is_regression(dataclasses.replace(ter_up, delta=-3.0))
    # the adjusted p-value wins when present
    assert not is_regression(dataclasses.replace(drop, p_adjusted=0.2))
    assert not is_regression(_comparison(delta=math.nan, p_value=math.nan))
    assert not is_regression(_comparison(p_value=math.nan))
    # the property uses the stored alpha
    assert drop.regression and not dataclasses.replace(drop, alpha=0.005).regression
    assert _comparison(delta=5.0, p_value=0.001).improvement and not drop.improvement
    with pytest.raises(ValueError):
        is_regression(drop, max_drop=-1.0)


# --------------------------------------------------------------------------- repeats


def test_aggregate_repeats() -> None:
    keys = ["a", "b", "a", "c", "b", "a", "c"]
    passed = [True, False, True, True, False, False, True]
    out = aggregate_repeats(keys, passed)
    assert [r.item_key for r in out] == ["a", "b", "c"]
    a, b, c = out
    assert (a.passes, a.n, a.unstable) == (2, 3, True)
    assert a.rate == pytest.approx(2 / 3)
    assert (a.ci_low, a.ci_high) == pytest.approx(wilson_interval(2, 3))
    assert (b.passes, b.n, b.unstable, b.rate) == (0, 2, False, 0.0)
    assert (c.passes, c.n, c.unstable, c.rate) == (2, 2, False, 1.0)
    assert aggregate_repeats([], []) == []
    with pytest.raises(ValueError):
        aggregate_repeats(["a"], [True, False])


# --------------------------------------------------------------------------- score functions


def test_mean_score_fn_and_stats() -> None:
    s = mean_stats([True, False, True, True])
    assert s.shape == (4, 2)
    fn = mean_score_fn()
    assert fn(s.sum(axis=0)) == pytest.approx(75.0)
    assert mean_score_fn(1.0)(s.sum(axis=0)) == pytest.approx(0.75)
    assert math.isnan(fn(np.zeros(2)))
    assert isinstance(fn, BatchScoreFn)
    sums = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]])
    got = fn.batch(sums)
    assert got[0] == 75.0 and math.isnan(got[1]) and got[2] == 50.0
    with pytest.raises(ValueError):
        fn(np.zeros(3))
    with pytest.raises(ValueError):
        mean_stats([1.0, math.nan])


@pytest.mark.parametrize(
    "metric",
    [sacrebleu.CHRF(), sacrebleu.CHRF(word_order=2), sacrebleu.CHRF(eps_smoothing=True), sacrebleu.TER()],
    ids=["chrF", "chrF++", "chrF-eps", "TER"],
)
def test_vectorised_score_equals_sacrebleu(metric: sacrebleu.metrics.base.Metric) -> None:
    refs, hb, hc = _corpus(3, 120, 0.2, 0.4)
    hb[0] = ""  # an empty hypothesis exercises the zero-count branches
    stats = np.vstack([_stats(metric, hb, refs), _stats(metric, hc, refs)])
    fn = corpus_score_fn(metric)
    assert isinstance(fn, BatchScoreFn)
    sums = resampled_sums(stats, 200, seed=1)
    sums = np.vstack([sums, np.zeros(stats.shape[1]), stats[:5]])
    scalar = np.array([metric._compute_score_from_stats(row.tolist()).score for row in sums])
    np.testing.assert_allclose(fn.batch(sums), scalar, rtol=1e-13, atol=1e-13)
    assert fn(stats.sum(axis=0)) == metric.corpus_score(hb + hc, [refs + refs]).score


def test_bleu_score_fn_is_exact_and_does_not_mutate() -> None:
    bleu = sacrebleu.BLEU(smooth_method="add-k")
    refs, hb, _ = _corpus(4, 50, 0.3, 0.3)
    stats = _stats(bleu, hb, refs)
    summed = stats.sum(axis=0)
    before = summed.copy()
    assert corpus_score_fn(bleu)(summed) == bleu.corpus_score(hb, [refs]).score
    np.testing.assert_array_equal(summed, before)


def _random_bleu_sums(rng: np.random.Generator, rows: int, order: int) -> np.ndarray:
    """Summed BLEU statistics [sys_len, ref_len, correct_1..N, total_1..N] with every awkward case:
    zero matches at some or all orders, zero totals, empty hypotheses, shorter and longer outputs."""
    total = rng.integers(0, 60, size=(rows, order)).astype(np.float64)
    total[rng.random(total.shape) < 0.05] = 0.0
    correct = np.floor(total * rng.random(total.shape))
    correct[rng.random(correct.shape) < 0.2] = 0.0
    lengths = rng.integers(0, 80, size=(rows, 2)).astype(np.float64)
    sums = np.hstack([lengths, correct, total])
    sums[:10] = 0.0  # nothing at all
    sums[10:20, 2 : 2 + order] = 0.0  # no match at any order: sacrebleu's early return
    sums[20:30, 0] = 0.0  # empty output: brevity penalty 0
    return sums


@pytest.mark.parametrize("order", [4, 2, 6])
@pytest.mark.parametrize(
    ("method", "value"),
    [("none", None), ("floor", None), ("floor", 0.3), ("add-k", None), ("add-k", 2), ("add-k", 0), ("exp", None)],
)
def test_vectorised_bleu_equals_sacrebleu(method: str, value: float | None, order: int) -> None:
    bleu = sacrebleu.BLEU(smooth_method=method, smooth_value=value, max_ngram_order=order)
    fn = corpus_score_fn(bleu)
    assert isinstance(fn, BatchScoreFn)
    sums = _random_bleu_sums(np.random.default_rng(order * 31 + len(method)), 3000, order)
    scalar = np.array([bleu._compute_score_from_stats(row.tolist()).score for row in sums])
    np.testing.assert_allclose(fn.batch(sums), scalar, rtol=1e-9, atol=1e-9)
    # on real statistics of a corpus too, and the whole corpus exactly as sacrebleu scores it
    refs, hb, hc = _corpus(8, 150, 0.3, 0.6)
    stats = np.vstack([_stats(bleu, hb, refs), _stats(bleu, hc, refs)])
    sums = np.vstack([resampled_sums(stats, 300, seed=2), stats[:20]])
    scalar = np.array([bleu._compute_score_from_stats(row.tolist()).score for row in sums])
    np.testing.assert_allclose(fn.batch(sums), scalar, rtol=1e-9, atol=1e-9)
    assert fn.batch(stats.sum(axis=0, keepdims=True))[0] == pytest.approx(
        bleu.corpus_score(hb + hc, [refs + refs]).score, abs=1e-9)


def test_bleu_with_effective_order_is_scored_row_by_row() -> None:
    bleu = sacrebleu.BLEU(effective_order=True)
    fn = corpus_score_fn(bleu)
    assert not isinstance(fn, BatchScoreFn)
    refs, hb, _ = _corpus(4, 20, 0.3, 0.3)
    assert fn(_stats(bleu, hb, refs).sum(axis=0)) == bleu.corpus_score(hb, [refs]).score


# --------------------------------------------------------------------------- bootstrap


def test_resampled_sums_are_resamples_of_n_items() -> None:
    stats = np.column_stack([np.arange(7, dtype=float), np.ones(7)])
    sums = resampled_sums(stats, 3000, seed=5)
    assert sums.shape == (3000, 2)
    assert np.all(sums[:, 1] == 7)  # every resample has n items
    assert sums[:, 0].mean() == pytest.approx(21.0, rel=0.02)  # E[sum] = n · mean
    np.testing.assert_array_equal(sums, resampled_sums(stats, 3000, seed=5))
    assert not np.array_equal(sums, resampled_sums(stats, 3000, seed=6))


def test_resampled_sums_block_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import evalkit.stats._bootstrap as bs

    monkeypatch.setattr(bs, "_BLOCK_ELEMENTS", 70)  # 10 rows of 7 per block, 3 blocks + a partial one
    stats = np.column_stack([np.arange(7, dtype=float), np.ones(7)])
    sums = bs.resampled_sums(stats, 35, seed=0)
    assert sums.shape == (35, 2) and np.all(sums[:, 1] == 7)


def test_bootstrap_ci_of_mean_matches_normal_theory() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 3.0, size=5000)
    est = bootstrap_ci(mean_stats(x), mean_score_fn(1.0), n_resamples=2000, seed=1)
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert est.value == pytest.approx(x.mean())
    assert est.n == 5000
    assert est.ci_low == pytest.approx(x.mean() - 1.959964 * se, abs=0.15 * se)
    assert est.ci_high == pytest.approx(x.mean() + 1.959964 * se, abs=0.15 * se)
    # 0/1 data: close to the Wilson interval at large n
    y = rng.random(2000) < 0.3
    e2 = bootstrap_ci(mean_stats(y), mean_score_fn(), seed=2)
    lo, hi = wilson_interval(int(y.sum()), y.size)
    assert e2.ci_low == pytest.approx(100 * lo, abs=0.4)
    assert e2.ci_high == pytest.approx(100 * hi, abs=0.4)


def test_bootstrap_ci_degenerate_sizes() -> None:
    e0 = bootstrap_ci(np.zeros((0, 2)), mean_score_fn())
    assert e0.n == 0 and all(math.isnan(v) for v in (e0.value, e0.ci_low, e0.ci_high))
    e1 = bootstrap_ci(mean_stats([1.0]), mean_score_fn())
    assert e1 == Estimate(100.0, 100.0, 100.0, 1)
    # one-dimensional input is one statistic per item
    fn = lambda v: float(v[0])  # noqa: E731
    e = bootstrap_ci(np.array([1.0, 2.0, 3.0]), fn, n_resamples=50)
    assert e.value == 6.0 and 3.0 <= e.ci_low <= e.ci_high <= 9.0
    with pytest.raises(ValueError):
        bootstrap_ci(np.array([[1.0, math.nan]]), mean_score_fn())
    with pytest.raises(ValueError):
        bootstrap_ci(mean_stats([1.0, 0.0]), mean_score_fn(), confidence=95)


def test_bootstrap_ci_python_score_fn_equals_batch() -> None:
    x = mean_stats(np.random.default_rng(3).random(300))
    fn = mean_score_fn()
    slow = lambda v: fn(v)  # noqa: E731 - a plain callable without .batch
    assert bootstrap_ci(x, fn, seed=4) == pytest.approx(bootstrap_ci(x, slow, seed=4))


# --------------------------------------------------------------------------- paired bootstrap


def test_paired_bootstrap_bleu_delta_is_exact_and_pvalue_like_sacrebleu() -> None:
    bleu = sacrebleu.BLEU()
    fn = corpus_score_fn(bleu)
    # a clear difference
    refs, hb, hc = _corpus(0, 300, 0.2, 0.3)
    r = paired_bootstrap(_stats(bleu, hb, refs), _stats(bleu, hc, refs), fn, metric="BLEU", language="de")
    expected = bleu.corpus_score(hc, [refs]).score - bleu.corpus_score(hb, [refs]).score
    assert r.delta == expected
    assert r.base == bleu.corpus_score(hb, [refs]).score
    assert r.method.startswith("paired bootstrap (1000 resamples, seed 0") and r.n == 300
    assert r.ci_low < r.delta < r.ci_high < 0
    sb_p = _sacrebleu_bs_p(hb, hc, refs)
    assert r.p_value <= 0.002 and sb_p <= 0.002
    assert r.regression
    # no real difference (same corruption rate): neither test is significant.  sacrebleu's p is
    # smaller (it centres |d_b| rather than d_b, roughly a one-sided p) but of the same order.
    refs, hb, hc = _corpus(2, 300, 0.25, 0.25)
    r = paired_bootstrap(_stats(bleu, hb, refs), _stats(bleu, hc, refs), fn, metric="BLEU")
    assert r.delta == bleu.corpus_score(hc, [refs]).score - bleu.corpus_score(hb, [refs]).score
    sb_p = _sacrebleu_bs_p(hb, hc, refs)
    assert r.p_value > 0.2 and sb_p > 0.2
    assert sb_p <= r.p_value <= 4 * sb_p
    assert r.ci_low < 0 < r.ci_high and not r.regression


def test_paired_bootstrap_ter_lower_is_better() -> None:
    ter = sacrebleu.TER()
    refs, hb, hc = _corpus(5, 200, 0.15, 0.35)
    r = paired_bootstrap(
        _stats(ter, hb, refs), _stats(ter, hc, refs), corpus_score_fn(ter), metric="TER", higher_is_better=False
    )
    assert r.delta == pytest.approx(ter.corpus_score(hc, [refs]).score - ter.corpus_score(hb, [refs]).score)
    assert r.delta > 0 and r.regression and not r.higher_is_better


def test_paired_bootstrap_identical_runs() -> None:
    x = mean_stats(np.random.default_rng(0).random(100) < 0.5)
    r = paired_bootstrap(x, x, mean_score_fn(), metric="em")
    assert (r.delta, r.ci_low, r.ci_high, r.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert not r.regression


def test_paired_bootstrap_degenerate_and_invalid() -> None:
    fn = mean_score_fn()
    r0 = paired_bootstrap(np.zeros((0, 2)), np.zeros((0, 2)), fn, metric="em")
    assert r0.n == 0 and math.isnan(r0.delta) and math.isnan(r0.p_value) and not r0.regression
    r1 = paired_bootstrap(mean_stats([1.0]), mean_stats([0.0]), fn, metric="em")
    assert (r1.n, r1.delta, r1.ci_low, r1.ci_high, r1.p_value) == (1, -100.0, -100.0, -100.0, 1.0)
    assert not r1.regression
    with pytest.raises(ValueError):
        paired_bootstrap(mean_stats([1.0, 0.0]), mean_stats([1.0]), fn, metric="em")
    with pytest.raises(ValueError):
        paired_bootstrap(mean_stats([1.0, 0.0]), mean_stats([1.0, 0.0]), fn, metric="em", n_resamples=0)


def test_paired_bootstrap_is_deterministic_and_paired() -> None:
    rng = np.random.default_rng(7)
    quality = rng.random(400)
    base = mean_stats(quality + rng.normal(0, 0.05, 400))
    cand = mean_stats(quality - 0.02 + rng.normal(0, 0.05, 400))
    fn = mean_score_fn()
    r = paired_bootstrap(base, cand, fn, metric="score", seed=3)
    assert r == paired_bootstrap(base, cand, fn, metric="score", seed=3)
    assert r != paired_bootstrap(base, cand, fn, metric="score", seed=4)
    # pairing removes the large between-item variance: the paired CI is ~4x narrower than
    # the difference of two independent CIs would suggest
    eb = bootstrap_ci(base, fn, seed=3)
    assert (r.ci_high - r.ci_low) < 0.3 * (eb.ci_high - eb.ci_low) * math.sqrt(2)
    assert r.p_value < 0.01 and r.regression


def test_bootstrap_p_value_definition() -> None:
    d = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])  # mean 0
    assert bootstrap_p_value(d, 1.5) == pytest.approx((2 + 1) / 6)
    assert bootstrap_p_value(d, 1.0) == pytest.approx((4 + 1) / 6)  # ">=" counts ties
    assert bootstrap_p_value(d, 0.0) == 1.0
    assert bootstrap_p_value(d + 10.0, -1.5) == pytest.approx(3 / 6)  # centred, two-sided


def test_normal_tail_only_beyond_every_resample() -> None:
    d = np.random.default_rng(0).normal(0.0, 1.0, 999)
    centred_max = float(np.abs(d - d.mean()).max())
    # inside the resampled range: the resampled p, unchanged
    assert _p_value(d, 2.0, 500) == (bootstrap_p_value(d, 2.0), False)
    # beyond it: the normal tail 2·Φ(-|z|), capped at 1/(B+1)
    z = centred_max + 1.0
    p, tail = _p_value(d, -z, 500)
    assert tail and p < 1 / 1000
    assert p == pytest.approx(2 * sps.norm.sf(z / d.std(ddof=1)), rel=1e-9)
    assert _p_value(d, z, 500) == (p, True)  # two-sided
    # never below what an exact sign-flip test on n items could reach (2^(1-n))
    assert _p_value(d, 50.0, 12) == (2.0**-11, True)
    assert _p_value(np.zeros(100), 3.0, 40) == (2.0**-39, True)  # zero standard error
    assert _p_value(np.zeros(100), 3.0, 4)[0] == 2.0**-3  # tiny n: 2^(1-n) is above 1/(B+1) and wins
    assert _p_value(d, 2.0, 3) == (2.0**-2, False)  # on the resampled path too (resampled p ≈ 0.05)
    assert normal_p_value(d, 0.0) == 1.0
    assert normal_p_value(d, 1.959964 * d.std(ddof=1)) == pytest.approx(0.05, abs=1e-6)


def test_paired_bootstrap_tail_p_matches_normal_theory() -> None:
    """A clear difference of means: the tail p agrees with the analytic z-test to within a few
    percent of log10(p) (the bootstrap standard error is itself an estimate)."""
    rng = np.random.default_rng(11)
    quality = rng.random(2000)
    base = quality + rng.normal(0, 0.1, 2000)
    cand = quality - 0.02 + rng.normal(0, 0.1, 2000)
    r = paired_bootstrap(mean_stats(base), mean_stats(cand), mean_score_fn(1.0), metric="score", seed=1)
    diff = cand - base
    analytic = 2 * sps.norm.sf(abs(diff.mean()) / (diff.std(ddof=0) / math.sqrt(diff.size)))
    assert r.method.endswith("; tail p by normal approximation)")
    assert analytic < 1e-7 and r.p_value < 1e-7
    assert math.log10(r.p_value) == pytest.approx(math.log10(analytic), rel=0.1)


def test_paired_bootstraps_equal_separate_calls() -> None:
    """Stacked comparisons share resamples; each result equals its own paired_bootstrap call."""
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF(word_order=2)
    refs, hb, hc = _corpus(6, 120, 0.2, 0.35)
    inputs = [
        PairedInput(_stats(bleu, hb, refs), _stats(bleu, hc, refs), corpus_score_fn(bleu), "bleu", language="de"),
        PairedInput(_stats(chrf, hb, refs), _stats(chrf, hc, refs), corpus_score_fn(chrf), "chrf++"),
        PairedInput(_stats(chrf, hb[:50], refs[:50]), _stats(chrf, hc[:50], refs[:50]), corpus_score_fn(chrf), "c50"),
        PairedInput(mean_stats([1.0]), mean_stats([0.0]), mean_score_fn(), "one", higher_is_better=False),
        PairedInput(np.zeros((0, 2)), np.zeros((0, 2)), mean_score_fn(), "none"),
        PairedInput(mean_stats(np.arange(120) % 3 == 0), mean_stats(np.arange(120) % 4 == 0), mean_score_fn(), "em"),
    ]
    together = paired_bootstraps(inputs, n_resamples=400, seed=9)
    for x, got in zip(inputs, together, strict=True):
        alone = paired_bootstrap(x.base, x.cand, x.score_fn, metric=x.metric, higher_is_better=x.higher_is_better,
                                 n_resamples=400, seed=9, language=x.language)
        if math.isnan(alone.delta):
            assert got.n == 0 and math.isnan(got.delta)
        else:
            assert got == alone
    assert paired_bootstraps([]) == []
    with pytest.raises(ValueError):
        paired_bootstraps(inputs, n_resamples=0)
