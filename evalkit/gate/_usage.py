"""Gate checks on tokens, cost, latency and truncation (docs/gates.md, "Cost, tokens, latency, truncation").

``thresholds:`` may name the usage pseudo-metrics of :data:`USAGE_THRESHOLDS` (absolute limits on the
run, per variant × language); ``usage:`` limits their increase against the baseline, from the paired
usage deltas of the comparison (:func:`evalkit.compare.usage_deltas`).
"""

from __future__ import annotations

import math
from dataclasses import replace

from evalkit.compare import Comparison, RunData
from evalkit.compare._usage import UsageDelta, format_usage_delta, usage_deltas
from evalkit.gate._checks import Check, _insufficient
from evalkit.gate._spec import USAGE_THRESHOLDS, Bound, GateSpec, LoadedGates, UsageLimit, UsageRules, has_language
from evalkit.gate._text import where as _where
from evalkit.results import UsageCell, usage_cells
from evalkit.results._usage import plain_amount


def _cell_value(cell: UsageCell, name: str) -> tuple[float | None, int]:
    """The value of threshold ``name`` for ``cell`` and the items behind it."""
    if name == "truncation_rate":
        return cell.truncation_rate, cell.answered
    if name in ("latency_p50_ms", "latency_p95_ms"):
        return getattr(cell, name), cell.latency_n
    if name == "tokens_per_item":
        total = cell.prompt_tokens + cell.completion_tokens
        return (total / cell.with_usage if cell.with_usage else None), cell.with_usage
    return cell.cost_per_item, cell.with_usage  # cost_per_item


def usage_threshold_checks(run: RunData, spec: GateSpec, several: bool) -> list[Check]:
    names = [n for n in spec.thresholds if n in USAGE_THRESHOLDS]
    if not names:
        return []
    checks = []
    for cell in usage_cells(run.results, run.manifest.prices):
        for name in names:
            bound = spec.thresholds[name].for_language(cell.language)
            if bound.min is not None or bound.max is not None:
                checks.append(_threshold(cell, name, bound, spec, several, run))
    return checks


def _threshold(cell: UsageCell, name: str, bound: Bound, spec: GateSpec, several: bool, run: RunData) -> Check:
    unit = USAGE_THRESHOLDS[name]
    sep = "" if unit in ("%", "") else " "
    parts = ([f">= {bound.min:g}{sep}{unit}"] if bound.min is not None else []) + (
        [f"<= {bound.max:g}{sep}{unit}"] if bound.max is not None else [])
    value, n = _cell_value(cell, name)
    where = _where(cell.language, cell.variant, several)
    check = Check(kind="threshold", language=cell.language, metric=name, status="pass", passed=True, message="",
                  name=f"{name} {' and '.join(parts)}" + (f" [{cell.variant}]" if several else ""),
                  variant=cell.variant, value=value, n=n, limit=bound.max if bound.max is not None else bound.min)
    if name == "cost_per_item" and run.manifest.prices is None:
        return replace(check, status="insufficient", passed=spec.on_insufficient == "warn",
                       message=f"{where} cost_per_item: cost unknown (the run has no prices: "
                               "evalkit run --price-in X --price-out Y)")
    if n < spec.min_items or value is None:
        return _insufficient(check, where, spec)
    shown = plain_amount(value) if name == "cost_per_item" else f"{value:.1f}"
    if bound.min is not None and value < bound.min:
        return replace(check, status="fail", passed=False, limit=bound.min,
                       message=f"{where} {name} {shown}{sep}{unit} < {bound.min:g}{sep}{unit}")
    if bound.max is not None and value > bound.max:
        return replace(check, status="fail", passed=False, limit=bound.max,
                       message=f"{where} {name} {shown}{sep}{unit} > {bound.max:g}{sep}{unit}")
    return replace(check, message=f"{where} {name} {shown}{sep}{unit} ({' and '.join(parts)})")


def usage_regression_checks(comparison: Comparison, spec: GateSpec, several: bool) -> list[Check]:
    rules = spec.usage
    if rules is None:
        return []
    checks = []
    deltas = usage_deltas(comparison, aggregate_repeats=spec.use_repeats)
    present = {(d.variant, d.language, d.measure) for d in deltas}
    for d in deltas:
        limit = rules.limit(d.measure, d.language)
        if limit is not None:
            checks.append(_increase(d, limit, spec, several))
    if rules.cost is not None and not any(m == "cost" for _, _, m in present):
        prices = comparison.base.manifest.prices, comparison.cand.manifest.prices
        missing = " and ".join(n for n, p in zip(("baseline", "run"), prices, strict=True) if p is None)
        checks.append(Check(kind="regression", language="*", metric="cost", status="insufficient",
                            passed=spec.on_insufficient == "warn", name="cost vs baseline",
                            message=f"cost vs baseline: cost unknown (no prices in the {missing}: "
                                    "evalkit run --price-in X --price-out Y)"))
    return checks


def _increase(d: UsageDelta, limit: UsageLimit, spec: GateSpec, several: bool) -> Check:
    allowed: list[float] = []
    if limit.max_increase is not None:
        allowed.append(limit.max_increase)
    if limit.max_increase_pct is not None and d.base > 0:
        allowed.append(d.base * limit.max_increase_pct / 100.0)
    where = _where(d.language, d.variant, several)
    check = Check(kind="regression", language=d.language, metric=d.measure, status="pass", passed=True,
                  message="", name=f"{d.measure} vs baseline" + (f" [{d.variant}]" if several else ""),
                  variant=d.variant, n=d.n, value=d.delta, ci_low=d.ci_low, ci_high=d.ci_high, p=d.p,
                  base_value=d.base)
    if d.n < spec.min_items or math.isnan(d.delta):
        return _insufficient(check, where, spec)
    bound = min(allowed) if allowed else 0.0  # a percentage of a zero baseline allows no increase
    observed = d.ci_low if limit.require_significant else d.delta
    words = []
    if limit.max_increase_pct is not None:
        words.append(f"{limit.max_increase_pct:g}%")
    if limit.max_increase is not None:
        words.append(f"{limit.max_increase:g}")
    text = f"{where} {format_usage_delta(d)} vs baseline; allowed increase {' or '.join(words)}"
    failed = not math.isnan(observed) and observed > bound + 1e-12
    return replace(check, status="fail" if failed else "pass", passed=not failed, limit=bound, message=text)


def check_usage_names(loaded: LoadedGates, languages: set[str], warnings: list[str]) -> None:
    """Measure names under ``usage: languages:`` must be usage measures; unknown languages are warnings."""
    rules = loaded.spec.usage
    if rules is None:
        return
    allowed = [m for m in UsageRules.model_fields if m != "languages"]
    for code, by_measure in rules.languages.items():
        if not has_language(languages, code):
            where = loaded.locate("usage", "languages", code)
            warnings.append(f"{where.format()}: {where.field}: language {code!r} is not in the run; "
                            "its rules do nothing")
        for name in by_measure:
            if name not in allowed:
                raise loaded.error(f"unknown usage measure {name!r} (use: {', '.join(allowed)})",
                                   "usage", "languages", code, name)
