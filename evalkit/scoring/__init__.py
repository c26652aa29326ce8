"""Scorers: one factory per name in the suite schema, all behind the ``Scorer`` protocol."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from evalkit._hints import did_you_mean
from evalkit.errors import UsageError
from evalkit.scoring._base import ItemScore, Options, Scorer
from evalkit.scoring._custom import (
    CustomAdapter,
    CustomScorer,
    RecordedMean,
    Score,
    options_error,
    parse_custom_options,
)
from evalkit.scoring._judge import JudgeOptions, JudgeScorer
from evalkit.scoring._language import LanguageOptions, LanguageScorer
from evalkit.scoring._match import (
    ContainsOptions,
    ContainsScorer,
    ExactMatchScorer,
    MatchOptions,
    RegexOptions,
    RegexScorer,
)
from evalkit.scoring._normalize import normalize
from evalkit.scoring._plugins import (
    ENTRY_POINT_GROUP,
    ENV_VAR,
    load_plugin,
    load_plugins,
    loaded_plugins,
    lookup,
    not_registered,
    scorer,
)
from evalkit.scoring._sacre import (
    BleuOptions,
    BleuScorer,
    ChrfOptions,
    ChrfScorer,
    TerOptions,
    TerScorer,
    default_tokenizer,
)

__all__ = [
    "ENTRY_POINT_GROUP", "ENV_VAR", "REGISTRY", "CustomScorer", "ItemScore", "Score", "Scorer", "ScorerOptionsError",
    "UnknownScorer", "build_scorer", "default_tokenizer", "is_registered", "load_plugin", "load_plugins",
    "loaded_plugins", "normalize", "recorded_scorer", "scorer",
]

Factory = Callable[[Any, str], Scorer]

REGISTRY: dict[str, tuple[type[Options], Factory]] = {
    "bleu": (BleuOptions, BleuScorer),
    "chrf": (ChrfOptions, ChrfScorer),
    "ter": (TerOptions, TerScorer),
    "exact_match": (MatchOptions, ExactMatchScorer),
    "contains": (ContainsOptions, ContainsScorer),
    "regex": (RegexOptions, RegexScorer),
    "language": (LanguageOptions, LanguageScorer),
    "judge": (JudgeOptions, JudgeScorer),  # scored by the runner's judge calls (evalkit.runner._judge)
}


class ScorerOptionsError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UnknownScorer(UsageError):
    """A scorer that is neither built in nor provided by an enabled plugin (a suite's, or a run's
    custom-aggregated scorer when compare, gate or report run without its plugin)."""

    def __init__(self, name: str) -> None:
        super().__init__(not_registered(name))
        self.name = name


def is_registered(name: str) -> bool:
    """Built in, or provided by an enabled plugin (may import an installed entry point's module)."""
    return name in REGISTRY or lookup(name) is not None


_HINT = " (did you mean {!r}?)"


def parse_options(name: str, options: dict[str, Any]) -> Options:
    options_type, _ = REGISTRY[name]
    try:
        return options_type.model_validate(options)
    except ValidationError as exc:
        err = exc.errors()[0]
        # A union's branch tags (``literal['last_number']``, ``RegexExtract``) are pydantic's, not the suite's.
        loc = [str(p) for p in err["loc"] if isinstance(p, int) or (p.isidentifier() and not p[:1].isupper())]
        where = ".".join(loc)
        if err["type"] == "extra_forbidden":
            msg = f"unknown option {loc[-1]!r}" + did_you_mean(loc[-1], options_type.model_fields, _HINT)
        else:
            msg = err["msg"]
            if err["type"] == "literal_error" and isinstance(err.get("input"), str):
                expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
                hint = did_you_mean(err["input"], expected, _HINT)
                msg = f"unknown value {err['input']!r}{hint}" if hint else f"{msg} (got {err['input']!r})"
        raise ScorerOptionsError(where, msg) from None


def build_scorer(name: str, options: dict[str, Any], language: str) -> Scorer:
    """A scorer for ``name`` with ``options``, for outputs in ``language`` (the target language)."""
    if name not in REGISTRY:
        return _build_custom(name, options, language)
    parsed = parse_options(name, options)
    _, factory = REGISTRY[name]
    return factory(parsed, language)


def _build_custom(name: str, options: dict[str, Any], language: str) -> Scorer:
    definition = lookup(name)
    if definition is None:
        raise UnknownScorer(name)
    try:
        label, parsed = parse_custom_options(definition, options)
    except (ValidationError, ValueError) as exc:
        raise ScorerOptionsError(*options_error(exc)) from None
    try:
        return CustomAdapter(definition, parsed, label, language)
    except Exception as exc:  # a CustomScorer's __init__ is the plugin's code
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"scorer {name!r} ({definition.identity}) could not be set up for {language}: {detail}") from None


def recorded_scorer(name: str, options: dict[str, Any], language: str, aggregate: str | None = None) -> Scorer:
    """The scorer a manifest records: a mean-aggregated custom scorer needs no plugin to aggregate its values."""
    if aggregate == "mean" and name not in REGISTRY:
        return RecordedMean(str(options.get("label") or name))
    return build_scorer(name, options, language)
