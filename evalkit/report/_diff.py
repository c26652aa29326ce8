"""Word or character diffs between a baseline and a candidate output.

Languages written with spaces are compared word by word (each word with its trailing whitespace, so
the diff reproduces the text exactly); scripts without spaces (zh, ja, th, lo, km, my...) are
compared character by character, since a "word" there would be a whole sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from evalkit.languages import get_language, is_known

# A word keeps its trailing whitespace, so that spaces alone never anchor a match between unrelated texts.
# Words are runs of anything but spaces and punctuation (so Devanagari vowel signs stay inside their word).
_PUNCT = r""".,;:!?¿¡"'()\[\]{}«»“”‘’、。，！？؟،।"""
_WORDS = re.compile(rf"[^\s{_PUNCT}]+\s*|\S\s*|\s+")

Op = Literal["equal", "delete", "insert"]


@dataclass(frozen=True)
class Segment:
    """A run of text that is the same in both outputs, only in the baseline, or only in the candidate."""

    op: Op
    text: str


def spaced(language: str) -> bool:
    """True when ``language`` separates words with spaces (unknown codes are assumed to)."""
    return get_language(language).spaced if is_known(language) else True


def tokenize(text: str, *, by_char: bool) -> list[str]:
    """Tokens that concatenate back to ``text``."""
    if by_char:
        return list(text)
    return _WORDS.findall(text)


def diff(base: str, cand: str, language: str) -> list[Segment]:
    """The segments that turn ``base`` into ``cand`` (``delete`` = only in base, ``insert`` = only in cand)."""
    by_char = not spaced(language)
    a, b = tokenize(base, by_char=by_char), tokenize(cand, by_char=by_char)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    out: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _append(out, "equal", "".join(a[i1:i2]))
        else:
            if i2 > i1:
                _append(out, "delete", "".join(a[i1:i2]))
            if j2 > j1:
                _append(out, "insert", "".join(b[j1:j2]))
    return out


def _append(out: list[Segment], op: Op, text: str) -> None:
    if not text:
        return
    if out and out[-1].op == op:
        out[-1] = Segment(op, out[-1].text + text)
    else:
        out.append(Segment(op, text))


def sides(segments: list[Segment]) -> tuple[list[Segment], list[Segment]]:
    """Split a diff into what the baseline column shows (equal + delete) and the candidate column (equal + insert)."""
    return [s for s in segments if s.op != "insert"], [s for s in segments if s.op != "delete"]
