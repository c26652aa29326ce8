"""Gate checks: absolute thresholds per language, regressions against a baseline, run completeness.

Everything is computed from the run directories on disk.  With ``use_repeats`` the repeats
of an item are one unit: binary metrics use the item's pass rate (mean over its repeats),
corpus metrics sum the item's sufficient statistics, and ``min_items`` counts items, not
repeats.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from evalkit.compare import (
    Comparison,
    MetricComparison,
    RunData,
    compare_runs,
    load_run,
    results_problem,
    score_function,
)
from evalkit.compare._align import cluster_items
from evalkit.errors import UsageError
from evalkit.gate._plan import check_id, check_names
from evalkit.gate._spec import ERROR_RATE, Bound, GateSpec, LoadedGates, load_gates, parse_gates
from evalkit.gate._text import RUN_LANGUAGE, messages, summary
from evalkit.gate._text import where as _where
from evalkit.results import ItemResult, ScorerBook, ScorerRecord
from evalkit.stats import aggregate_repeats, bootstrap_ci, is_regression, mean_score_fn, mean_stats, wilson_interval

__all__ = ["Check", "GateResult", "RunCell", "run_cells", "run_gate"]

Status = Literal["pass", "fail", "insufficient"]
CheckKind = Literal["threshold", "regression", "run", "pairwise"]


@dataclass(frozen=True)
class Check:
    """One gate check. ``message`` is the one line printed for it."""

    kind: CheckKind
    language: str
    metric: str
    status: Status
    passed: bool  # False for "fail", and for "insufficient" unless on_insufficient: warn
    message: str
    name: str  # short test name (JUnit testcase), e.g. "chrf++ >= 40" or "exact_match vs baseline"
    variant: str | None = None
    value: float | None = None
    limit: float | None = None
    n: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    base_value: float | None = None
    id: str = ""  # stable: "th::chrf++::regression[into_lang]", "run" (evalkit.gate.plan_checks names it alike)


@dataclass(frozen=True)
class RunCell:
    """The value of one metric for one (variant, language) of a run, as the gate sees it."""

    variant: str
    language: str
    metric: str
    kind: Literal["corpus", "binary", "error_rate"]
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int  # items (repeats aggregated when use_repeats)
    higher_is_better: bool = True
    unstable: int = 0  # items that passed in some repeats and failed in others
    interval: str = ""


@dataclass
class GateResult:
    """The verdict of a gate. ``passed`` is what the CLI's exit code reflects (0 / 1)."""

    run: RunData
    spec: GateSpec
    source: str
    checks: list[Check]
    cells: list[RunCell]
    comparison: Comparison | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def several_variants(self) -> bool:
        return len(self.run.manifest.variants) > 1

    def use_pairwise(self, judge: str, checks: list[Check]) -> None:
        """The pairwise checks of ``judge`` (``evalkit compare --judge``) in place of the gate's own: ordered
        and named (:attr:`Check.id`) as :func:`run_gate` orders and names every check."""
        from evalkit.gate._spec import PairwiseRule

        self.spec = self.spec.model_copy(update={"pairwise": PairwiseRule(judge=judge)})
        kept = [c for c in self.checks if c.kind != "pairwise"]
        self.checks[:] = _stamped(kept + checks, self.run, self.spec)

    def languages(self) -> list[str]:
        """Languages with checks or cells, in the run's order (run-level checks excluded)."""
        order = {lang: i for i, lang in enumerate(self.run.manifest.languages)}
        langs = {c.language for c in self.checks if c.language != RUN_LANGUAGE} | {c.language for c in self.cells}
        return sorted(langs, key=lambda x: (order.get(x, len(order)), x))

    def summary(self) -> str:
        """``gate passed: all 24 checks passed (de 8, hi 8, th 8)`` or
        ``gate FAILED: 7 of 24 checks failed (th 7 of 8; de, hi passed)``."""
        return summary(self.checks, self.languages())

    def failure_lines(self) -> list[str]:
        """One line per distinct failure (checks lacking the same data share a line)."""
        return self._messages(self.failures)

    def warning_lines(self) -> list[str]:
        """Checks that passed only because ``on_insufficient: warn``, then the gate's warnings."""
        warned = [c for c in self.checks if c.passed and c.status == "insufficient"]
        return self._messages(warned) + [w for i, w in enumerate(self.warnings) if w not in self.warnings[:i]]

    def lines(self) -> list[str]:
        """What the CLI prints: one line per distinct failure, warnings, then the summary."""
        out = [f"FAIL {m}" for m in self.failure_lines()]
        out += [f"WARN {m}" for m in self.warning_lines()]
        out.append(self.summary())
        return out

    def _messages(self, checks: list[Check]) -> list[str]:
        labels = [r.label for r in self.run.manifest.scorers] + [ERROR_RATE]
        return messages(checks, several=self.several_variants, min_items=self.spec.min_items, metric_order=labels)


# --- values of one run ---------------------------------------------------------------------------


def _corpus_cell(variant: str, language: str, rec: ScorerRecord, clusters: list[list[ItemResult]],
                 book: ScorerBook, spec: GateSpec) -> RunCell:
    rows, target = [], language
    for cluster in clusters:
        usable = [r for r in cluster if rec.label in r.stats]
        if usable:
            target = usable[0].target_language
            rows.append(np.sum([r.stats[rec.label] for r in usable], axis=0))
    if not rows:
        return RunCell(variant, language, rec.label, "corpus", None, None, None, 0, rec.higher_is_better)
    est = bootstrap_ci(np.asarray(rows, dtype=float), score_function(book, rec.label, target),
                       n_resamples=spec.n_resamples, seed=spec.seed)
    return RunCell(variant, language, rec.label, "corpus", est.value, est.ci_low, est.ci_high, est.n,
                   rec.higher_is_better, interval=f"bootstrap 95% over items ({spec.n_resamples} resamples)")


def _binary_cell(variant: str, language: str, rec: ScorerRecord, clusters: list[list[ItemResult]],
                 spec: GateSpec) -> RunCell:
    keys, outcomes, rates = [], [], []
    for cluster in clusters:
        values = [float(v) for r in cluster if (v := r.scores.get(rec.label)) is not None]
        if values:
            rates.append(float(np.mean(values)))
            keys += [cluster[0].case_id] * len(values)
            outcomes += [v >= 0.5 for v in values]
    n = len(rates)
    if n == 0:
        return RunCell(variant, language, rec.label, "binary", None, None, None, 0, rec.higher_is_better)
    unstable = sum(1 for agg in aggregate_repeats(keys, outcomes) if agg.unstable) if spec.use_repeats else 0
    if len(outcomes) == n:  # one outcome per item: Wilson
        passes = sum(outcomes)
        lo, hi = wilson_interval(passes, n)
        return RunCell(variant, language, rec.label, "binary", 100.0 * passes / n, 100.0 * lo, 100.0 * hi, n,
                       rec.higher_is_better, unstable, "Wilson 95%")
    est = bootstrap_ci(mean_stats(rates), mean_score_fn(), n_resamples=spec.n_resamples, seed=spec.seed)
    return RunCell(variant, language, rec.label, "binary", est.value, est.ci_low, est.ci_high, n,
                   rec.higher_is_better, unstable, "bootstrap 95% over per-item pass rates")


def _error_cell(variant: str, language: str, results: list[ItemResult], use_repeats: bool) -> RunCell:
    failed = sum(1 for r in results if not r.ok)
    n_items = len({r.case_id for r in results}) if use_repeats else len(results)
    value = 100.0 * failed / len(results) if results else None
    lo, hi = wilson_interval(failed, len(results)) if results else (math.nan, math.nan)
    return RunCell(variant, language, ERROR_RATE, "error_rate", value, 100 * lo, 100 * hi, n_items,
                   higher_is_better=False, interval="Wilson 95%")


def run_cells(run: RunData, spec: GateSpec) -> list[RunCell]:
    """Every metric (and the error rate) per (variant, language) of ``run``."""
    groups: dict[tuple[str, str], list[ItemResult]] = defaultdict(list)
    for r in run.results:
        groups[(r.variant, r.language)].append(r)
    lang_order = {lang: i for i, lang in enumerate(run.manifest.languages)}
    book = ScorerBook(run.manifest.scorers)
    cells = []
    for (variant, language), results in sorted(groups.items(), key=lambda kv: (lang_order.get(kv[0][1], 99), kv[0])):
        clusters = cluster_items([r for r in results if r.ok], spec.use_repeats)
        for rec in run.manifest.scorers:
            if rec.kind == "corpus":
                cells.append(_corpus_cell(variant, language, rec, clusters, book, spec))
            else:
                cells.append(_binary_cell(variant, language, rec, clusters, spec))
        cells.append(_error_cell(variant, language, results, spec.use_repeats))
    return cells


# --- formatting ----------------------------------------------------------------------------------


def _num(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


# --- checks --------------------------------------------------------------------------------------


def _insufficient(check: Check, where: str, spec: GateSpec) -> Check:
    message = f"{where} {check.metric}: insufficient data ({check.n} items < min_items {spec.min_items})"
    return replace(check, status="insufficient", passed=spec.on_insufficient == "warn", message=message)


def _threshold_check(cell: RunCell, bound: Bound, spec: GateSpec, several: bool) -> Check:
    unit = "" if cell.kind == "corpus" else "%"
    parts = ([f">= {bound.min:g}{unit}"] if bound.min is not None else []) + (
        [f"<= {bound.max:g}{unit}"] if bound.max is not None else [])
    name = f"{cell.metric} {' and '.join(parts)}" + (f" [{cell.variant}]" if several else "")
    where = _where(cell.language, cell.variant, several)
    check = Check(kind="threshold", language=cell.language, metric=cell.metric, status="pass", passed=True,
                  message="", name=name, variant=cell.variant, n=cell.n, value=cell.value, ci_low=cell.ci_low,
                  ci_high=cell.ci_high, limit=bound.min if bound.min is not None else bound.max)
    if cell.n < spec.min_items or cell.value is None or math.isnan(cell.value):
        return _insufficient(check, where, spec)
    value = cell.value
    if bound.min is not None and value < bound.min:
        message = f"{where} {cell.metric} {value:.1f}{unit} < {bound.min:.1f}{unit}"
        return replace(check, status="fail", passed=False, message=message, limit=bound.min)
    if bound.max is not None and value > bound.max:
        message = f"{where} {cell.metric} {value:.1f}{unit} > {bound.max:.1f}{unit}"
        return replace(check, status="fail", passed=False, message=message, limit=bound.max)
    return replace(check, message=f"{where} {cell.metric} {value:.1f}{unit} ({' and '.join(parts)})")


def threshold_checks(cells: list[RunCell], spec: GateSpec, several: bool) -> list[Check]:
    checks = []
    for cell in cells:
        threshold = spec.thresholds.get(cell.metric)
        if threshold is None:
            continue
        bound = threshold.for_language(cell.language)
        if bound.min is None and bound.max is None:
            continue
        checks.append(_threshold_check(cell, bound, spec, several))
    return checks


def _regression_check(m: MetricComparison, spec: GateSpec, several: bool) -> Check | None:
    rule = spec.regression_rule(m.metric, m.language)
    if rule.skip:
        return None
    r = m.result
    max_drop = rule.max_drop or 0.0
    require = bool(rule.require_significant)
    name = f"{m.metric} vs baseline" + (f" [{m.variant}]" if several else "")
    where = _where(m.language, m.variant, several)
    check = Check(kind="regression", language=m.language, metric=m.metric, status="pass", passed=True, message="",
                  name=name, variant=m.variant, n=r.n, value=r.delta, ci_low=r.ci_low, ci_high=r.ci_high, p=r.p,
                  base_value=r.base, limit=-max_drop if m.higher_is_better else max_drop)
    if r.n < spec.min_items:
        return _insufficient(check, where, spec)
    failed = is_regression(r, alpha=spec.alpha, max_drop=max_drop, require_significance=require)
    pts = " pts" if m.kind == "binary" else ""
    unit = "%" if m.kind == "binary" else ""
    allowed = f"; allowed drop {max_drop:g}{pts}" if max_drop else ""
    message = (f"{where} {m.metric} {r.delta:+.1f}{pts} vs baseline ({_num(r.base)}{unit} → {_num(r.cand)}{unit}, "
               f"95% CI {_num(r.ci_low)}..{_num(r.ci_high)}, {_p(r.p)}{allowed})")
    return replace(check, status="fail" if failed else "pass", passed=not failed, message=message)


def regression_checks(comparison: Comparison, spec: GateSpec, several: bool) -> list[Check]:
    return [c for m in comparison.metrics if (c := _regression_check(m, spec, several)) is not None]


def incompleteness(run: RunData) -> str | None:
    """Why ``run`` is not one complete run of its plan, or None: :func:`evalkit.compare.results_problem`
    (status, and every planned item id exactly once in ``results.jsonl``), or a single shard of a
    sharded run."""
    m = run.manifest
    if m.status == "complete" and m.shard:
        return (f"run {run.label} is shard {m.shard} of the suite's items: "
                "merge every shard (evalkit merge) before gating")
    return results_problem(run)


def _run_check(run: RunData) -> Check | None:
    message = incompleteness(run)
    if message is None:
        return None
    return Check(kind="run", language=RUN_LANGUAGE, metric="run", status="fail", passed=False,
                 message=message, name="run complete", n=run.manifest.counts.planned)


# --- entry point ---------------------------------------------------------------------------------


def gates_for_run(run: RunData) -> LoadedGates:
    """The ``gates:`` section of the suite the run was made from (its path as recorded in the manifest)."""
    from evalkit.suite import load_suite

    path = Path(run.manifest.suite.path)
    if not path.exists():
        raise UsageError(f"no --gates file given and the run's suite {path} was not found; pass --gates FILE")
    loaded = load_suite(path)
    if loaded.spec.gates is None:
        raise UsageError(f"no --gates file given and the run's suite {path} has no gates: section")
    return parse_gates(loaded.spec.gates, loaded.positioned, ("gates",), f"{loaded.display} (gates:)")


def _comparison(comparison: Comparison | None, run: RunData, baseline: Path, spec: GateSpec,
                force: bool) -> Comparison:
    """Reuse ``comparison`` when it was computed with the gate's settings, else compare again."""
    if comparison is not None and (
        comparison.cand.path.resolve() == run.path.resolve()
        and comparison.base.path.resolve() == Path(baseline).resolve()
        and (comparison.alpha, comparison.correction_method, comparison.n_resamples, comparison.seed)
        == (spec.alpha, spec.correction, spec.n_resamples, spec.seed)
        and comparison.base_variant is None
        and (comparison.forced or not force)
    ):
        return comparison
    return compare_runs(baseline, run.path, force=force, alpha=spec.alpha, n_resamples=spec.n_resamples,
                        seed=spec.seed, correction=spec.correction, aggregate_repeats=spec.use_repeats)


def run_gate(
    run_dir: Path,
    *,
    baseline: Path | None = None,
    gates: Path | GateSpec | LoadedGates | None = None,
    force: bool = False,
    comparison: Comparison | None = None,
) -> GateResult:
    """Check the run in ``run_dir`` against a gate definition; optionally against ``baseline``.

    ``gates``: a YAML file (a suite with a ``gates:`` section, a file with only that section,
    or the bare settings), a parsed :class:`GateSpec`, or ``None`` for the ``gates:`` section
    of the suite recorded in the run's manifest.

    With ``baseline`` every metric the two runs share gets a regression check (the built-in
    rule, "no significant drop", unless ``regressions:`` says otherwise).  ``comparison`` lets
    a caller that already compared ``baseline`` with ``run_dir`` (e.g. ``evalkit compare
    BASE CAND --gate``) pass it in; it is reused when its alpha, correction, resamples and
    seed match the gate's, and recomputed otherwise.

    Returns a :class:`GateResult`; the CLI exits 1 when ``not result.passed``.  Raises
    ``SuiteError`` for a bad gates file, ``ResultsError`` for an unreadable run,
    ``IncompatibleRuns`` when the runs cannot be compared (unless ``force``) — all exit 2.
    """
    run = load_run(Path(run_dir))
    if isinstance(gates, LoadedGates):
        loaded = gates
    elif isinstance(gates, GateSpec):
        loaded = LoadedGates(gates, "gate settings")
    elif gates is None:
        loaded = gates_for_run(run)
    else:
        loaded = load_gates(Path(gates))
    spec = loaded.spec
    warnings: list[str] = []
    check_names(loaded, run.manifest.languages, (r.label for r in run.manifest.scorers), warnings)
    several = len(run.manifest.variants) > 1
    cells = run_cells(run, spec)
    run_check = _run_check(run) if spec.require_complete else None
    checks = [run_check] if run_check is not None else []
    checks += threshold_checks(cells, spec, several)
    from evalkit.gate._usage import usage_regression_checks, usage_threshold_checks

    checks += usage_threshold_checks(run, spec, several)
    cmp = None
    if baseline is not None:
        cmp = _comparison(comparison, run, baseline, spec, force)
        checks += regression_checks(cmp, spec, several)
        checks += usage_regression_checks(cmp, spec, several)
        if spec.pairwise is not None:
            from evalkit.compare._pairwise import gate_checks

            checks += gate_checks(cmp, spec.pairwise.judge, spec.pairwise.max_tokens)
        if cmp.incompatibilities:
            warnings.append("compared despite: " + "; ".join(cmp.incompatibilities))
        base_problem = incompleteness(cmp.base)
        if base_problem is not None:
            warnings.append(f"the baseline: {base_problem}")
        if cmp.unmatched_cand or cmp.unmatched_base:
            warnings.append(f"{cmp.unmatched_cand} items only in the run, {cmp.unmatched_base} only in the baseline "
                            "(not compared)")
    elif spec.regressions is not None or spec.usage is not None or spec.pairwise is not None:
        what = "regressions:" if spec.regressions is not None else "usage:" if spec.usage is not None else "pairwise:"
        warnings.append(f"{what} are configured but no --baseline was given; regression checks skipped")
    if not checks:
        warnings.append("the gate defines no check that applies to this run")
    return GateResult(run, spec, loaded.source, _stamped(checks, run, spec), cells, cmp, warnings)


def _stamped(checks: list[Check], run: RunData, spec: GateSpec) -> list[Check]:
    """``checks`` in the gate's order, each with its stable id."""
    several = len(run.manifest.variants) > 1
    return [replace(c, id=check_id(c, spec, several)) for c in _order(checks, run)]


def _order(checks: list[Check], run: RunData) -> list[Check]:
    lang_order = {lang: i for i, lang in enumerate(run.manifest.languages)}
    kind_order = {"run": 0, "threshold": 1, "regression": 2, "pairwise": 3}
    return sorted(checks, key=lambda c: (-1 if c.language == RUN_LANGUAGE else lang_order.get(c.language, 99),
                                         kind_order[c.kind]))
