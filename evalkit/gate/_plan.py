"""Which checks a gate has, and their stable ids, known from the shape of the runs alone.

    GateSpec + RunShape (languages, variants, scorer labels) [+ the baseline's] ──plan_checks──> [PlannedCheck]
    a Check of run_gate ──check_id──> the same id as its PlannedCheck

An id names one check: ``th::chrf++::min``, ``th::chrf++::regression[into_lang]`` (the prompt variant
is appended when the run has several), ``th::tokens::regression``, ``th::pairwise::JUDGE``, and ``run``
for the completeness of the run. :func:`evalkit.gate.run_gate` gives every check its id with
:func:`check_id`, and :func:`plan_checks` derives the ids from the gate spec and the runs' manifests
(or a suite, before it runs) with the same function, so an integration that lists the checks up front
(the pytest plugin) names them exactly as the gate does.

The plan is what the gate checks when the runs hold data for it: a planned check the gate did not
make (no scored items of that language, no latencies in a cached run) is possible, and the gate's
run-level checks (language ``*``: completeness, cost without prices) are not planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from evalkit.compare import USAGE_MEASURES
from evalkit.gate._spec import ERROR_RATE, USAGE_THRESHOLDS, GateSpec, LoadedGates, has_language
from evalkit.gate._text import RUN_LANGUAGE

if TYPE_CHECKING:
    from evalkit.gate._checks import Check
    from evalkit.results import RunManifest

__all__ = ["ERROR_RATE", "RUN_LANGUAGE", "PlannedCheck", "RunShape", "check_id", "check_names", "plan_checks"]

PlannedKind = Literal["threshold", "regression", "pairwise"]
RUN_ID = "run"  # the id of the run-level checks (language ``*``)


@dataclass(frozen=True)
class RunShape:
    """What the plan needs of a run: its languages, prompt variants and scorer labels (the manifest's order),
    and whether it records prices (a cost comparison needs both runs' prices)."""

    languages: tuple[str, ...]
    variants: tuple[str, ...]
    labels: tuple[str, ...]
    priced: bool = False

    @classmethod
    def of(cls, manifest: RunManifest) -> RunShape:
        return cls(tuple(manifest.languages), tuple(manifest.variants), tuple(r.label for r in manifest.scorers),
                   manifest.prices is not None)

    @property
    def several_variants(self) -> bool:
        return len(self.variants) > 1


@dataclass(frozen=True)
class PlannedCheck:
    """One check the gate will make. ``leaf``: ``min``, ``max`` or ``range`` (threshold), ``regression``,
    or the judge model (pairwise); ``variant`` is None for pairwise checks (judged per language)."""

    kind: PlannedKind
    language: str
    variant: str | None
    metric: str
    leaf: str
    parts: tuple[str, ...]  # (language, metric, leaf[variant]): the parts of :attr:`id`

    @property
    def id(self) -> str:
        """E.g. ``th::chrf++::regression[into_lang]``."""
        return "::".join(self.parts)


def _bound_leaf(spec: GateSpec, metric: str, language: str) -> str | None:
    threshold = spec.thresholds.get(metric)
    if threshold is None:
        return None
    bound = threshold.for_language(language)
    if bound.min is not None and bound.max is not None:
        return "range"
    return "min" if bound.min is not None else "max" if bound.max is not None else None


def _leaf(spec: GateSpec, kind: str, language: str, metric: str) -> str:
    if kind == "pairwise":
        return spec.pairwise.judge if spec.pairwise is not None else "judge"
    return (_bound_leaf(spec, metric, language) or "threshold") if kind == "threshold" else kind


def _parts(spec: GateSpec, kind: str, language: str, variant: str | None, metric: str,
           several: bool) -> tuple[str, ...]:
    """The one function behind every check id (planned, or made by the gate), as its ``::`` parts."""
    if language == RUN_LANGUAGE:
        return (RUN_ID,) if kind == "run" else (RUN_ID, metric, kind)
    leaf = _leaf(spec, kind, language, metric)
    return language, metric, leaf + (f"[{variant}]" if several and variant else "")


def check_id(check: Check, spec: GateSpec, several_variants: bool) -> str:
    """The stable id of a check :func:`evalkit.gate.run_gate` made (its :attr:`Check.id`)."""
    return "::".join(_parts(spec, check.kind, check.language, check.variant, check.metric, several_variants))


def _planned(spec: GateSpec, kind: PlannedKind, language: str, variant: str | None, metric: str,
             several: bool) -> PlannedCheck:
    parts = _parts(spec, kind, language, variant, metric, several)
    return PlannedCheck(kind, language, variant, metric, _leaf(spec, kind, language, metric), parts)


def _usage_measures(spec: GateSpec, language: str, run: RunShape, base: RunShape) -> list[str]:
    rules = spec.usage
    if rules is None:
        return []
    return [m for m in USAGE_MEASURES if rules.limit(m, language) is not None
            and (m != "cost" or (run.priced and base.priced))]


def plan_checks(spec: GateSpec, run: RunShape, baseline: RunShape | None = None) -> list[PlannedCheck]:
    """The checks of ``spec`` on a run of this shape (against a baseline of that shape), per language:
    per metric (the run's scorers, ``error_rate``, then the usage thresholds and measures) and variant,
    the threshold, then the regression; then the language's pairwise check.

    Thresholds apply to every (language, variant) of the run; regression, usage and pairwise checks
    only where the baseline has the language (and variant), and regressions only on metrics both runs
    score (unless ``skip``)."""
    several = run.several_variants
    checks: list[PlannedCheck] = []
    extra = [m for m in spec.thresholds if m not in (*run.labels, ERROR_RATE)]  # the same for every language
    for language in run.languages:
        shared = baseline is not None and language in baseline.languages
        usage = _usage_measures(spec, language, run, baseline) if baseline is not None and shared else []
        metrics = list(dict.fromkeys([*run.labels, ERROR_RATE, *extra, *usage]))
        for metric in metrics:
            for variant in run.variants:
                if _bound_leaf(spec, metric, language) is not None:
                    checks.append(_planned(spec, "threshold", language, variant, metric, several))
                if baseline is None or not shared or variant not in baseline.variants:
                    continue
                scored = metric in run.labels and metric in baseline.labels
                if (scored and not spec.regression_rule(metric, language).skip) or metric in usage:
                    checks.append(_planned(spec, "regression", language, variant, metric, several))
        if spec.pairwise is not None and shared:
            checks.append(_planned(spec, "pairwise", language, None, "pairwise", several))
    return checks


def check_names(loaded: LoadedGates, languages: Sequence[str], labels: Iterable[str], warnings: list[str], *,
                owner: str = "run") -> None:
    """Metric names in the gates must be the run's scorer labels or a usage threshold (a ``SuiteError`` naming
    file, line and field; all at once as ``SuiteErrors``); a language the run lacks is a warning appended to
    ``warnings``. ``owner`` names what has the labels in the message ("run", or "suite" for ``evalkit validate``)."""
    from evalkit._hints import did_you_mean
    from evalkit.errors import SuiteError, SuiteErrors

    errors: list[SuiteError] = []  # every unknown name at once, not one per attempt
    spec = loaded.spec
    labels = list(labels)
    known_languages = set(languages)

    def known(name: str, allowed: list[str], *path: str) -> None:
        if name not in allowed:
            hint = did_you_mean(name, allowed)
            errors.append(loaded.error(f"unknown metric {name!r} (the {owner} has: {', '.join(allowed)}){hint}", *path))

    def lang(code: str, *path: str) -> None:
        if not has_language(known_languages, code):
            where = loaded.locate(*path)
            warnings.append(f"{where.format()}: {where.field}: language {code!r} is not in the run "
                            f"({', '.join(languages)}); its rules do nothing")

    for name, threshold in spec.thresholds.items():
        if name not in USAGE_THRESHOLDS:  # usage pseudo-metrics: see evalkit.gate._usage
            known(name, [*labels, ERROR_RATE], "thresholds", name)
        for code in threshold.languages:
            lang(code, "thresholds", name, "languages", code)
    if spec.regressions is not None:
        for name in spec.regressions.metrics:
            known(name, labels, "regressions", name)
        for code, rules in spec.regressions.languages.items():
            lang(code, "regressions", "languages", code)
            for name in rules:
                if name != "default":
                    known(name, labels, "regressions", "languages", code, name)
    if errors:
        raise errors[0] if len(errors) == 1 else SuiteErrors(errors)
    from evalkit.gate._usage import check_usage_names

    check_usage_names(loaded, known_languages, warnings)
