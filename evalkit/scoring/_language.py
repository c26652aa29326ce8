"""Language fidelity: is the answer written in the language it was asked for?"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from evalkit.scoring._base import ItemScore, NotCorpus, Options


class LanguageOptions(Options):
    min_chars: int = Field(default=8, ge=0)
    skip_code: bool = True
    skip_numeric: bool = True
    min_confidence: float = Field(default=0.5, ge=0, le=1)


class LanguageScorer(NotCorpus):
    needs_references = False

    def __init__(self, options: LanguageOptions, language: str) -> None:
        self.options = options
        self.language = language.split("-")[0]
        self.label = options.label or "language"

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        from evalkit.langid import check_language

        o = self.options
        verdict = check_language(
            output,
            self.language,
            min_chars=o.min_chars,
            skip_code=o.skip_code,
            skip_numeric=o.skip_numeric,
            min_confidence=o.min_confidence,
        )
        details = {
            "expected": verdict.expected,
            "detected": verdict.detected,
            "confidence": round(verdict.confidence, 4),
            "reason": verdict.reason,
        }
        if not verdict.applicable:
            return ItemScore(None, details=details)
        return ItemScore(1.0 if verdict.ok else 0.0, details=details)
