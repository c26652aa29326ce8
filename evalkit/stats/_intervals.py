"""Closed-form intervals and exact tests for proportions (numpy/stdlib only).

* :func:`wilson_interval` — Wilson score interval for one binomial proportion.
* :func:`newcombe_paired_interval` — Newcombe's (1998) method 10 for the
  difference of two *paired* proportions (hybrid score interval built from two
  Wilson intervals and the phi correlation of the 2×2 table).
* :func:`mcnemar_exact_p` — exact two-sided McNemar test, i.e. a two-sided
  binomial test of ``b`` successes in ``b + c`` trials with ``p = 0.5``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["mcnemar_exact_p", "newcombe_paired_interval", "wilson_interval", "z_quantile"]

# Above this many discordant pairs the exact big-integer binomial sum gets slow,
# and a log-space sum (relative error ~1e-10) is used instead.
_EXACT_BINOMIAL_MAX_N = 2000


def z_quantile(confidence: float) -> float:
    """The two-sided standard-normal critical value for ``confidence`` (0.95 → 1.95996…)."""
    _check_confidence(confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Returns ``(low, high)`` as proportions in ``[0, 1]``; ``(nan, nan)`` when
    ``n == 0``.  The interval is the set of ``p`` for which the score test
    ``|p̂ - p| / sqrt(p(1-p)/n) <= z`` does not reject:

        centre = (p̂ + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) * sqrt(p̂(1-p̂)/n + z²/4n²)

    Example: 8 of 10 at 95 % gives ``(0.4902, 0.9433)``.
    """
    _check_confidence(confidence)
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    z = z_quantile(confidence)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def newcombe_paired_interval(
    both: int, only_first: int, only_second: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's method 10 interval for ``p_first - p_second`` on paired binary data.

    The 2×2 table counts pairs: ``both`` (first and second succeed),
    ``only_first``, ``only_second`` and ``neither``.  With ``p1 = (both + only_first)/n``,
    ``p2 = (both + only_second)/n``, Wilson intervals ``(l1, u1)``, ``(l2, u2)`` and
    ``phi`` the correlation of the two outcomes, computed from
    ``A = both*neither - only_first*only_second`` as ``(A - n/2) / sqrt(product of
    margins)`` when ``A > n/2``, ``A / sqrt(...)`` when ``A < 0`` and 0 otherwise
    (Newcombe's continuity adjustment of phi; 0 also when a margin is empty)::

        delta   = sqrt((p1-l1)² - 2 phi (p1-l1)(u2-p2) + (u2-p2)²)
        epsilon = sqrt((u1-p1)² - 2 phi (u1-p1)(p2-l2) + (p2-l2)²)
        CI      = (p1 - p2 - delta,  p1 - p2 + epsilon)

    Newcombe, R. G. (1998) "Improved confidence intervals for the difference
    between binomial proportions based on paired data", Stat. Med. 17:2635-2650;
    as implemented in Fagerland, Lydersen & Laake, *Statistical Analysis of
    Contingency Tables* (2017), ch. 8 ("Newcombe square-and-add").
    Returned as proportions (not percentage points); ``(nan, nan)`` when n == 0.
    """
    counts = (both, only_first, only_second, neither)
    if any(c < 0 for c in counts):
        raise ValueError(f"counts must be non-negative, got {counts}")
    n = sum(counts)
    if n == 0:
        return (math.nan, math.nan)
    a, b, c, d = counts
    p1 = (a + b) / n
    p2 = (a + c) / n
    l1, u1 = wilson_interval(a + b, n, confidence)
    l2, u2 = wilson_interval(a + c, n, confidence)
    margins = float(a + b) * float(c + d) * float(a + c) * float(b + d)
    cross = float(a) * d - float(b) * c
    if margins == 0 or 0 <= cross <= n / 2:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(margins)
    else:
        phi = cross / math.sqrt(margins)
    dl = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    du = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    theta = p1 - p2
    return (max(-1.0, theta - dl), min(1.0, theta + du))


def _binom_half_cdf_exact(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly (big integers, one rounding)."""
    term = 1  # C(n, 0)
    total = 1
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    return total / (1 << n)


def _binom_half_cdf_log(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2) with k <= n/2, summed downwards from pmf(k)."""
    log_pmf_k = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2.0)
    # pmf(i-1)/pmf(i) = i / (n - i + 1); terms shrink geometrically below the mode.
    s = 1.0
    term = 1.0
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        s += term
        if term < 1e-17 * s:
            break
    return math.exp(log_pmf_k + math.log(s))


def mcnemar_exact_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under H0 each discordant pair goes either way with probability 1/2, so
    ``b ~ Binomial(b + c, 1/2)``.  Because that distribution is symmetric, the
    two-sided p-value (sum of the probabilities of all outcomes no more likely
    than the observed one, as in ``scipy.stats.binomtest``) is
    ``min(1, 2 * P(X <= min(b, c)))``.  ``b + c == 0`` gives 1.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    if 2 * k >= n:  # b == c
        return 1.0
    cdf = _binom_half_cdf_exact(k, n) if n <= _EXACT_BINOMIAL_MAX_N else _binom_half_cdf_log(k, n)
    return min(1.0, 2.0 * cdf)
