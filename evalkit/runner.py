"""Run a suite: plan items, query the provider with bounded concurrency, score, append results.

The stages live in ``evalkit.run`` (plan → send → score → write, and the run directory's lock and resume
rules); this module keeps the names other code imports.
"""

from evalkit.run import (
    Run,
    RunOptions,
    RunOutcome,
    effective_model,
    git_revision,
    run,
    run_async,
    scorer_records,
    write_default_report,
)

__all__ = [
    "Run",
    "RunOptions",
    "RunOutcome",
    "effective_model",
    "git_revision",
    "run",
    "run_async",
    "scorer_records",
    "write_default_report",
]
