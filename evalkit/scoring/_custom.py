"""Scorers users write themselves: the ``@evalkit.scorer`` protocol and its adapter to ``Scorer``.

A custom scorer is a per-item function ``fn(output, references=..., fields=..., language=...,
options=...)`` (it takes only the keyword arguments it names) returning a value in [0, 1], a bool,
``None`` (the check does not apply to this item) or a :class:`Score` with details. Corpus value:
the mean of the item values (shown 0-100, like chrF), or ``aggregate(summed_stats)`` when the
scorer returns sufficient statistics. An exception, or a value that is not one of these, is a
per-item ``scorer_error`` naming the scorer: never a crash, never a zero.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from evalkit.scoring._base import ItemScore, Kind

_ARGUMENTS = ("references", "fields", "language", "options")


@dataclass(frozen=True)
class Score:
    """A custom scorer's result for one item: ``value`` in [0, 1] (None: not applicable), ``details``
    recorded in results.jsonl, ``stats`` (sufficient statistics) for scorers with ``aggregate``."""

    value: float | bool | None
    details: dict[str, Any] = field(default_factory=dict)
    stats: Sequence[float] | None = None


class ScorerFailure(Exception):
    """Raised inside ``CustomScorer.score`` for one item; becomes that item's ``scorer_error``."""


@dataclass(frozen=True)
class ScorerDefinition:
    """Everything registered about one custom scorer (the decorator's arguments and the function)."""

    name: str
    func: Callable[..., Any]
    binary: bool = False
    higher_is_better: bool = True
    needs_references: bool = False
    fields: tuple[str, ...] = ()
    options: type[BaseModel] | None = None
    version: str | None = None
    aggregate: Callable[[Sequence[float]], float] | None = None
    wants: tuple[str, ...] = ()  # which of _ARGUMENTS the function takes

    @property
    def identity(self) -> str:
        """Names the code that computes the scores: part of the score cache key and of the manifest.
        The source file's hash changes with every edit, so an edited plugin is never served stale scores."""
        module = getattr(self.func, "__module__", "?")
        qualname = getattr(self.func, "__qualname__", type(self.func).__name__)
        digest = _source_digest(self.func)
        version = f" {self.version}" if self.version else ""
        return f"{self.name}={module}:{qualname}{version} sha256:{digest}"


def _source_digest(obj: Any) -> str:
    try:
        source = inspect.getsourcefile(obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj))
    except TypeError:
        source = None
    if source is None:
        return "unknown"
    try:
        return hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]
    except OSError:
        return "unknown"


def _wanted_arguments(func: Callable[..., Any], name: str) -> tuple[str, ...]:
    params = list(inspect.signature(func).parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"scorer {name!r}: the first parameter must take the output")
    wants = []
    for p in params[1:]:
        if p.kind is p.VAR_KEYWORD:
            return _ARGUMENTS
        if p.name not in _ARGUMENTS:
            if p.default is p.empty:
                raise TypeError(f"scorer {name!r}: unknown parameter {p.name!r} (can take {', '.join(_ARGUMENTS)})")
            continue
        wants.append(p.name)
    return tuple(wants)


class CustomScorer:
    """Base class for custom scorers that keep state (a compiled pattern, a loaded glossary).

    Subclass it, set the class attributes, implement ``score``; decorate the class with
    ``@evalkit.scorer()`` (or list it under the ``evalkit.scorers`` entry point). One instance is
    made per target language, with the validated options.
    """

    name: ClassVar[str]
    binary: ClassVar[bool] = False
    higher_is_better: ClassVar[bool] = True
    needs_references: ClassVar[bool] = False
    fields: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[BaseModel] | None] = None
    version: ClassVar[str | None] = None

    def __init__(self, options: BaseModel | None, language: str) -> None:
        self.options = options
        self.language = language

    def score(self, output: str, references: Sequence[str], fields: Mapping[str, Any]) -> float | bool | Score | None:
        raise NotImplementedError

    def aggregate(self, summed_stats: Sequence[float]) -> float:
        """Override with per-item ``Score.stats`` for a corpus value that is not the mean."""
        raise NotImplementedError


def _class_definition(cls: type[CustomScorer], name: str | None) -> ScorerDefinition:
    has_aggregate = cls.aggregate is not CustomScorer.aggregate
    return ScorerDefinition(
        name=name or cls.name, func=cls, binary=cls.binary, higher_is_better=cls.higher_is_better,
        needs_references=cls.needs_references, fields=tuple(cls.fields), options=cls.Options, version=cls.version,
        aggregate=(lambda s: 0.0) if has_aggregate else None,  # marks the kind; instances aggregate
    )


def define(target: Any, name: str | None = None, **kwargs: Any) -> ScorerDefinition:
    """The definition of a decorated function or ``CustomScorer`` subclass (validates its shape)."""
    if isinstance(target, type) and issubclass(target, CustomScorer):
        definition = _class_definition(target, name)
    elif callable(target):
        scorer_name = str(name or getattr(target, "__name__", ""))
        definition = ScorerDefinition(name=scorer_name, func=target, wants=_wanted_arguments(target, scorer_name),
                                      **kwargs)
    else:
        raise TypeError(f"@evalkit.scorer applies to a function or a CustomScorer subclass, not {target!r}")
    if not definition.name.isidentifier():
        raise TypeError(f"scorer name {definition.name!r} must be an identifier (letters, digits, _)")
    if definition.binary and definition.aggregate is not None:
        raise TypeError(f"scorer {definition.name!r}: a binary scorer is aggregated as a pass rate, not by aggregate")
    return definition


def parse_custom_options(definition: ScorerDefinition, options: Mapping[str, Any]) -> tuple[str, BaseModel | None]:
    """(label, validated options). Raises ``ValidationError`` like the built-in option models."""
    opts = dict(options)
    label = opts.pop("label", None)
    if label is not None and not isinstance(label, str):
        raise ValueError("label: must be a string")
    if definition.options is None:
        if opts:
            raise ValueError(f"{sorted(opts)[0]}: unknown option (scorer {definition.name!r} takes none)")
        return label or definition.name, None
    return label or definition.name, definition.options.model_validate(opts)


def _coerce(value: Any, binary: bool) -> tuple[float | None, dict[str, Any], list[float] | None]:
    details: dict[str, Any] = {}
    stats: list[float] | None = None
    if isinstance(value, Score):
        details = dict(value.details)
        stats = None if value.stats is None else [float(x) for x in value.stats]
        value = value.value
    if value is None:
        return None, details, stats
    if isinstance(value, bool):
        return (1.0 if value else 0.0), details, stats
    if not isinstance(value, int | float):
        raise ScorerFailure(f"returned {type(value).__name__}, expected a number in [0, 1], a bool, None or Score")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ScorerFailure(f"returned {number!r}, outside [0, 1]")
    if binary and number not in (0.0, 1.0):
        raise ScorerFailure(f"returned {number!r}; a binary scorer returns 0, 1 or a bool")
    return number, details, stats


class CustomAdapter:
    """A custom scorer seen through the built-in ``Scorer`` protocol.

    Continuous scorers are corpus metrics whose per-item statistics are ``[value, 1]`` (sum and
    count), so summary, compare and gates bootstrap over items with no extra code; binary ones are
    pass/fail metrics (Wilson intervals, McNemar).
    """

    def __init__(self, definition: ScorerDefinition, options: BaseModel | None, label: str, language: str) -> None:
        self.definition = definition
        self.label = label
        self.language = language
        self.options = options
        self.kind: Kind = "binary" if definition.binary else "corpus"
        self.needs_references = definition.needs_references
        self.higher_is_better = definition.higher_is_better
        self.fields = definition.fields
        self.plugin = definition.identity
        self.aggregate_name = "custom" if definition.aggregate is not None else ("mean" if not definition.binary
                                                                                 else None)
        func = definition.func
        self._instance = func(options, language) if isinstance(func, type) else None

    def _call(self, output: str, references: Sequence[str], fields: Mapping[str, Any]) -> Any:
        if self._instance is not None:
            return self._instance.score(output, references, fields)
        available = {"references": list(references), "fields": dict(fields), "language": self.language,
                     "options": self.options}
        return self.definition.func(output, **{k: available[k] for k in self.definition.wants})

    def score_item(self, output: str, references: Sequence[str], fields: Mapping[str, Any]) -> ItemScore:
        """One item's score; an error inside the scorer is returned as ``ItemScore.error``, never raised."""
        try:
            value, details, stats = _coerce(self._call(output, references, fields), self.definition.binary)
            if self.definition.aggregate is not None and value is not None and stats is None:
                raise ScorerFailure("returned no Score.stats, which its aggregate needs")
        except Exception as exc:  # the plugin's code: anything it raises is this item's error
            message = str(exc) if isinstance(exc, ScorerFailure) else f"{type(exc).__name__}: {exc}"
            return ItemScore(None, error=f"scorer {self.label!r}: {message}"[:500])
        if value is not None and self.kind == "corpus" and self.definition.aggregate is None:
            stats = [value, 1.0]
        return ItemScore(value, stats=stats if value is not None and self.kind == "corpus" else None,
                         details=details)

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        return self.score_item(output, references, {})

    def score_many(self, outputs: Sequence[str], references: Sequence[Sequence[str]]) -> list[ItemScore]:
        return [self.score_item(o, r, {}) for o, r in zip(outputs, references, strict=True)]

    def signature(self, num_refs: int = 1) -> str | None:
        return None

    def corpus_score(self, summed_stats: Sequence[float]) -> float:
        if self.definition.aggregate is None:
            return mean_corpus_score(summed_stats)
        if self._instance is not None:
            return float(self._instance.aggregate(summed_stats))
        return float(self.definition.aggregate(summed_stats))


def mean_corpus_score(summed_stats: Sequence[float]) -> float:
    total, count = summed_stats[0], summed_stats[1]
    return 100.0 * total / count if count else float("nan")


class RecordedMean:
    """A mean-aggregated custom scorer rebuilt from a manifest alone: compare, gate and report need
    neither the plugin's code nor its package to aggregate its recorded item values."""

    kind: Kind = "corpus"
    needs_references = False
    higher_is_better = True

    def __init__(self, label: str) -> None:
        self.label = label

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        raise TypeError(f"scorer {self.label!r} is a plugin's; scoring new outputs needs the plugin loaded")

    def score_many(self, outputs: Sequence[str], references: Sequence[Sequence[str]]) -> list[ItemScore]:
        return [self.score(o, r) for o, r in zip(outputs, references, strict=True)]

    def signature(self, num_refs: int = 1) -> str | None:
        return None

    def corpus_score(self, summed_stats: Sequence[float]) -> float:
        return mean_corpus_score(summed_stats)


def options_error(exc: ValidationError | ValueError) -> tuple[str, str]:
    """(field, message) of an invalid custom scorer option, like the built-ins report them."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return where, "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
    field_name, _, message = str(exc).partition(": ")
    return field_name, message
