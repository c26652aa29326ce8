"""Score functions: turn a *summed* sufficient-statistics vector into a corpus score.

Every statistic in evalkit is stored per item as a vector whose column-wise sum
over any subset of items is enough to compute the corpus score of that subset.
That is what makes the bootstrap cheap: a resample is a vector of item counts,
and its summed statistics are one matrix product.

* sacrebleu metrics (BLEU, chrF, TER) already work that way:
  ``metric._extract_corpus_statistics(hyps, [refs])`` gives one row per segment
  and ``metric._compute_score_from_stats(sums)`` the corpus score.
* Per-item scores (0/1 exact match, or any real-valued per-item score) use the
  two-column layout ``[value, 1]`` built by :func:`mean_stats`; the sum is
  ``[total, count]`` and the score is ``total / count * scale``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sacrebleu.metrics.base import Metric

__all__ = ["BatchScoreFn", "FloatArray", "ScoreFn", "corpus_score_fn", "mean_score_fn", "mean_stats"]

FloatArray = npt.NDArray[np.float64]

ScoreFn = Callable[[np.ndarray], float]
"""Maps a summed statistics vector of shape ``(k,)`` to a corpus score."""


class BatchScoreFn:
    """A :data:`ScoreFn` that can also score many summed vectors at once.

    Calling it scores one vector; :meth:`batch` scores the rows of a ``(B, k)``
    array and must give the same values.  The bootstrap uses :meth:`batch` for
    the resamples when a score function has it, which turns ``B`` Python calls
    into a few array operations.
    """

    def __init__(
        self,
        scalar: Callable[[np.ndarray], float],
        batch: Callable[[FloatArray], FloatArray],
        name: str,
    ) -> None:
        self._scalar = scalar
        self._batch = batch
        self.__name__ = name

    def __call__(self, summed: np.ndarray) -> float:
        return self._scalar(summed)

    def batch(self, sums: FloatArray) -> FloatArray:
        """Scores of the rows of ``sums`` (shape ``(B, k)``) as a ``(B,)`` array."""
        return np.asarray(self._batch(np.asarray(sums, dtype=np.float64)), dtype=np.float64)

    def __repr__(self) -> str:
        return f"<score function {self.__name__} (vectorised)>"


def _chrf_batch(metric: Any) -> Callable[[FloatArray], FloatArray]:
    """Array version of ``sacrebleu.CHRF._compute_f_score`` (same operations, same order)."""
    order = int(metric.order)
    factor = float(metric.beta) ** 2
    eps_smoothing = bool(metric.eps_smoothing)
    eps = 1e-16

    def batch(sums: FloatArray) -> FloatArray:
        rows = sums.shape[0]
        score = np.zeros(rows)
        avg_prec = np.zeros(rows)
        avg_rec = np.zeros(rows)
        eff = np.zeros(rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(order):
                n_hyp, n_ref, n_match = sums[:, 3 * i], sums[:, 3 * i + 1], sums[:, 3 * i + 2]
                prec = np.where(n_hyp > 0, n_match / n_hyp, eps)
                rec = np.where(n_ref > 0, n_match / n_ref, eps)
                denom = factor * prec + rec
                score += np.where(denom > 0, (1 + factor) * prec * rec / denom, eps)
                both = (n_hyp > 0) & (n_ref > 0)
                avg_prec += np.where(both, prec, 0.0)
                avg_rec += np.where(both, rec, 0.0)
                eff += both
            if eps_smoothing:
                return 100 * score / order
            avg_prec = np.where(eff > 0, avg_prec / eff, 0.0)
            avg_rec = np.where(eff > 0, avg_rec / eff, 0.0)
            f = (1 + factor) * avg_prec * avg_rec
            f /= (factor * avg_prec) + avg_rec
            return np.where(avg_prec + avg_rec != 0, 100 * f, 0.0)

    return batch


def _ter_batch(sums: FloatArray) -> FloatArray:
    """Array version of ``sacrebleu.TER._compute_score_from_stats``."""
    edits, ref_len = sums[:, 0], sums[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref_len > 0, edits / ref_len, np.where(edits > 0, 1.0, 0.0))
    return 100 * ratio


def _batch_for(metric: Any) -> Callable[[FloatArray], FloatArray] | None:
    cls = type(metric)
    if not cls.__module__.startswith("sacrebleu."):
        return None
    if cls.__name__ == "CHRF" and all(hasattr(metric, a) for a in ("order", "beta", "eps_smoothing")):
        return _chrf_batch(metric)
    if cls.__name__ == "TER":
        return _ter_batch
    return None


def _batch_agrees(scalar: Callable[[np.ndarray], float], batch: Callable[[FloatArray], FloatArray], k: int) -> bool:
    """Self-check of a vectorised score against the scalar one on awkward vectors (zeros included)."""
    rng = np.random.default_rng(12345)
    probe = rng.integers(0, 40, size=(64, k)).astype(np.float64)
    probe[rng.random(probe.shape) < 0.15] = 0.0
    probe[0] = 0.0
    try:
        got = batch(probe)
        want = np.array([scalar(row) for row in probe])
    except Exception:  # any failure just disables the fast path
        return False
    return bool(np.allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True))


def corpus_score_fn(metric: Metric) -> ScoreFn:
    """Score function for a sacrebleu metric (``BLEU()``, ``CHRF()``, ``TER()``).

    Calls ``metric._compute_score_from_stats(sums).score``.  The vector is handed
    over as a list of Python floats: integer counts are represented exactly, so
    the score equals ``metric.corpus_score(...)`` bit for bit, and a list keeps
    sacrebleu from mutating the caller's array (BLEU's add-k smoothing edits
    its input in place).

    For chrF and TER the result is a :class:`BatchScoreFn` whose vectorised
    :meth:`~BatchScoreFn.batch` replicates sacrebleu's formula; it is checked
    against the scalar path when the function is built and dropped if the two
    disagree (e.g. after a sacrebleu change).  BLEU is scored row by row.
    """
    compute: Callable[[list[Any]], Any] = metric._compute_score_from_stats
    name = f"corpus_score_{type(metric).__name__}"

    def score(summed: np.ndarray) -> float:
        return float(compute(np.asarray(summed, dtype=np.float64).tolist()).score)

    batch = _batch_for(metric)
    if batch is not None:
        m: Any = metric
        k = 3 * int(m.order) if type(metric).__name__ == "CHRF" else 2
        if _batch_agrees(score, batch, k):
            return BatchScoreFn(score, batch, name)
    score.__name__ = name
    return score


def mean_score_fn(scale: float = 100.0) -> ScoreFn:
    """Score function for per-item values stored as ``[value, 1]`` rows (see :func:`mean_stats`).

    Returns ``sum(value) / count * scale`` (so 0/1 scores become a percentage
    with the default scale), or nan for an empty set.
    """

    def score(summed: np.ndarray) -> float:
        if len(summed) != 2:
            raise ValueError(
                f"mean_score_fn expects the two-column layout [value, 1], got a vector of length {len(summed)}"
            )
        total, count = float(summed[0]), float(summed[1])
        if count == 0:
            return math.nan
        return total / count * scale

    def batch(sums: FloatArray) -> FloatArray:
        if sums.shape[1] != 2:
            raise ValueError(f"mean_score_fn expects the two-column layout [value, 1], got {sums.shape[1]}")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sums[:, 1] != 0, sums[:, 0] / sums[:, 1] * scale, np.nan)

    return BatchScoreFn(score, batch, "mean_score")


def mean_stats(values: Sequence[float] | Sequence[bool] | npt.ArrayLike) -> FloatArray:
    """Per-item statistics ``[value, 1]`` (shape ``(n, 2)``) for :func:`mean_score_fn`.

    Booleans become 0/1.  NaN values are not allowed (drop those items first).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if np.isnan(v).any():
        raise ValueError("mean_stats: values contain NaN; drop those items before comparing")
    return np.column_stack([v, np.ones_like(v)])
