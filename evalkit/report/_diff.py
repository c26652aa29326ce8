"""Word or character diffs between a baseline and a candidate output.

The granularity follows the script of the text itself, not the target language (an English answer to a
Japanese prompt is still compared word by word): runs of letters in scripts written with spaces are
words (each with its trailing whitespace, so the diff reproduces the text exactly); every character of a
script without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) is a token of its own, since a "word" there
would be a whole sentence. Mixed text gets both.
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
# Scripts written without spaces, as literal ranges (the same pattern runs in Python and in the browser).
_UNSPACED = ("\u0e00-\u0eff"  # Thai, Lao
             "\u1000-\u109f"  # Myanmar
             "\u1780-\u17ff"  # Khmer
             "\u3000-\u30ff\u31f0-\u31ff"  # CJK punctuation, hiragana, katakana
             "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"  # Han, half-width katakana
             "\U00020000-\U0002fa1f")  # Han extensions
TOKEN_PATTERN = rf"[{_UNSPACED}]|[^\s{_PUNCT}{_UNSPACED}]+\s*|\S\s*|\s+"
"""One token: a character of a script without spaces, a word with its trailing whitespace, a punctuation mark
with its trailing whitespace, or whitespace. Characters are literal, so JavaScript (``u`` flag) reads it too."""
_TOKENS = re.compile(TOKEN_PATTERN)

Op = Literal["equal", "delete", "insert"]


@dataclass(frozen=True)
class Segment:
    """A run of text that is the same in both outputs, only in the baseline, or only in the candidate."""

    op: Op
    text: str


def spaced(language: str) -> bool:
    """True when ``language`` separates words with spaces (unknown codes are assumed to)."""
    return get_language(language).spaced if is_known(language) else True


def tokenize(text: str) -> list[str]:
    """Tokens that concatenate back to ``text`` (see :data:`TOKEN_PATTERN`)."""
    return _TOKENS.findall(text)


def diff(base: str, cand: str, language: str = "") -> list[Segment]:
    """The segments that turn ``base`` into ``cand`` (``delete`` = only in base, ``insert`` = only in cand).

    ``language`` (the target) no longer decides the granularity: the script of each run of text does."""
    a, b = tokenize(base), tokenize(cand)
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
