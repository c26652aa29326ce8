"""Vectorised nonparametric bootstrap over items.

A bootstrap resample of ``n`` items is represented by a count vector ``c``
(how often each item was drawn, ``sum(c) == n``).  Because every evalkit
statistic is additive, the summed statistics of a resample are ``c @ stats``;
``B`` resamples are a ``(B, n) @ (n, k)`` matrix product (computed in small
tiles, see :func:`_tiled_product`).  The count matrix is
built from ``rng.integers`` draws with one ``bincount`` per block of rows, and
is processed in blocks so memory stays around ``_BLOCK_ELEMENTS`` counts
whatever ``n`` and ``B`` are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._intervals import _check_confidence
from ._scores import FloatArray, ScoreFn

__all__ = ["Estimate", "bootstrap_ci"]

# Count-matrix cells materialised at once (≈4 MB as float64; small blocks stay in cache).
_BLOCK_ELEMENTS = 500_000
# Largest m·n·k of a single matrix product, and the tile shape (see _tiled_product).
_GEMM_ELEMENTS = 200_000
_TILE_ROWS = 64
_TILE_COLS = 32


@dataclass(frozen=True)
class Estimate:
    """A corpus score with a bootstrap confidence interval.

    ``value`` is the score of the full sample (not the bootstrap mean);
    ``ci_low``/``ci_high`` the percentile interval; ``n`` the number of items.
    All three are nan when ``n == 0``.
    """

    value: float
    ci_low: float
    ci_high: float
    n: int


def as_stats(stats: npt.ArrayLike, name: str = "stats") -> FloatArray:
    """Validate per-item statistics and return them as a float64 ``(n, k)`` array.

    A 1-D input is taken as one statistic per item (``k == 1``).
    """
    arr = np.asarray(stats, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (items, statistics) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _count_blocks(rng: np.random.Generator, n: int, n_resamples: int) -> Iterator[FloatArray]:
    """Yield blocks of bootstrap count vectors: float64 arrays of shape (rows, n), rows summing to n."""
    rows_per_block = max(1, min(n_resamples, _BLOCK_ELEMENTS // max(n, 1)))
    done = 0
    while done < n_resamples:
        rows = min(rows_per_block, n_resamples - done)
        idx = rng.integers(0, n, size=(rows, n))
        idx += (np.arange(rows) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n)
        yield counts.astype(np.float64)
        done += rows


def resampled_sums(stats: FloatArray, n_resamples: int, seed: int) -> FloatArray:
    """Summed statistics of ``n_resamples`` bootstrap resamples of the rows of ``stats``.

    Returns a ``(n_resamples, k)`` array.  Deterministic for a given
    ``(n, n_resamples, seed)``, so two metrics computed on the same items with
    the same seed see the same resamples.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n, k = stats.shape
    rng = np.random.default_rng(seed)
    out = np.zeros((n_resamples, k), dtype=np.float64)
    row = 0
    for counts in _count_blocks(rng, n, n_resamples):
        rows = counts.shape[0]
        _tiled_product(counts, stats, out[row : row + rows])
        row += rows
    return out


def _tiled_product(counts: FloatArray, stats: FloatArray, out: FloatArray) -> None:
    """``out += counts @ stats`` as products of at most ``_GEMM_ELEMENTS`` multiply-adds each.

    OpenBLAS runs a product with m·n·k below ~262k on the calling thread; larger ones go to
    its thread pool, which for the thin shapes of a bootstrap (few count rows, many items)
    was measured 2-5x slower on the 2-core development machine, and 20-40x slower when the
    machine is oversubscribed (parallel CI jobs).  The tiles are ``_TILE_ROWS`` resamples × ``_TILE_COLS`` statistics
    with as many items as the budget allows, so each output tile stays in cache while it
    accumulates, whatever ``k`` is (many metrics stacked side by side).  The sums are of
    integer counts times the statistics, so for integer statistics they are exact.
    """
    rows, n = counts.shape
    k = stats.shape[1]
    kt = min(k, _TILE_COLS)
    mt = min(rows, _TILE_ROWS)
    nt = max(1, _GEMM_ELEMENTS // (mt * kt))
    for j in range(0, k, kt):
        cols = stats[:, j : j + kt]
        for r in range(0, rows, mt):
            target = out[r : r + mt, j : j + kt]
            block = counts[r : r + mt]
            for s in range(0, n, nt):
                target += block[:, s : s + nt] @ cols[s : s + nt]


def apply_score(score_fn: ScoreFn, sums: FloatArray) -> FloatArray:
    """``score_fn`` applied to each row of ``sums``.

    Uses the score function's vectorised ``batch`` method when it has one
    (see :class:`BatchScoreFn`), else one Python call per row.
    """
    batch = getattr(score_fn, "batch", None)
    if callable(batch):
        out = np.asarray(batch(sums), dtype=np.float64)
        if out.shape != (sums.shape[0],):
            raise ValueError(f"score_fn.batch returned shape {out.shape}, expected ({sums.shape[0]},)")
        return out
    return np.fromiter((score_fn(row) for row in sums), dtype=np.float64, count=sums.shape[0])


def percentile_interval(values: FloatArray, confidence: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of ``values`` (linear interpolation between order statistics)."""
    alpha = 1.0 - confidence
    lo, hi = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(lo), float(hi))


def bootstrap_ci(
    stats: npt.ArrayLike,
    score_fn: ScoreFn,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Corpus score of ``stats`` with a percentile-bootstrap confidence interval.

    Args:
        stats: per-item sufficient statistics, shape ``(n, k)``.
        score_fn: summed statistics ``(k,)`` → corpus score (see
            :func:`corpus_score_fn`, :func:`mean_score_fn`).
        n_resamples: bootstrap resamples ``B``.
        seed: seed for ``numpy.random.default_rng``.
        confidence: two-sided coverage of the interval.

    ``n == 0`` gives an all-nan estimate; ``n == 1`` a zero-width interval
    (one item cannot show any variability).  Resamples whose score is nan
    (for instance a score that is undefined on some subsets) are ignored in
    the interval.
    """
    _check_confidence(confidence)
    arr = as_stats(stats)
    n = arr.shape[0]
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    value = float(score_fn(arr.sum(axis=0)))
    if n == 1:
        return Estimate(value, value, value, 1)
    scores = apply_score(score_fn, resampled_sums(arr, n_resamples, seed))
    scores = scores[~np.isnan(scores)]
    if scores.size == 0:
        return Estimate(value, math.nan, math.nan, n)
    lo, hi = percentile_interval(scores, confidence)
    return Estimate(value, lo, hi, n)
