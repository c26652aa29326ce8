"""Which gate checks a suite will have, known before anything runs: the test items pytest collects.

A check exists per (language, prompt variant, metric) for every threshold of the gates and, with a
baseline, for every metric the suite shares with the baseline run (unless ``skip``) — the same
rules :func:`evalkit.gate.run_gate` applies, from the suite, the gates and the baseline's manifest
only. So ``pytest --collect-only`` and ``-k`` deselection never start a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

from evalkit.errors import ResultsError
from evalkit.gate import GateSpec, LoadedGates, load_gates, parse_gates
from evalkit.gate._checks import _check_names
from evalkit.gate._spec import ERROR_RATE
from evalkit.items import Planner
from evalkit.results import MANIFEST, RunManifest, read_manifest, scorer_record
from evalkit.suite import LoadedSuite, load_suite

NO_GATES = "built-in gate (the suite has no gates: section and no --evalkit-gates was given)"


@dataclass(frozen=True)
class PlannedCheck:
    """One future gate check; ``leaf`` is the last part of its node id."""

    kind: Literal["threshold", "regression"]
    language: str
    variant: str
    metric: str
    leaf: str  # "min", "max", "range" (thresholds) or "regression"

    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.language, self.variant, self.metric)


@dataclass
class SuitePlan:
    """A collected suite: what to run, what to gate it with, and the checks to expect."""

    path: Path
    suite: LoadedSuite
    gates: LoadedGates
    baseline: Path | None
    reuse: Path | None
    languages: list[str]
    variants: list[str]
    labels: list[str]
    checks: list[PlannedCheck]

    @property
    def several_variants(self) -> bool:
        return len(self.variants) > 1


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


def _shape(suite: LoadedSuite, reuse: Path | None) -> tuple[list[str], list[str], list[str]]:
    """Languages, variants and scorer labels of the run to gate."""
    if reuse is not None:
        m = read_manifest(reuse)
        return list(m.languages), list(m.variants), [r.label for r in m.scorers]
    planner = Planner(suite)
    first = suite.spec.languages[0]
    labels = [scorer_record(s.name, s.options, first).label for s in suite.spec.scorers]
    return planner.languages, planner.variants, labels


def _leaf(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return "range"
    return "min" if minimum is not None else "max"


def planned_checks(spec: GateSpec, languages: list[str], variants: list[str], labels: list[str],
                   base: RunManifest | None) -> list[PlannedCheck]:
    """Per language, per metric (the suite's order, then error_rate): thresholds, then the regression.

    A regression check needs items of its language and variant in the baseline too (the gate
    compares only what both runs have)."""
    base_labels = [r.label for r in base.scorers] if base is not None else None
    checks = []
    for language in languages:
        for variant in variants:
            in_base = base is not None and language in base.languages and variant in base.variants
            for metric in [*labels, ERROR_RATE, *(m for m in spec.thresholds if m not in (*labels, ERROR_RATE))]:
                threshold = spec.thresholds.get(metric)
                if threshold is not None:
                    bound = threshold.for_language(language)
                    if bound.min is not None or bound.max is not None:
                        checks.append(PlannedCheck("threshold", language, variant, metric, _leaf(bound.min, bound.max)))
                if (in_base and base_labels is not None and metric in base_labels and metric in labels
                        and not spec.regression_rule(metric, language).skip):
                    checks.append(PlannedCheck("regression", language, variant, metric, "regression"))
    return checks


def _validate_names(gates: LoadedGates, languages: list[str], labels: list[str]) -> None:
    """The gate's own check of metric names (an unknown metric is a SuiteError with its location)."""
    manifest = SimpleNamespace(scorers=[SimpleNamespace(label=label) for label in labels], languages=languages)
    _check_names(gates, cast(Any, SimpleNamespace(manifest=manifest)), [])


def plan_suite(path: Path, *, gates_file: Path | None, baseline_root: Path | None,
               reuse_root: Path | None) -> SuitePlan:
    """Load and check everything a suite's tests need, raising EvalkitError (exit-2 kinds) on bad input."""
    suite = load_suite(path)
    reuse = find_run(reuse_root, path.stem, "--evalkit-run") if reuse_root is not None else None
    baseline = find_run(baseline_root, path.stem, "--evalkit-baseline") if baseline_root is not None else None
    gates = suite_gates(suite, gates_file)
    languages, variants, labels = _shape(suite, reuse)
    _validate_names(gates, languages, labels)
    base_manifest: RunManifest | None = read_manifest(baseline) if baseline is not None else None
    checks = planned_checks(gates.spec, languages, variants, labels, base_manifest)
    return SuitePlan(path, suite, gates, baseline, reuse, languages, variants, labels, checks)
