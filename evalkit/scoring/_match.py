"""exact_match, contains and regex: binary checks with Unicode-aware normalization."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator

from evalkit.scoring._base import ItemScore, NotCorpus, Options
from evalkit.scoring._normalize import DEFAULT_STEPS, canonical_number, last_number, normalize

NormalizeStep = Literal["nfkc", "casefold", "minus", "digits", "punctuation", "accents", "whitespace"]


def _regex_compiles(cls: type, v: str) -> str:
    """Pydantic validator: a pattern that does not compile is an option error, not a crash later."""
    try:
        re.compile(v)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return v


class RegexExtract(Options):
    regex: str
    group: int | str = 1

    _compiles = field_validator("regex")(_regex_compiles)


class MatchOptions(Options):
    normalize: list[NormalizeStep] = Field(default_factory=lambda: list(DEFAULT_STEPS))  # type: ignore[arg-type]
    extract: Literal["last_number"] | RegexExtract | None = None
    numeric: bool = False  # compare as numbers ("42.0" == "42", "١٢" == "12")


def _extract(output: str, extract: Literal["last_number"] | RegexExtract | None) -> str | None:
    if extract is None:
        return output
    if extract == "last_number":
        return last_number(output)
    assert isinstance(extract, RegexExtract)
    match = re.search(extract.regex, output, flags=re.DOTALL)
    if match is None:
        return None
    try:
        return match.group(extract.group)
    except (IndexError, re.error):
        return None


class ExactMatchScorer(NotCorpus):
    needs_references = True

    def __init__(self, options: MatchOptions, language: str) -> None:
        self.options = options
        self.label = options.label or "exact_match"

    def _canon(self, text: str) -> str | None:
        if self.options.numeric or self.options.extract == "last_number":
            return canonical_number(text)
        return normalize(text, self.options.normalize)

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        extracted = _extract(output, self.options.extract)
        if extracted is None:
            return ItemScore(0.0, details={"extracted": None})
        got = self._canon(extracted)
        refs = {self._canon(r) for r in references}
        ok = got is not None and got in refs
        return ItemScore(1.0 if ok else 0.0, details={"extracted": extracted})


class ContainsOptions(Options):
    normalize: list[NormalizeStep] = Field(default_factory=lambda: list(DEFAULT_STEPS))  # type: ignore[arg-type]
    values: list[str] | None = None  # check these instead of the references
    require: Literal["any", "all"] = "any"


_IN_NUMBER = ".,/"  # between two digits, part of the number (see remove_punctuation)


def _whole_number_at(haystack: str, start: int, end: int) -> bool:
    """Whether ``haystack[start:end]`` does not cut a number: no digit, sign or in-number separator
    continues it on a side where the needle begins or ends with a digit (or a sign)."""
    first, last = haystack[start], haystack[end - 1]
    if start > 0 and (first.isdecimal() or first == "-"):
        prev = haystack[start - 1]
        if prev.isdecimal() or (first != "-" and prev == "-"):
            return False
        if prev in _IN_NUMBER and start > 1 and haystack[start - 2].isdecimal():
            return False
    if end < len(haystack) and last.isdecimal():
        nxt = haystack[end]
        if nxt.isdecimal() or (nxt in _IN_NUMBER and end + 1 < len(haystack) and haystack[end + 1].isdecimal()):
            return False
    return True


def contains(haystack: str, needle: str) -> bool:
    """``needle in haystack``, except that a number is only found as a whole number: "5" is not in
    "15", "-5", "3.5" or "5,000", "-5" is not in "3-5"; needles without digits are plain substrings."""
    if not needle:
        return False
    if not any(ch.isdecimal() for ch in needle):
        return needle in haystack
    start = haystack.find(needle)
    while start != -1:
        if _whole_number_at(haystack, start, start + len(needle)):
            return True
        start = haystack.find(needle, start + 1)
    return False


class ContainsScorer(NotCorpus):
    def __init__(self, options: ContainsOptions, language: str) -> None:
        self.options = options
        self.needs_references = options.values is None
        self.label = options.label or "contains"

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        steps = self.options.normalize
        haystack = normalize(output, steps)
        needles = [normalize(v, steps) for v in (self.options.values or references)]
        hits = [contains(haystack, n) for n in needles]
        ok = any(hits) if self.options.require == "any" else all(hits)
        return ItemScore(1.0 if ok else 0.0)


class RegexOptions(Options):
    pattern: str
    ignorecase: bool = False
    multiline: bool = False
    must_match: bool = True  # False: pass when the pattern does NOT occur

    _compiles = field_validator("pattern")(_regex_compiles)


class RegexScorer(NotCorpus):
    needs_references = False

    def __init__(self, options: RegexOptions, language: str) -> None:
        flags = (re.IGNORECASE if options.ignorecase else 0) | (re.MULTILINE if options.multiline else 0)
        self._pattern = re.compile(options.pattern, flags)
        self._must = options.must_match
        self.label = options.label or "regex"

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        found = self._pattern.search(output) is not None
        return ItemScore(1.0 if found == self._must else 0.0)
