"""Quality gates: absolute thresholds per language and regressions against a baseline run.

    gates YAML ──load_gates / parse_gates──> GateSpec
    run dir (+ baseline dir) ──run_gate──> GateResult (checks, per-language cells, comparison)
    GateResult ──junit_xml / markdown_summary / verdict──> CI outputs
    GateSpec + RunShape (+ the baseline's) ──plan_checks──> PlannedCheck ids, before anything runs

Every :class:`Check` has a stable ``id`` (``th::chrf++::regression``), the one its
:class:`PlannedCheck` has: integrations that list the checks up front (the pytest plugin) use
:func:`plan_checks` and :func:`check_names` rather than the gate's internals.

``evalkit gate`` and ``evalkit compare ... --gate`` are thin shells over :func:`run_gate`;
the gate format is documented in docs/gates.md.
"""

from evalkit.gate._checks import Check, GateResult, RunCell, run_cells, run_gate
from evalkit.gate._outputs import (
    GATE_FORMAT_VERSION,
    GateVerdict,
    junit_xml,
    markdown_summary,
    verdict,
    write_outputs,
)
from evalkit.gate._plan import RUN_LANGUAGE, PlannedCheck, RunShape, check_id, check_names, plan_checks
from evalkit.gate._spec import (
    ERROR_RATE,
    Bound,
    GateSpec,
    LoadedGates,
    RegressionRule,
    Regressions,
    Threshold,
    load_gates,
    parse_gates,
)

__all__ = [
    "ERROR_RATE",
    "GATE_FORMAT_VERSION",
    "RUN_LANGUAGE",
    "Bound",
    "Check",
    "GateResult",
    "GateSpec",
    "GateVerdict",
    "LoadedGates",
    "PlannedCheck",
    "RegressionRule",
    "Regressions",
    "RunCell",
    "RunShape",
    "Threshold",
    "check_id",
    "check_names",
    "junit_xml",
    "load_gates",
    "markdown_summary",
    "parse_gates",
    "plan_checks",
    "run_cells",
    "run_gate",
    "verdict",
    "write_outputs",
]
