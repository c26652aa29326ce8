"""Example evalkit scorers: team-specific checks added without forking evalkit (see docs/scorers.md).

Enable them with ``evalkit run suite.yaml --plugin examples/evalkit_scorers_example/evalkit_scorers_example``,
``EVALKIT_PLUGINS=evalkit_scorers_example`` (on the Python path), or by installing this package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import evalkit
from evalkit.scoring import CustomScorer, Score

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


@evalkit.scorer(binary=True, version="1")
def json_valid(output: str) -> Score:
    """1 when the answer is a JSON document (a ```json fence around it is allowed), else 0."""
    match = _FENCE.match(output)
    text = match.group(1) if match else output
    try:
        json.loads(text)
    except ValueError as exc:
        return Score(False, details={"error": str(exc)[:200]})
    return Score(True)


class LengthOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tolerance: float = Field(default=0.5, gt=0)  # ratios within 1 ± tolerance score above 0


@evalkit.scorer(references=True, options=LengthOptions, version="1")
def length_ratio(output: str, references: list[str], options: LengthOptions) -> Score:
    """How close the answer's length (characters) is to the reference's: 1 at the same length, falling
    linearly to 0 at a ratio of 1 ± tolerance."""
    ref = min(references, key=lambda r: abs(len(r) - len(output)))
    ratio = len(output) / max(len(ref), 1)
    value = max(0.0, 1.0 - abs(ratio - 1.0) / options.tolerance)
    return Score(value, details={"ratio": round(ratio, 3)})


@evalkit.scorer()
class GlossaryKept(CustomScorer):
    """The share of the case's glossary terms the answer keeps verbatim (case-insensitively).

    The case field ``glossary`` is a list of terms, or a mapping from target language to a list.
    A case without glossary terms is not scored.
    """

    name = "glossary_kept"
    fields = ("glossary",)
    version = "1"

    def score(self, output: str, references: Sequence[str], fields: Mapping[str, Any]) -> Score | None:
        terms = fields.get("glossary")
        if isinstance(terms, dict):
            terms = terms.get(self.language)
        if not terms:
            return None
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise ValueError("the case field 'glossary' must be a list of strings (or one per language)")
        text = output.casefold()
        missing = [t for t in terms if t.casefold() not in text]
        return Score(1 - len(missing) / len(terms), details={"missing": missing} if missing else {})
