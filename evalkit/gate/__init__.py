"""Quality gates: absolute thresholds per language and regressions against a baseline run.

    gates YAML ──load_gates / parse_gates──> GateSpec
    run dir (+ baseline dir) ──run_gate──> GateResult (checks, per-language cells, comparison)
    GateResult ──junit_xml / markdown_summary / verdict──> CI outputs

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
from evalkit.gate._spec import (
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
    "GATE_FORMAT_VERSION",
    "Bound",
    "Check",
    "GateResult",
    "GateSpec",
    "GateVerdict",
    "LoadedGates",
    "RegressionRule",
    "Regressions",
    "RunCell",
    "Threshold",
    "junit_xml",
    "load_gates",
    "markdown_summary",
    "parse_gates",
    "run_cells",
    "run_gate",
    "verdict",
    "write_outputs",
]
