"""Multiple-comparison corrections.

A gate usually checks many (metric, language) pairs at once; with 20
independent tests at alpha = 0.05 a perfectly unchanged model fails about
64 % of the time.  The corrections here return *adjusted p-values*: compare
them with alpha as usual.

* Holm–Bonferroni (default) controls the family-wise error rate — the chance
  of *any* false alarm — under any dependence between the tests, and is
  uniformly more powerful than plain Bonferroni.
* Benjamini–Hochberg controls the false discovery rate — the expected share
  of false alarms among the flagged comparisons — for independent or
  positively dependent tests; more powerful when many things changed.

NaN p-values (comparisons without items) stay NaN and do not count towards the
number of tests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ._paired import PairedComparison

__all__ = ["adjust", "benjamini_hochberg", "holm"]


def _finite(p: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(p, dtype=np.float64).reshape(-1)
    ok = ~np.isnan(arr)
    if ((arr[ok] < 0) | (arr[ok] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    return arr, ok


def holm(p: Sequence[float]) -> list[float]:
    """Holm–Bonferroni step-down adjusted p-values, in input order.

    With the ``m`` p-values sorted ascending, ``p_(1) <= … <= p_(m)``::

        adj_(i) = min(1, max_{j <= i} (m - j + 1) * p_(j))
    """
    arr, ok = _finite(p)
    out = np.full(arr.shape, math.nan)
    vals = arr[ok]
    m = vals.size
    if m:
        order = np.argsort(vals, kind="stable")
        scaled = (m - np.arange(m)) * vals[order]
        adj = np.minimum(1.0, np.maximum.accumulate(scaled))
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    return [float(x) for x in out]


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg step-up adjusted p-values ("q-values"), in input order.

    With the ``m`` p-values sorted ascending::

        adj_(i) = min(1, min_{j >= i} m / j * p_(j))

    (the same as ``scipy.stats.false_discovery_control(p, method="bh")``).
    """
    arr, ok = _finite(p)
    out = np.full(arr.shape, math.nan)
    vals = arr[ok]
    m = vals.size
    if m:
        order = np.argsort(vals, kind="stable")
        scaled = vals[order] * m / np.arange(1, m + 1)
        adj = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    return [float(x) for x in out]


def adjust(comparisons: Sequence[PairedComparison], method: Literal["holm", "bh"] = "holm") -> list[PairedComparison]:
    """Copies of ``comparisons`` (same order) with ``p_adjusted`` and ``correction`` set.

    ``method`` is ``"holm"`` (family-wise error rate) or ``"bh"``
    (Benjamini–Hochberg false discovery rate).  Pass all comparisons the gate
    decides on together — one family.
    """
    if method == "holm":
        adjusted = holm([c.p_value for c in comparisons])
    elif method == "bh":
        adjusted = benjamini_hochberg([c.p_value for c in comparisons])
    else:
        raise ValueError(f"unknown correction {method!r}; use 'holm' or 'bh'")
    return [dataclasses.replace(c, p_adjusted=q, correction=method) for c, q in zip(comparisons, adjusted, strict=True)]
