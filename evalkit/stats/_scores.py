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


# sacrebleu's floor for log(0) in BLEU (``sacrebleu.utils.my_log``).
_BLEU_LOG_ZERO = -9999999999.0
_BLEU_SMOOTHING = ("none", "floor", "add-k", "exp")


def _bleu_batch(metric: Any) -> Callable[[FloatArray], FloatArray] | None:
    """Array version of ``sacrebleu.BLEU.compute_bleu`` (same operations, same order).

    Columns of a summed BLEU vector: ``[sys_len, ref_len, correct_1..N, total_1..N]``.
    Replicated per row, for every smoothing method and ``effective_order=False``:

    * brevity penalty ``exp(1 - ref/sys)`` when ``sys < ref`` (0 when ``sys == 0``), else 1;
    * score 0 when no n-gram of any order matches (sacrebleu's early return, before smoothing);
    * orders are visited 1..N; ``add-k`` adds k to ``correct`` and ``total`` of orders > 1; the
      first order with ``total == 0`` stops the loop (that order and the later ones keep
      precision 0); a zero ``correct`` gets ``100 / (2^z · total)`` (``exp``, z = zero orders so
      far), ``100 · k / total`` (``floor``) or 0 (``none``, ``add-k`` at order 1);
    * ``score = bp · exp(Σ log p_n / N)`` with ``log 0`` taken as -9999999999.

    ``None`` (no vectorised path) for ``effective_order=True`` or an unknown smoothing method.
    """
    method = str(getattr(metric, "smooth_method", ""))
    if getattr(metric, "effective_order", True) or method not in _BLEU_SMOOTHING:
        return None
    order = int(metric.max_ngram_order)
    value = metric.smooth_value
    if value is None:
        value = type(metric).SMOOTH_DEFAULTS[method]
    k = 0.0 if value is None else float(value)

    def batch(sums: FloatArray) -> FloatArray:
        rows = sums.shape[0]
        sys_len = np.trunc(sums[:, 0])  # sacrebleu takes int() of both lengths
        ref_len = np.trunc(sums[:, 1])
        correct = sums[:, 2 : 2 + order]
        total = sums[:, 2 + order : 2 + 2 * order]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0), 1.0)
            alive = np.ones(rows, dtype=bool)  # not yet stopped by an order with total == 0
            halvings = np.ones(rows)  # sacrebleu's smooth_mteval
            log_sum = np.zeros(rows)
            for i in range(order):
                c, t = correct[:, i], total[:, i]
                if method == "add-k" and i > 0:
                    c, t = c + k, t + k
                alive &= t != 0
                zero = c == 0
                if method == "exp":
                    halvings = np.where(alive & zero, halvings * 2, halvings)
                    prec = np.where(zero, 100.0 / (halvings * t), 100.0 * c / t)
                elif method == "floor":
                    prec = np.where(zero, 100.0 * k / t, 100.0 * c / t)
                else:
                    prec = np.where(zero, 0.0, 100.0 * c / t)
                prec = np.where(alive, prec, 0.0)
                log_sum = log_sum + np.where(prec == 0.0, _BLEU_LOG_ZERO, np.log(np.where(prec > 0, prec, 1.0)))
            score = bp * np.exp(log_sum / order)
        return np.where((correct != 0).any(axis=1), score, 0.0)

    return batch


def _batch_for(metric: Any) -> Callable[[FloatArray], FloatArray] | None:
    cls = type(metric)
    if not cls.__module__.startswith("sacrebleu."):
        return None
    if cls.__name__ == "CHRF" and all(hasattr(metric, a) for a in ("order", "beta", "eps_smoothing")):
        return _chrf_batch(metric)
    if cls.__name__ == "TER":
        return _ter_batch
    if cls.__name__ == "BLEU" and hasattr(metric, "max_ngram_order"):
        return _bleu_batch(metric)
    return None


def _stats_width(metric: Any) -> int:
    """Length of one sufficient-statistics vector of a sacrebleu metric (for the self-check)."""
    name = type(metric).__name__
    if name == "CHRF":
        return 3 * int(metric.order)
    if name == "BLEU":
        return 2 + 2 * int(metric.max_ngram_order)
    return 2


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

    For chrF, TER and BLEU (every smoothing method, ``effective_order=False``,
    as corpus BLEU uses) the result is a :class:`BatchScoreFn` whose vectorised
    :meth:`~BatchScoreFn.batch` replicates sacrebleu's formula; it is checked
    against the scalar path when the function is built and dropped if the two
    disagree (e.g. after a sacrebleu change).  Anything else is scored row by row.
    """
    compute: Callable[[list[Any]], Any] = metric._compute_score_from_stats
    name = f"corpus_score_{type(metric).__name__}"

    def score(summed: np.ndarray) -> float:
        return float(compute(np.asarray(summed, dtype=np.float64).tolist()).score)

    batch = _batch_for(metric)
    if batch is not None and _batch_agrees(score, batch, _stats_width(metric)):
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
