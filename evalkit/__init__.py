"""evalkit: multilingual evaluation harness and CI quality gate for chat language models.

The public API is ``__all__``; heavy modules are imported on first use so that
``evalkit --help`` starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_suite": "evalkit.suite",
    "LoadedSuite": "evalkit.suite",
    "Suite": "evalkit.suite",
    "validate_suite": "evalkit.validate",
    "Planner": "evalkit.items",
    "Selection": "evalkit.items",
    "Item": "evalkit.items",
    "RunOptions": "evalkit.runner",
    "RunOutcome": "evalkit.runner",
    "run": "evalkit.runner",
    "run_async": "evalkit.runner",
    "ItemResult": "evalkit.results",
    "RunManifest": "evalkit.results",
    "Summary": "evalkit.results",
    "read_manifest": "evalkit.results",
    "read_summary": "evalkit.results",
    "iter_results": "evalkit.results",
    "summarize": "evalkit.results",
    "compare_runs": "evalkit.compare",
    "run_gate": "evalkit.gate",
    "build_scorer": "evalkit.scoring",
    "scorer": "evalkit.scoring",
    "Score": "evalkit.scoring",
    "CustomScorer": "evalkit.scoring",
    "normalize": "evalkit.scoring",
    "EvalkitError": "evalkit.errors",
    "SuiteError": "evalkit.errors",
    "GateFailed": "evalkit.errors",
    "RunAborted": "evalkit.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
    return getattr(import_module(module), name)
