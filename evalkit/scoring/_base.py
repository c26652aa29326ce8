"""The scorer protocol: every scorer turns one output into an item value and, for corpus
metrics, sacrebleu's additive sufficient statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

Kind = Literal["corpus", "binary"]


@dataclass(frozen=True)
class ItemScore:
    value: float | None  # None: the check does not apply to this item
    stats: list[float] | None = None  # corpus metrics: sufficient statistics of this segment
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a custom scorer failed on this item (recorded as a ``scorer_error``)


class Scorer(Protocol):
    label: str
    kind: Kind
    needs_references: bool
    higher_is_better: bool

    def score(self, output: str, references: Sequence[str]) -> ItemScore: ...

    def score_many(self, outputs: Sequence[str], references: Sequence[Sequence[str]]) -> list[ItemScore]:
        """``score`` for each output (same results); corpus metrics count a batch at once."""
        ...

    def signature(self, num_refs: int = 1) -> str | None: ...

    def corpus_score(self, summed_stats: Sequence[float]) -> float: ...


class Options(BaseModel):
    """Base for each scorer's options: unknown option names are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str | None = None


class NotCorpus:
    kind: Kind = "binary"
    higher_is_better = True

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        raise NotImplementedError

    def score_many(self, outputs: Sequence[str], references: Sequence[Sequence[str]]) -> list[ItemScore]:
        return [self.score(o, r) for o, r in zip(outputs, references, strict=True)]

    def signature(self, num_refs: int = 1) -> str | None:
        return None

    def corpus_score(self, summed_stats: Sequence[float]) -> float:
        raise TypeError(f"{type(self).__name__} has no corpus statistics")
