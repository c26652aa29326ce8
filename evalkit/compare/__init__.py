"""Compare two runs (or two prompt variants of one run) item by item, from what is on disk.

    load_run(dir) ─┐
                   ├─ align items (item_id, or case|language|repeat for variants) → ItemPair
    load_run(dir) ─┘      │
                          ├─ refuse incompatible runs (sacrebleu signatures, suite, scorers, no overlap)
                          ├─ per (variant, language, metric): paired bootstrap (corpus) / exact McNemar (binary)
                          ├─ one multiple-comparison correction over all cells (Holm or BH)
                          └─ flips: pass→fail, largest per-item score drops, then improvements

One module per stage, in that order: ``_model`` (the values, and reading a run directory),
``_align`` (pairs, incompatibilities, groups), ``_tests`` (one paired test per cell, before the
correction), ``_verdict`` (the correction, regressions and improvements, flips, and
:func:`compare_runs`, which runs the stages).

Repeats (``--repeat N``): a repeated item is one cluster.  Corpus metrics sum the
sufficient statistics of an item's repeats, so the bootstrap resamples *items*, not
repeats; binary metrics compare per-item pass rates (mean over repeats) with a paired
bootstrap, and an item counts as passing when it passes in more than half its repeats
(used for the pass→fail counts and the flips).  ``aggregate_repeats=False`` treats
every repeat as an independent item (anti-conservative; for diagnostics only).

A resampled p-value cannot go below ``1/(n_resamples+1)``; when no resample (or random sign-flip arrangement,
the p-value of cells with at most 1,000 changed items) is as extreme as
the observed difference, ``paired_bootstrap`` estimates the tail with a normal approximation of
the bootstrap distribution, so that the multiple-comparison correction over many cells can still
flag a clear change (docs/statistics.md).

The library never prints or exits: bad input raises ``ResultsError``/``UsageError``,
incompatible runs ``IncompatibleRuns`` (exit 2) unless ``force=True``.
"""

from evalkit.compare._model import (
    CORRECTION_NAMES,
    DISPLAY_NAMES,
    Comparison,
    Correction,
    Flip,
    FlipKind,
    ItemPair,
    MetricComparison,
    RunData,
    display_metric,
    format_cell,
    format_p,
    load_run,
    plain,
    results_problem,
    signed,
)
from evalkit.compare._tests import score_function
from evalkit.compare._usage import USAGE_MEASURES, UsageDelta, format_usage_delta, usage_deltas, usage_summary_lines
from evalkit.compare._verdict import compare_runs

__all__ = [
    "CORRECTION_NAMES",
    "DISPLAY_NAMES",
    "USAGE_MEASURES",
    "Comparison",
    "Correction",
    "Flip",
    "FlipKind",
    "ItemPair",
    "MetricComparison",
    "RunData",
    "UsageDelta",
    "compare_runs",
    "display_metric",
    "format_cell",
    "format_p",
    "format_usage_delta",
    "load_run",
    "plain",
    "results_problem",
    "score_function",
    "signed",
    "usage_deltas",
    "usage_summary_lines",
]
