"""The gate definition: a suite's ``gates:`` section or a separate YAML file (see docs/gates.md).

Parsed with the suite loader's positioned YAML, so every problem is reported as
``file:line:col: field: message`` (``SuiteError``, exit 2).
"""

from __future__ import annotations

import difflib
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evalkit.errors import Location, SuiteError, SuiteErrors
from evalkit.languages import canonical_code
from evalkit.suite._yaml import Path_, PositionedYaml, format_path, load_positioned

__all__ = ["Bound", "GateSpec", "LoadedGates", "RegressionRule", "Regressions", "Threshold", "UsageLimit",
           "UsageRules", "load_gates", "parse_gates"]

#: Pseudo-metrics a gate can check besides the run's scorers.
ERROR_RATE = "error_rate"
#: Usage pseudo-metrics for ``thresholds:`` (absolute, on the run; see docs/gates.md), with their units.
_T = typing.TypeVar("_T")


def by_language(rules: typing.Mapping[str, _T], language: str) -> _T | None:
    """The rules keyed by ``language`` in any spelling of it (``de``, ``DE``, ``deu_Latn``: one language, as
    :func:`evalkit.languages.canonical_code` spells it), None when there are none."""
    if language in rules:
        return rules[language]
    key = canonical_code(language)
    return next((value for code, value in rules.items() if canonical_code(code) == key), None)


def has_language(languages: typing.Iterable[str], code: str) -> bool:
    """``code`` names one of ``languages`` in some spelling."""
    key = canonical_code(code)
    return any(canonical_code(language) == key for language in languages)


USAGE_THRESHOLDS = {
    "truncation_rate": "%",  # percent of answered items with finish_reason == "length"
    "latency_p50_ms": "ms",
    "latency_p95_ms": "ms",
    "tokens_per_item": "tokens",  # prompt + completion tokens, mean per answered item
    "cost_per_item": "",  # needs the run's prices (evalkit run --price-in/--price-out)
}
PERCENT_THRESHOLDS = (ERROR_RATE, "truncation_rate")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(_Strict):
    """``min`` and/or ``max`` for one metric, in the metric's units (points, or percent)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Bound:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def merged(self, override: Bound | None) -> Bound:
        """This bound with the fields ``override`` sets replaced."""
        if override is None:
            return self
        values = {"min": self.min, "max": self.max}
        values.update({k: getattr(override, k) for k in override.model_fields_set})
        return Bound(**values)


class Threshold(Bound):
    """An absolute threshold with per-language overrides (field by field)."""

    languages: dict[str, Bound] = {}

    @model_validator(mode="after")
    def _needs_a_bound(self) -> Threshold:
        if self.min is None and self.max is None and not self.languages:
            raise ValueError("give min, max or languages")
        return self

    def for_language(self, language: str) -> Bound:
        return Bound(min=self.min, max=self.max).merged(by_language(self.languages, language))


class RegressionRule(_Strict):
    """How much a metric may get worse than the baseline.

    ``max_drop``: allowed change in the bad direction, in the metric's units (points for
    BLEU/chrF/TER, percentage points for binary metrics).  ``require_significant``: fail only
    when the change is also significant after the multiple-comparison correction.
    ``skip``: no regression check for this metric (or language).
    """

    max_drop: float | None = Field(default=None, ge=0)
    require_significant: bool | None = None
    skip: bool | None = None

    def merged(self, override: RegressionRule | None) -> RegressionRule:
        if override is None:
            return self
        values = self.model_dump()
        values.update({k: getattr(override, k) for k in override.model_fields_set})
        return RegressionRule(**values)


class UsageLimit(_Strict):
    """How much a usage measure may grow against the baseline: ``max_increase_pct`` (percent of the
    baseline's value) and/or ``max_increase`` (in the measure's units: tokens, ms, cost, or points of
    truncation rate).  ``require_significant``: fail only when the whole 95% interval of the increase
    is above the limit (by default the observed increase decides)."""

    max_increase_pct: float | None = Field(default=None, ge=0)
    max_increase: float | None = Field(default=None, ge=0)
    require_significant: bool = False

    @model_validator(mode="after")
    def _needs_a_limit(self) -> UsageLimit:
        if self.max_increase_pct is None and self.max_increase is None:
            raise ValueError("give max_increase_pct or max_increase")
        return self


class UsageRules(_Strict):
    """``usage:`` limits against the baseline, per measure, with per-language overrides (whole rules)."""

    tokens: UsageLimit | None = None
    prompt_tokens: UsageLimit | None = None
    completion_tokens: UsageLimit | None = None
    cost: UsageLimit | None = None
    latency_p50_ms: UsageLimit | None = None
    latency_p95_ms: UsageLimit | None = None
    truncation_rate: UsageLimit | None = None
    languages: dict[str, dict[str, UsageLimit]] = {}

    def limit(self, measure: str, language: str) -> UsageLimit | None:
        override = (by_language(self.languages, language) or {}).get(measure)
        return override if override is not None else getattr(self, measure, None)

    def measures(self) -> set[str]:
        named = {m for m in type(self).model_fields if m != "languages" and getattr(self, m) is not None}
        return named | {m for rules in self.languages.values() for m in rules}


#: What a regression check uses when the gate file says nothing more specific.
BUILTIN_RULE = RegressionRule(max_drop=0.0, require_significant=True, skip=False)


class Regressions(BaseModel):
    """``default`` rule, per-metric rules (any other key is a metric label), per-language rules.

    ``languages: {hi: {chrf++: {...}, default: {...}}}``: ``default`` inside a language
    applies to every metric of that language.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    default: RegressionRule = RegressionRule()
    languages: dict[str, dict[str, RegressionRule]] = {}
    __pydantic_extra__: dict[str, RegressionRule]

    @property
    def metrics(self) -> dict[str, RegressionRule]:
        return dict(self.__pydantic_extra__ or {})

    def rule(self, metric: str, language: str) -> RegressionRule:
        """The rule for one (metric, language): built-in < default < metric < language default < language metric."""
        per_lang = by_language(self.languages, language) or {}
        rule = BUILTIN_RULE.merged(self.default).merged(self.metrics.get(metric))
        return rule.merged(per_lang.get("default")).merged(per_lang.get(metric))


class PairwiseRule(_Strict):
    """``pairwise: {judge: MODEL}``: with a baseline, the judge compares each item's two answers (both orders);
    a language where the candidate loses significantly fails (evalkit.compare._pairwise). The suite names the
    judge model; its endpoint and key variable are the caller's (EVALKIT_BASE_URL, the project config, ...)."""

    judge: str = Field(min_length=1)
    max_tokens: int = Field(default=512, ge=1, le=131072)


class GateSpec(_Strict):
    """A quality gate (see docs/gates.md)."""

    min_items: int = Field(default=20, ge=1)
    on_insufficient: Literal["fail", "warn"] = "fail"
    thresholds: dict[str, Threshold] = {}
    regressions: Regressions | None = None
    usage: UsageRules | None = None  # limits on tokens, cost, latency and truncation against the baseline
    pairwise: PairwiseRule | None = None  # a judge model's pairwise verdicts against the baseline
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["holm", "bh"] = "holm"
    use_repeats: bool = True
    require_complete: bool = True
    n_resamples: int = Field(default=1000, ge=100, le=100_000)
    seed: int = 0

    @model_validator(mode="after")
    def _error_rate_is_percent(self) -> GateSpec:
        for name in PERCENT_THRESHOLDS:
            rate = self.thresholds.get(name)
            if rate is None:
                continue
            for bound in (rate, *rate.languages.values()):
                for value in (bound.min, bound.max):
                    if value is not None and not 0 <= value <= 100:
                        what = "failed" if name == ERROR_RATE else "truncated"
                        raise ValueError(f"{name} is a percentage of {what} items: 0..100 (got {value})")
        return self

    def regression_rule(self, metric: str, language: str) -> RegressionRule:
        return (self.regressions or Regressions()).rule(metric, language)


@dataclass(frozen=True)
class LoadedGates:
    """A parsed gate definition and where it came from (for located errors)."""

    spec: GateSpec
    source: str  # "gates.yaml" or "suite.yaml (gates:)"
    positioned: PositionedYaml | None = None
    prefix: Path_ = ()

    def locate(self, *path: str | int) -> Location:
        full = (*self.prefix, *path)
        if self.positioned is None:
            return Location(self.source, None, None, format_path(full))
        return self.positioned.locate(full, format_path(full))

    def error(self, message: str, *path: str | int) -> SuiteError:
        return SuiteError(message, self.locate(*path))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X | None`` or ``dict[str, X]`` (for a dict: the value type)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(typing.get_args(annotation)):
        model = _model_of(arg)
        if model is not None:
            return model
    return None


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at ``loc`` inside a gates mapping (for "did you mean" hints)."""
    model: type[BaseModel] | None = GateSpec
    keys_to_skip = 0  # dict levels (metric or language keys) before the next model
    for part in loc:
        if model is None:
            return []
        if keys_to_skip:
            keys_to_skip -= 1
            continue
        info = model.model_fields.get(str(part))
        if info is None:
            model = RegressionRule if model is Regressions else None  # metric keys of regressions:
            continue
        annotation = info.annotation
        while typing.get_origin(annotation) is dict:
            keys_to_skip += 1
            annotation = typing.get_args(annotation)[1]
        model = _model_of(annotation)
    return sorted(model.model_fields) if model is not None else []


def _errors(exc: ValidationError, positioned: PositionedYaml, prefix: Path_) -> list[SuiteError]:
    out: list[SuiteError] = []
    seen: set[str] = set()
    for err in exc.errors():
        path: Path_ = (*prefix, *err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(err["loc"][-1]) if err["loc"] else "?"
            close = difflib.get_close_matches(key, _fields_at(tuple(err["loc"][:-1])), n=1)
            message = f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            if "input" in err and kind.startswith(("literal", "enum")):
                message += f" (got {err['input']!r})"
        error = SuiteError(message, positioned.locate(path, format_path(path) or "gates"))
        if error.message not in seen:
            seen.add(error.message)
            out.append(error)
    return out


def parse_gates(data: Any, positioned: PositionedYaml, prefix: Path_ = (), source: str | None = None) -> LoadedGates:
    """Validate a gates mapping found at ``prefix`` inside ``positioned`` (a suite or a gates file)."""
    if not isinstance(data, dict):
        raise SuiteError("gates must be a mapping", positioned.locate(prefix, format_path(prefix) or "gates"))
    try:
        spec = GateSpec.model_validate(data)
    except ValidationError as exc:
        errors = _errors(exc, positioned, prefix)
        raise (errors[0] if len(errors) == 1 else SuiteErrors(errors)) from None
    for name, threshold in spec.thresholds.items():
        if name in PERCENT_THRESHOLDS:
            continue
        for bound in (threshold, *threshold.languages.values()):
            for value in (bound.min, bound.max):
                if value is not None and not math.isfinite(value):
                    raise SuiteError("thresholds must be finite numbers",
                                     positioned.locate((*prefix, "thresholds", name), name))
    return LoadedGates(spec, source or positioned.file, positioned, prefix)


def load_gates(path: Path) -> LoadedGates:
    """Read a gates file: a mapping with a top-level ``gates:`` key (a suite, or a file holding
    only that section) or the gate settings themselves."""
    display = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError("gates file not found", Location(display)) from None
    except IsADirectoryError:
        raise SuiteError("is a directory, not a gates file", Location(display)) from None
    except UnicodeDecodeError as exc:
        raise SuiteError(f"not UTF-8 text (byte {exc.start})", Location(display)) from None
    positioned = load_positioned(text, display)
    data = positioned.data
    if not isinstance(data, dict):
        raise SuiteError("a gates file must be a YAML mapping", Location(display, 1, 1))
    if "gates" in data:
        if data["gates"] is None:
            raise SuiteError("the gates section is empty", positioned.locate(("gates",), "gates"))
        return parse_gates(data["gates"], positioned, ("gates",), f"{display} (gates:)")
    if SUITE_KEYS & set(data):  # a suite without a gates section: one line, not one per suite key
        raise SuiteError("this suite has no 'gates:' section; add one, or pass a gates file with --gates",
                         Location(display, 1, 1, "gates"))
    return parse_gates(data, positioned, (), display)


#: Keys that only a suite has: a file holding them is a suite, not a gates file.
SUITE_KEYS = frozenset({"prompts", "cases", "scorers", "languages"})
