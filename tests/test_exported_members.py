"""The public API is ``evalkit.__all__``: changing it is a deliberate act, so it is locked here."""

from __future__ import annotations

import subprocess
import sys

import evalkit

EXPECTED = {
    "__version__",
    "EvalkitError", "GateFailed", "Item", "ItemResult", "LoadedSuite", "Planner", "RunAborted", "RunManifest",
    "RunOptions", "RunOutcome", "Selection", "Suite", "SuiteError", "Summary", "build_scorer", "iter_results",
    "CustomScorer", "Score", "scorer",
    "load_suite", "normalize", "read_manifest", "read_summary", "run", "run_async", "summarize", "validate_suite",
    "compare_runs", "run_gate",
}


def test_public_api_is_locked() -> None:
    assert set(evalkit.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in evalkit.__all__:
        assert getattr(evalkit, name) is not None, name


def test_importing_evalkit_is_light() -> None:
    # `evalkit --help` must start fast: importing the package pulls in no heavy dependency.
    heavy = "('sacrebleu', 'numpy', 'aiohttp', 'datasets', 'lingua', 'evalkit.cli')"
    code = f"import sys, evalkit; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
