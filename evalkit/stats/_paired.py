"""Paired comparisons of two runs on the same (aligned) items.

* :func:`paired_bootstrap` — any additive-statistics metric (BLEU, chrF, TER,
  means of per-item scores): paired percentile bootstrap CI for the difference
  and a bootstrap test of ``H0: delta = 0``; :func:`paired_bootstraps` runs
  many at once, sharing the resamples.
* :func:`paired_binary` — 0/1 per-item outcomes: exact McNemar test and
  Newcombe's paired-difference interval.
* :func:`sign_flip_p` — the exact paired permutation (sign-flip) test that
  :func:`paired_bootstrap` uses instead of the bootstrap p-value when at most
  :data:`EXACT_MAX_CHANGED` items differ between the runs.
* :func:`min_paired_p` — ``2^(1-m)``, the smallest two-sided p-value any paired
  test can give on ``m`` changed items; no path reports less.
* :func:`is_regression` — the gate decision for one comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._bootstrap import _tiled_product, apply_score, as_stats, percentile_interval, resampled_sums
from ._intervals import _check_confidence, mcnemar_exact_p, newcombe_paired_interval
from ._scores import FloatArray, ScoreFn

__all__ = [
    "EXACT_MAX_CHANGED",
    "PairedComparison",
    "PairedInput",
    "is_regression",
    "min_paired_p",
    "paired_binary",
    "paired_bootstrap",
    "paired_bootstraps",
    "randomized_sign_flip_p",
    "sign_flip_p",
]

#: Up to this many changed items the p-value is the exact sign-flip test over all
#: ``2^m`` arrangements (4,096 score evaluations at most), not the bootstrap.
EXACT_MAX_CHANGED = 12

#: Up to this many changed items (and above :data:`EXACT_MAX_CHANGED`) the p-value is the
#: sign-flip test over random arrangements (approximate randomization), as many as the bootstrap
#: has resamples: the shift bootstrap's p-value is optimistic on small and medium samples (A/A
#: false alarms of 9 % at 13 items, 6 % at 100; see docs/statistics.md). Beyond it the bootstrap's
#: p-value is used (its error is small there and the randomization would double the cost).
RANDOMIZED_MAX_CHANGED = 1000


@dataclass(frozen=True)
class PairedComparison:
    """The result of comparing a candidate run against a base run on the same items.

    Scores and ``delta = cand - base`` are in the metric's own units (points
    for BLEU/chrF/TER, percentage points for binary metrics); ``ci_low`` and
    ``ci_high`` bound ``delta``.  ``p_value`` is two-sided.  ``p_adjusted``
    is filled in by :func:`adjust` (multiple-comparison correction, named in
    ``correction``).  ``alpha`` is the significance level :attr:`regression`
    uses.
    """

    metric: str
    language: str | None
    base: float
    cand: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    method: str
    higher_is_better: bool
    n_pass_to_fail: int | None = None
    n_fail_to_pass: int | None = None
    p_adjusted: float | None = None
    correction: str | None = None
    alpha: float = 0.05

    @property
    def p(self) -> float:
        """The p-value decisions use: ``p_adjusted`` when set, else ``p_value``."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def significant(self) -> bool:
        """``p < alpha`` (adjusted p when available), in either direction."""
        p = self.p
        return not math.isnan(p) and p < self.alpha

    @property
    def regression(self) -> bool:
        """Significant (at ``alpha``, after adjustment if any) and in the bad direction."""
        return is_regression(self, alpha=self.alpha)

    @property
    def improvement(self) -> bool:
        """Significant and in the good direction."""
        if math.isnan(self.delta) or self.delta == 0 or not self.significant:
            return False
        return (self.delta > 0) == self.higher_is_better


def is_regression(
    c: PairedComparison,
    *,
    alpha: float = 0.05,
    max_drop: float = 0.0,
    require_significance: bool = True,
) -> bool:
    """Whether comparison ``c`` is a regression.

    True when the change is in the bad direction by *more* than ``max_drop``
    (in the metric's units: ``delta < -max_drop`` when higher is better,
    ``delta > max_drop`` when lower is better) and, if
    ``require_significance``, ``p_adjusted`` (or ``p_value`` when no correction
    was applied) is below ``alpha``.  NaN deltas or p-values (no items) are
    never regressions.
    """
    if max_drop < 0:
        raise ValueError(f"max_drop must be >= 0, got {max_drop}")
    if math.isnan(c.delta):
        return False
    bad = c.delta < -max_drop if c.higher_is_better else c.delta > max_drop
    if not bad:
        return False
    if not require_significance:
        return True
    p = c.p
    return not math.isnan(p) and p < alpha


def _check_pair(base: npt.ArrayLike, cand: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    b = as_stats(base, "base")
    c = as_stats(cand, "cand")
    if b.shape != c.shape:
        raise ValueError(
            f"base and cand must be aligned item by item with the same statistics: shapes {b.shape} and {c.shape}"
        )
    return b, c


def min_paired_p(m: int) -> float:
    """``2^(1-m)`` (at most 1): the smallest two-sided p-value a paired test can reach on ``m`` items
    that differ between the runs.

    Under the null hypothesis "the two runs are exchangeable item by item", swapping the two
    answers of any item is as likely as not; of the ``2^m`` arrangements of the changed items,
    the observed one and the one with every item swapped (the same difference with the other
    sign) are always at least as extreme. So no valid paired test — sign-flip, McNemar, or a
    bootstrap that claims to approximate them — can say less than ``2 / 2^m``.
    """
    if m <= 1:
        return 1.0
    return math.ldexp(1.0, 1 - m) if m < 1075 else 0.0


def _changed_rows(b: FloatArray, c: FloatArray) -> np.ndarray:
    """Indices of the items whose statistics differ between the two runs."""
    return np.flatnonzero(np.any(b != c, axis=1))


def _flip_inputs(base: npt.ArrayLike, cand: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """What a sign-flip test needs: both runs' summed statistics, and ``cand - base`` of each of the
    ``m`` changed items (an ``(m, k)`` array: what swapping that item moves)."""
    b, c = _check_pair(base, cand)
    changed = _changed_rows(b, c)
    return b.sum(axis=0), c.sum(axis=0), c[changed] - b[changed]


def _extreme_count(deltas: np.ndarray, observed: float) -> int:
    """Arrangements' deltas at least as far from 0 as ``observed`` (a tiny relative tolerance counts
    floating-point ties as ties; a NaN delta counts as extreme)."""
    threshold = abs(observed) - 1e-9 * max(1.0, abs(observed))
    return int(np.count_nonzero(np.isnan(deltas) | (np.abs(deltas) >= threshold)))


def sign_flip_p(base: npt.ArrayLike, cand: npt.ArrayLike, score_fn: ScoreFn) -> float:
    """Exact two-sided paired permutation (sign-flip) p-value of ``score(cand) - score(base)``.

    Under H0 the two runs' statistics of each item are exchangeable. Every one of the ``2^m``
    ways of swapping base and candidate on the ``m`` items that differ (unchanged items swap to
    themselves) is scored, and::

        p = #{ arrangements with |delta'| >= |delta| } / 2^m

    (a tiny relative tolerance counts floating-point ties as ties; an arrangement whose score
    is NaN counts as extreme). For a mean this is Fisher's sign-flip test; for corpus BLEU,
    chrF or TER it is the paired approximate-randomization test (Riezler & Maxwell 2005),
    computed exactly. ``p >= 2^(1-m)`` always (:func:`min_paired_p`); ``p = 1`` when nothing
    changed. Raises ``ValueError`` when more than :data:`EXACT_MAX_CHANGED` items changed.
    """
    base_sum, cand_sum, diff = _flip_inputs(base, cand)
    m = diff.shape[0]
    if m > EXACT_MAX_CHANGED:
        raise ValueError(f"{m} changed items: the exact test enumerates at most {EXACT_MAX_CHANGED}")
    if m == 0:
        return 1.0
    delta = float(score_fn(cand_sum)) - float(score_fn(base_sum))
    flips = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(np.float64)  # row i: the bits of i
    # The base side after swapping the items of arrangement i; the candidate side of arrangement i
    # is the base side of its complement (every other item swapped), row 2^m - 1 - i: one score
    # per arrangement serves both sides.
    scores = apply_score(score_fn, base_sum + flips @ diff)
    extreme = _extreme_count(scores[::-1] - scores, delta)
    return max(extreme / 2**m, min_paired_p(m))


def randomized_sign_flip_p(base: npt.ArrayLike, cand: npt.ArrayLike, score_fn: ScoreFn, *,
                           n_flips: int = 1000, seed: int = 0) -> tuple[float, bool]:
    """Two-sided sign-flip p-value of ``score(cand) - score(base)`` over ``n_flips`` random arrangements.

    The Monte Carlo version of :func:`sign_flip_p` (approximate randomization, Riezler & Maxwell
    2005; sacrebleu's ``paired-ar``): each changed item is swapped between the runs with
    probability 1/2, independently, and ``p = (#{ |delta'| >= |delta| } + 1) / (n_flips + 1)``,
    a valid p-value at any sample size. When no arrangement is as extreme (p at its floor
    ``1/(n_flips+1)``), the tail is estimated with a normal approximation of the randomization
    distribution, capped at that floor, so a correction over many cells can still flag a clear
    change; the second value says whether that happened. ``p >= 2^(1-m)`` always.
    """
    base_sum, cand_sum, diff = _flip_inputs(base, cand)
    m = diff.shape[0]
    if m == 0:
        return 1.0, False
    delta = float(score_fn(cand_sum)) - float(score_fn(base_sum))
    flips = np.random.default_rng(seed).integers(0, 2, size=(n_flips, m)).astype(np.float64)
    moved = np.zeros((n_flips, diff.shape[1]), dtype=np.float64)
    _tiled_product(flips, diff, moved)
    deltas = apply_score(score_fn, cand_sum - moved) - apply_score(score_fn, base_sum + moved)
    extreme = _extreme_count(deltas, delta)
    floor = min_paired_p(m)
    if extreme > 0:
        return max((extreme + 1) / (n_flips + 1), floor), False
    finite = deltas[~np.isnan(deltas)]
    spread = float(np.sqrt(np.mean(finite**2))) if finite.size else 0.0  # the null distribution is centred on 0
    tail = 0.0 if spread == 0 else math.erfc(abs(delta) / spread / math.sqrt(2.0))
    return max(min(1.0 / (n_flips + 1), tail), floor), True


def _tail_count(deltas: np.ndarray, observed: float) -> int:
    """Resampled deltas, centred on their mean, at least as far from 0 as ``observed``."""
    centred = np.abs(deltas - deltas.mean())
    threshold = abs(observed) - 1e-9 * max(1.0, abs(observed))
    return int(np.count_nonzero(centred >= threshold))


def bootstrap_p_value(deltas: np.ndarray, observed: float) -> float:
    """Two-sided bootstrap p-value for ``H0: delta = 0`` (shift method).

    The resampled deltas are centred on their mean so that they follow the
    null, and the p-value is the share of centred deltas at least as extreme
    as the observed one, with the ``+1`` correction that keeps the test valid
    with a finite number of resamples::

        p = (#{ b : |d_b - mean(d)| >= |d_obs| } + 1) / (B + 1)

    A tiny relative tolerance makes an exact-zero observed difference give
    ``p = 1`` despite floating-point noise.
    """
    return (_tail_count(deltas, observed) + 1) / (deltas.size + 1)


def normal_p_value(deltas: np.ndarray, observed: float) -> float:
    """Two-sided p-value of ``z = observed / sd(deltas)`` under a standard normal: ``erfc(|z| / √2)``.

    ``sd(deltas)`` (``ddof=1``) is the bootstrap standard error of the difference;
    ``inf`` z (a zero standard error with a non-zero difference) gives 0.
    """
    se = float(np.std(deltas, ddof=1)) if deltas.size > 1 else 0.0
    if observed == 0:
        return 1.0
    if se == 0 or not math.isfinite(se):
        return 0.0
    return math.erfc(abs(observed) / se / math.sqrt(2.0))


def _p_value(deltas: np.ndarray, observed: float, n: int) -> tuple[float, bool]:
    """The p-value :func:`paired_bootstrap` reports, and whether the normal tail was used.

    The shift-test p-value :func:`bootstrap_p_value`, unless no resampled delta is as
    extreme as the observed one: then that p-value sits at its floor ``1/(B+1)``, which
    says only "p is below the resolution of B resamples".  The tail is then estimated
    from the bootstrap distribution with a normal approximation, ``2 Φ(-|delta| / se)``,
    capped at ``1/(B+1)`` (the count already shows that p is no larger).  On either path p
    is never below ``2^(1-n)`` (:func:`min_paired_p`), the smallest p-value an exact paired
    (sign-flip) test can reach on ``n`` changed items.  See docs/statistics.md.
    """
    count = _tail_count(deltas, observed)
    b = deltas.size
    floor = min_paired_p(n)
    if count > 0:
        return max((count + 1) / (b + 1), floor), False
    return max(min(1.0 / (b + 1), normal_p_value(deltas, observed)), floor), True


@dataclass(frozen=True)
class PairedInput:
    """One comparison for :func:`paired_bootstraps`: the arguments of :func:`paired_bootstrap`."""

    base: npt.ArrayLike
    cand: npt.ArrayLike
    score_fn: ScoreFn
    metric: str
    higher_is_better: bool = True
    language: str | None = None


def paired_bootstrap(
    base: npt.ArrayLike,
    cand: npt.ArrayLike,
    score_fn: ScoreFn,
    *,
    metric: str,
    higher_is_better: bool = True,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    language: str | None = None,
) -> PairedComparison:
    """Paired bootstrap comparison of two runs' per-item statistics.

    Args:
        base, cand: aligned per-item statistics, shape ``(n, k)`` each (row ``i``
            of both is the same item).
        score_fn: summed statistics → corpus score.
        metric: name stored in the result.
        higher_is_better: direction of the metric (False for TER).
        n_resamples: bootstrap resamples ``B``.
        seed: RNG seed; results are deterministic.
        confidence: coverage of the interval for ``delta``.
        language: stored in the result.

    Both systems are scored on the *same* resampled items.  ``delta`` is
    ``score(cand) - score(base)`` on the full sample (exactly what sacrebleu's
    ``corpus_score`` would give), the CI is the percentile interval of the
    resampled deltas, and the p-value is :func:`bootstrap_p_value` (the
    centred bootstrap test of ``H0: delta = 0``; sacrebleu's ``paired_bs``
    instead centres the *absolute* resampled differences, which makes its
    p-values somewhat larger for real differences and is not a test of a
    well-defined null).  When no resample is as extreme as ``delta`` (the
    p-value would sit at its floor ``1/(B+1)``), the tail beyond the resamples
    is estimated with a normal approximation of the bootstrap distribution
    (``z = delta / se``), so that a multiple-comparison correction over many
    cells can still flag a clear change; ``method`` then says "tail p by
    normal approximation" (see :func:`_p_value`).

    Small samples: when at most :data:`EXACT_MAX_CHANGED` items differ between
    the runs, the p-value is the exact sign-flip test :func:`sign_flip_p`
    instead (``method`` says so); on every path p is at least
    :func:`min_paired_p` of the number of changed items, ``2^(1-m)``.

    Degenerate inputs: ``n == 0`` gives nan scores and p-value; ``n == 1``
    gives a zero-width CI and ``p = 1`` (one item is no evidence of a
    systematic difference); no changed item gives ``p = 1``.  The percentile
    CI is optimistic below ~20 items.
    """
    one = PairedInput(base, cand, score_fn, metric, higher_is_better, language)
    return paired_bootstraps([one], n_resamples=n_resamples, seed=seed, confidence=confidence)[0]


def paired_bootstraps(
    inputs: Sequence[PairedInput],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[PairedComparison]:
    """:func:`paired_bootstrap` for several comparisons at once (results in input order).

    Comparisons with the same number of items ``n`` share one set of resamples: their
    statistics are stacked side by side and resampled with one count matrix, which is what
    separate calls with the same ``seed`` would draw anyway.  So each result equals the one
    :func:`paired_bootstrap` gives for the same arguments (exactly for integer statistics
    such as sacrebleu's; to the last bits of the summation order otherwise), at the cost of
    one resampling per distinct ``n`` instead of one per comparison.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    checked = [_check_pair(x.base, x.cand) for x in inputs]
    by_n: dict[int, list[int]] = {}
    for i, (b, _) in enumerate(checked):
        if b.shape[0] >= 2:
            by_n.setdefault(b.shape[0], []).append(i)
    resampled: dict[int, tuple[FloatArray, FloatArray]] = {}
    for indices in by_n.values():
        stacked = np.hstack([m for i in indices for m in checked[i]])
        sums = resampled_sums(stacked, n_resamples, seed)
        col = 0
        for i in indices:
            k = checked[i][0].shape[1]
            resampled[i] = (sums[:, col : col + k], sums[:, col + k : col + 2 * k])
            col += 2 * k
    method = f"paired bootstrap ({n_resamples} resamples, seed {seed})"
    return [
        _paired_result(x, b, c, resampled.get(i), method, confidence, n_resamples, seed)
        for i, (x, (b, c)) in enumerate(zip(inputs, checked, strict=True))
    ]


def _paired_result(
    x: PairedInput,
    b: FloatArray,
    c: FloatArray,
    sums: tuple[FloatArray, FloatArray] | None,
    method: str,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> PairedComparison:
    """One comparison from its full-sample statistics and (for n >= 2) its resampled sums."""
    n = b.shape[0]
    hib = x.higher_is_better
    nan = math.nan
    if n == 0:
        return PairedComparison(x.metric, x.language, nan, nan, nan, nan, nan, nan, 0, method, hib)
    base_score = float(x.score_fn(b.sum(axis=0)))
    cand_score = float(x.score_fn(c.sum(axis=0)))
    delta = cand_score - base_score
    if sums is None:  # n == 1
        return PairedComparison(x.metric, x.language, base_score, cand_score, delta, delta, delta, 1.0, 1, method, hib)
    deltas = apply_score(x.score_fn, sums[1]) - apply_score(x.score_fn, sums[0])
    deltas = deltas[~np.isnan(deltas)]
    if deltas.size == 0 or math.isnan(delta):
        return PairedComparison(x.metric, x.language, base_score, cand_score, delta, nan, nan, nan, n, method, hib)
    lo, hi = percentile_interval(deltas, confidence)
    changed = int(_changed_rows(b, c).size)
    if changed == 0:  # the same statistics on both sides: no evidence of any difference
        p = 1.0
    elif changed <= EXACT_MAX_CHANGED:
        p = sign_flip_p(b, c, x.score_fn)
        method = method[:-1] + f"; exact sign-flip p over the 2^{changed} arrangements of {changed} changed items)"
    elif changed <= RANDOMIZED_MAX_CHANGED:
        p, normal_tail = randomized_sign_flip_p(b, c, x.score_fn, n_flips=n_resamples, seed=seed)
        method = method[:-1] + f"; sign-flip p over {n_resamples} random arrangements of {changed} changed items"
        method += ", tail by normal approximation)" if normal_tail else ")"
    else:
        p, normal_tail = _p_value(deltas, delta, changed)
        if normal_tail:
            method = method[:-1] + "; tail p by normal approximation)"
    return PairedComparison(x.metric, x.language, base_score, cand_score, delta, lo, hi, p, n, method, hib)


def _as_binary(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-item outcomes, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must contain only booleans or 0/1")
        arr = arr.astype(bool)
    return arr


def paired_binary(
    base: npt.ArrayLike,
    cand: npt.ArrayLike,
    *,
    metric: str,
    language: str | None = None,
    confidence: float = 0.95,
) -> PairedComparison:
    """Paired comparison of per-item pass/fail outcomes (exact match, contains, …).

    ``base``/``cand`` are aligned boolean (or 0/1) arrays.  Scores and
    ``delta`` are in percentage points.

    * p-value: exact two-sided McNemar test — a binomial test of the
      ``pass→fail`` count among the ``b + c`` discordant items with
      ``p = 0.5`` (``p = 1`` when no item changed).  Items that pass or fail
      in both runs carry no information about the difference.
    * CI: Newcombe's (1998) method 10 hybrid score interval for the
      difference of paired proportions (good coverage down to small n, never
      outside [-100, 100], no continuity correction).

    The interval and the test are different procedures, so in borderline
    cases the CI may exclude 0 while ``p`` is just above ``1 - confidence``
    (or vice versa); gate decisions use the p-value.
    """
    _check_confidence(confidence)
    b = _as_binary(base, "base")
    c = _as_binary(cand, "cand")
    if b.shape != c.shape:
        raise ValueError(f"base and cand must be aligned item by item: lengths {b.size} and {c.size}")
    n = int(b.size)
    method = "exact McNemar"
    if n == 0:
        nan = math.nan
        return PairedComparison(metric, language, nan, nan, nan, nan, nan, nan, 0, method, True, 0, 0)
    both = int(np.count_nonzero(b & c))
    pass_to_fail = int(np.count_nonzero(b & ~c))
    fail_to_pass = int(np.count_nonzero(~b & c))
    neither = n - both - pass_to_fail - fail_to_pass
    base_rate = 100.0 * (both + pass_to_fail) / n
    cand_rate = 100.0 * (both + fail_to_pass) / n
    delta = 100.0 * (fail_to_pass - pass_to_fail) / n
    lo, hi = newcombe_paired_interval(both, fail_to_pass, pass_to_fail, neither, confidence)
    p = mcnemar_exact_p(pass_to_fail, fail_to_pass)
    return PairedComparison(
        metric,
        language,
        base_rate,
        cand_rate,
        delta,
        100.0 * lo,
        100.0 * hi,
        p,
        n,
        method,
        True,
        pass_to_fail,
        fail_to_pass,
    )
