"""Running a suite, one stage per module, in the order the data flows:

    _plan    options, effective model, every item rendered once, the manifest
    _rundir  the run directory: exclusive lock, run key, which lines a resume adopts, quarantine
    _send    per-item request parameters and cache keys (repeat seeds), cache look-ups, requests with retries
    _score   an answer → its result line with scores (cache, in-process or worker-process scorers)
    _write   lines appended and counted; the final manifest (complete or not), summary and report
    _run     ``Run``: the stages wired together, workers, stop and abort; ``run`` / ``run_async``

This package is ``evalkit.runner`` (not ``evalkit.run``: that name is the public function).
"""

from evalkit.runner._plan import RunOptions, RunOutcome, effective_model, endpoint_of, git_revision, scorer_records
from evalkit.runner._run import Run, run, run_async
from evalkit.runner._rundir import LOCK, QUARANTINE, RunDirLock, run_key
from evalkit.runner._send import Requests
from evalkit.runner._write import write_default_report

__all__ = [
    "LOCK",
    "QUARANTINE",
    "Requests",
    "Run",
    "RunDirLock",
    "RunOptions",
    "RunOutcome",
    "effective_model",
    "endpoint_of",
    "git_revision",
    "run",
    "run_async",
    "run_key",
    "scorer_records",
    "write_default_report",
]
