"""What a gate writes for CI: JUnit XML, a Markdown summary, and a versioned JSON verdict."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from evalkit.compare import MetricComparison, display_metric
from evalkit.gate._checks import RUN_LANGUAGE, Check, GateResult, RunCell

__all__ = ["GATE_FORMAT_VERSION", "CheckRecord", "GateVerdict", "junit_xml", "markdown_summary", "verdict",
           "write_outputs"]

GATE_FORMAT_VERSION = 1


# --- JSON verdict --------------------------------------------------------------------------------


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else x


class CheckRecord(BaseModel):
    kind: Literal["threshold", "regression", "run", "pairwise"]
    language: str
    variant: str | None = None
    metric: str
    name: str
    status: Literal["pass", "fail", "insufficient"]
    passed: bool
    message: str
    value: float | None = None
    limit: float | None = None
    n: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    base_value: float | None = None
    id: str = ""  # stable: "th::chrf++::min", as evalkit.gate.plan_checks and the pytest plugin name it


class GateVerdict(BaseModel):
    """The JSON verdict file (``--json``)."""

    format: Literal["evalkit.gate"] = "evalkit.gate"
    version: int = GATE_FORMAT_VERSION
    passed: bool
    summary: str
    run: str
    baseline: str | None = None
    gates: str
    min_items: int
    alpha: float
    correction: str | None = None
    forced: bool = False
    incompatibilities: list[str] = []
    warnings: list[str] = []
    checks: list[CheckRecord]


def _record(c: Check) -> CheckRecord:
    return CheckRecord(
        kind=c.kind, language=c.language, variant=c.variant, metric=c.metric, name=c.name, status=c.status,
        passed=c.passed, message=c.message, value=_finite(c.value), limit=_finite(c.limit), n=c.n,
        ci_low=_finite(c.ci_low), ci_high=_finite(c.ci_high), p=_finite(c.p), base_value=_finite(c.base_value),
        id=c.id,
    )


def verdict(result: GateResult) -> GateVerdict:
    """The verdict of ``result`` as a versioned, JSON-serializable model."""
    cmp = result.comparison
    return GateVerdict(
        passed=result.passed,
        summary=result.summary(),
        run=str(result.run.path),
        baseline=str(cmp.base.path) if cmp else None,
        gates=result.source,
        min_items=result.spec.min_items,
        alpha=result.spec.alpha,
        correction=cmp.correction if cmp else None,
        forced=cmp.forced if cmp else False,
        incompatibilities=cmp.incompatibilities if cmp else [],
        warnings=result.warnings,
        checks=[_record(c) for c in result.checks],
    )


# --- JUnit XML -----------------------------------------------------------------------------------


def _suite_names(result: GateResult) -> list[str]:
    names = [RUN_LANGUAGE] if any(c.language == RUN_LANGUAGE for c in result.checks) else []
    return names + [lang for lang in result.languages() if any(c.language == lang for c in result.checks)]


def junit_xml(result: GateResult) -> str:
    """JUnit XML: one ``<testsuite>`` per language (``run`` for run-level checks), one
    ``<testcase>`` per check; failing checks carry ``<failure message=...>``, insufficient data
    is a failure (or ``<skipped>`` with ``on_insufficient: warn``)."""
    root = ET.Element("testsuites", name="evalkit gate")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for lang in _suite_names(result):
        checks = [c for c in result.checks if c.language == lang]
        suite = ET.SubElement(root, "testsuite", name="run" if lang == RUN_LANGUAGE else lang)
        counts = {"tests": len(checks), "failures": 0, "skipped": 0}
        for c in checks:
            case = ET.SubElement(suite, "testcase", classname=f"evalkit.gate.{suite.get('name')}", name=c.name)
            if c.id:  # the check's stable id (as in --json and the pytest plugin's node ids)
                ET.SubElement(ET.SubElement(case, "properties"), "property", name="evalkit.id", value=c.id)
            if not c.passed:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=c.message,
                                        type="insufficient_data" if c.status == "insufficient" else c.kind)
                failure.text = c.message
            elif c.status == "insufficient":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=c.message)
            else:
                out = ET.SubElement(case, "system-out")
                out.text = c.message
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- Markdown ------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell or inline code."""
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _value(cell: RunCell) -> str:
    if cell.value is None or math.isnan(cell.value):
        return "–"
    unit = "" if cell.kind == "corpus" else "%"
    text = f"{cell.value:.1f}{unit}"
    if cell.unstable:
        text += f" ({cell.unstable} unstable)"
    return text


def _delta(m: MetricComparison | None) -> str:
    if m is None or math.isnan(m.result.delta):
        return ""
    arrow = " ▼" if m.regression else (" ▲" if m.improvement else "")
    return f" ({m.result.delta:+.1f}{arrow})".replace("-", "−")


def _table(result: GateResult) -> list[str]:
    metrics: list[str] = []
    for cell in result.cells:
        if cell.metric not in metrics:
            metrics.append(cell.metric)
    several = result.several_variants
    compared = {(m.variant, m.language, m.metric): m for m in (result.comparison.metrics if result.comparison else [])}
    head = ["language", *(["variant"] if several else []), *[display_metric(m) for m in metrics], "n", "checks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows: dict[tuple[str, str], dict[str, RunCell]] = {}
    for cell in result.cells:
        rows.setdefault((cell.language, cell.variant), {})[cell.metric] = cell
    order = {lang: i for i, lang in enumerate(result.languages())}
    for (lang, variant), cells in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        checks = [c for c in result.checks if c.language == lang and (not several or c.variant == variant)]
        failed = sum(not c.passed for c in checks)
        verdict_text = "–" if not checks else (f"{failed} of {len(checks)} failed ❌" if failed
                                               else f"{len(checks)} passed ✅")
        values = [_value(cells[m]) + _delta(compared.get((variant, lang, m))) if m in cells else "–" for m in metrics]
        n = max((c.n for c in cells.values() if c.kind != "error_rate"), default=0)
        row = [lang, *([variant] if several else []), *values, str(n), verdict_text]
        lines.append("| " + " | ".join(_md(x) for x in row) + " |")
    return lines


def _header(result: GateResult) -> list[str]:
    icon, word = ("✅", "passed") if result.passed else ("❌", "failed")
    n_fail = len(result.failures)
    count = f"{len(result.checks)} checks" if result.passed else f"{n_fail} of {len(result.checks)} checks failed"
    m = result.run.manifest
    about = f"Run `{_md(result.run.label)}` (model `{_md(m.model.name)}`, suite `{_md(m.suite.name)}`)"
    cmp = result.comparison
    if cmp is not None:
        about += f" vs baseline `{_md(cmp.base.label)}`"
    about += f" · gates: `{_md(result.source)}` · min {result.spec.min_items} items per language"
    if cmp is not None:
        about += f" · {cmp.correction}, α = {result.spec.alpha:g}"
    return [f"## {icon} evalkit gate {word}: {count}", "", about, ""]


def _bullets(title: str, items: Sequence[str]) -> list[str]:
    if not items:
        return []
    return [f"### {title}", "", *[f"- `{_md(x)}`" for x in items], ""]


def markdown_summary(result: GateResult) -> str:
    """A Markdown summary for a PR comment or ``$GITHUB_STEP_SUMMARY``: verdict, failing checks,
    a per-language table (values, deltas vs baseline, checks passed), warnings, all checks."""
    lines = _header(result)
    lines += _bullets("Failing checks", result.failure_lines())
    lines += ["### Per language", "", *_table(result), ""]
    cmp = result.comparison
    if cmp is not None and cmp.incompatibilities:
        lines += ["**Compared with --force although:** " + _md("; ".join(cmp.incompatibilities)), ""]
    lines += _bullets("Warnings", result.warning_lines())
    if cmp is not None and cmp.summary_lines():
        lines += ["<details><summary>Comparison with the baseline</summary>", ""]
        lines += [f"- {_md(line)}" for line in cmp.summary_lines()]
        lines += ["", "</details>", ""]
    lines += [f"<details><summary>All checks ({len(result.checks)})</summary>", "", "| | check |", "|---|---|"]
    for c in result.checks:
        icon = "✅" if c.status == "pass" else ("⚠️" if c.passed else "❌")
        lines.append(f"| {icon} | {_md(c.message)} |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


# --- files ---------------------------------------------------------------------------------------


def write_outputs(result: GateResult, *, junit: Path | None = None, markdown: Path | None = None,
                  json_path: Path | None = None, step_summary: Path | None = None) -> list[Path]:
    """Write the requested files; the Markdown summary is *appended* to ``step_summary``
    (GitHub's ``$GITHUB_STEP_SUMMARY``). Returns the paths written."""
    written = []
    if junit is not None:
        junit.write_text(junit_xml(result), encoding="utf-8")
        written.append(junit)
    text = markdown_summary(result) if (markdown is not None or step_summary is not None) else ""
    if markdown is not None:
        markdown.write_text(text, encoding="utf-8")
        written.append(markdown)
    if json_path is not None:
        json_path.write_text(verdict(result).model_dump_json(indent=2) + "\n", encoding="utf-8")
        written.append(json_path)
    if step_summary is not None:
        with step_summary.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        written.append(step_summary)
    return written
