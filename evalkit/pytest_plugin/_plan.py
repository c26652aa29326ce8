"""Which gate checks a suite will have, known before anything runs: the test items pytest collects.

:func:`evalkit.gate.plan_checks` lists them from the suite, the gates and the baseline's manifest
only, with the ids :func:`evalkit.gate.run_gate` gives its checks: thresholds, regressions (metrics
and ``usage:`` measures) and ``pairwise:`` judge checks. So ``pytest --collect-only`` and ``-k``
deselection never start a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import ResultsError
from evalkit.gate import (
    GateSpec,
    LoadedGates,
    PlannedCheck,
    RunShape,
    check_names,
    load_gates,
    parse_gates,
    plan_checks,
)
from evalkit.items import Planner
from evalkit.results import MANIFEST, read_manifest, scorer_record
from evalkit.suite import LoadedSuite, load_suite

NO_GATES = "built-in gate (the suite has no gates: section and no --evalkit-gates was given)"


@dataclass
class SuitePlan:
    """A collected suite: what to run, what to gate it with, and the checks to expect."""

    path: Path
    suite: LoadedSuite
    gates: LoadedGates
    baseline: Path | None
    reuse: Path | None
    shape: RunShape
    checks: list[PlannedCheck]

    @property
    def languages(self) -> tuple[str, ...]:
        return self.shape.languages


def find_run(root: Path, stem: str, what: str) -> Path:
    """``root`` when it is a run directory, else ``root/stem`` (one run per suite file stem)."""
    for candidate in (root, root / stem):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise ResultsError(f"{what} {root}: no evalkit run there (no {MANIFEST} in it or in {root / stem})")


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory when it is below it (as messages name files)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def suite_gates(suite: LoadedSuite, gates_file: Path | None) -> LoadedGates:
    if gates_file is not None:
        return load_gates(_shown(gates_file))
    if suite.spec.gates is not None:
        return parse_gates(suite.spec.gates, suite.positioned, ("gates",), f"{suite.display} (gates:)")
    return LoadedGates(GateSpec(), NO_GATES)


def _shape(suite: LoadedSuite, reuse: Path | None) -> RunShape:
    """Languages, variants and scorer labels of the run to gate (the suite's, or the reused run's)."""
    if reuse is not None:
        return RunShape.of(read_manifest(reuse))
    planner = Planner(suite)
    first = suite.spec.languages[0]
    labels = tuple(scorer_record(s.name, s.options, first).label for s in suite.spec.scorers)
    return RunShape(tuple(planner.languages), tuple(planner.variants), labels)


def plan_suite(path: Path, *, gates_file: Path | None, baseline_root: Path | None,
               reuse_root: Path | None) -> SuitePlan:
    """Load and check everything a suite's tests need, raising EvalkitError (exit-2 kinds) on bad input."""
    suite = load_suite(path)
    reuse = find_run(reuse_root, path.stem, "--evalkit-run") if reuse_root is not None else None
    baseline = find_run(baseline_root, path.stem, "--evalkit-baseline") if baseline_root is not None else None
    gates = suite_gates(suite, gates_file)
    shape = _shape(suite, reuse)
    check_names(gates, shape.languages, shape.labels, [])  # the gate's own check: an unknown metric is a SuiteError
    base_shape = RunShape.of(read_manifest(baseline)) if baseline is not None else None
    checks = plan_checks(gates.spec, shape, base_shape)
    return SuitePlan(path, suite, gates, baseline, reuse, shape, checks)
