"""Scorers: one factory per name in the suite schema, all behind the ``Scorer`` protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from evalkit.scoring._base import ItemScore, Options, Scorer
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
from evalkit.scoring._sacre import (
    BleuOptions,
    BleuScorer,
    ChrfOptions,
    ChrfScorer,
    TerOptions,
    TerScorer,
    default_tokenizer,
)

__all__ = ["REGISTRY", "ItemScore", "Scorer", "ScorerOptionsError", "build_scorer", "default_tokenizer", "normalize"]

Factory = Callable[[Any, str], Scorer]

REGISTRY: dict[str, tuple[type[Options], Factory]] = {
    "bleu": (BleuOptions, BleuScorer),
    "chrf": (ChrfOptions, ChrfScorer),
    "ter": (TerOptions, TerScorer),
    "exact_match": (MatchOptions, ExactMatchScorer),
    "contains": (ContainsOptions, ContainsScorer),
    "regex": (RegexOptions, RegexScorer),
    "language": (LanguageOptions, LanguageScorer),
}


class ScorerOptionsError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_options(name: str, options: dict[str, Any]) -> Options:
    options_type, _ = REGISTRY[name]
    try:
        return options_type.model_validate(options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
        raise ScorerOptionsError(where, msg) from None


def build_scorer(name: str, options: dict[str, Any], language: str) -> Scorer:
    """A scorer for ``name`` with ``options``, for outputs in ``language`` (the target language)."""
    parsed = parse_options(name, options)
    _, factory = REGISTRY[name]
    return factory(parsed, language)
