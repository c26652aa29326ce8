"""Statistics for comparing evaluation runs (numpy only at run time).

Runs are compared *paired*: both arrays hold the same items in the same order.

* Corpus metrics with additive sufficient statistics (sacrebleu BLEU / chrF /
  TER, means of per-item scores): :func:`paired_bootstrap`
  (:func:`paired_bootstraps` for many comparisons sharing resamples),
  :func:`bootstrap_ci`, with :func:`corpus_score_fn` / :func:`mean_score_fn`.
* Binary per-item outcomes: :func:`paired_binary` (exact McNemar, Newcombe CI).
* Small samples: no p-value is below :func:`min_paired_p` (``2^(1-m)`` for ``m``
  changed items); with at most 12 changed items the bootstrap p-value is the
  exact sign-flip test :func:`sign_flip_p`.
* Many comparisons at once: :func:`adjust` (Holm or Benjamini–Hochberg).
* Gate decision: :func:`is_regression`.
* Proportions and repeats: :func:`wilson_interval`, :func:`aggregate_repeats`.

See ``docs/statistics.md`` for definitions and the power table.
"""

from __future__ import annotations

from ._bootstrap import Estimate, bootstrap_ci
from ._intervals import mcnemar_exact_p, newcombe_paired_interval, wilson_interval
from ._multiple import adjust, benjamini_hochberg, holm
from ._paired import (
    PairedComparison,
    PairedInput,
    is_regression,
    min_paired_p,
    paired_binary,
    paired_bootstrap,
    paired_bootstraps,
    randomized_sign_flip_p,
    sign_flip_p,
)
from ._repeats import RepeatAggregate, aggregate_repeats
from ._scores import BatchScoreFn, ScoreFn, corpus_score_fn, mean_score_fn, mean_stats

__all__ = [
    "BatchScoreFn",
    "Estimate",
    "PairedComparison",
    "PairedInput",
    "RepeatAggregate",
    "ScoreFn",
    "adjust",
    "aggregate_repeats",
    "benjamini_hochberg",
    "bootstrap_ci",
    "corpus_score_fn",
    "holm",
    "is_regression",
    "mcnemar_exact_p",
    "mean_score_fn",
    "mean_stats",
    "min_paired_p",
    "newcombe_paired_interval",
    "paired_binary",
    "paired_bootstrap",
    "paired_bootstraps",
    "randomized_sign_flip_p",
    "sign_flip_p",
    "wilson_interval",
]
