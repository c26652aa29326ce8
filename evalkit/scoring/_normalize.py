"""Unicode-aware text normalization for exact-match style checks.

Every step is language-neutral: digits of every script become ASCII, every Unicode
minus/dash becomes "-", punctuation means Unicode categories P* and S*, and accents are
removed only from Latin, Greek and Cyrillic letters (removing combining marks from
Devanagari or Thai would destroy the word).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation

STEPS = ("nfkc", "casefold", "minus", "digits", "punctuation", "accents", "whitespace")
DEFAULT_STEPS = ("nfkc", "casefold", "minus", "digits", "punctuation", "whitespace")

_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\u2015\ufe63\uff0d\u2010\u2011\u2043"), "-")
_WS = re.compile(r"\s+")
# Invisible marks that carry no meaning for matching: bidi controls, zero-width space, BOM.
# (ZWJ/ZWNJ are kept: they change spelling in Persian, Indic scripts and emoji.)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"))
_ACCENTED_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")


class _LazyTable(dict[int, str | int | None]):
    """A ``str.translate`` table that classifies each code point the first time it is seen
    (building the full table would visit all 1.1 million code points at start-up)."""

    def __init__(self, classify: Callable[[str], str | bool | None]) -> None:
        super().__init__()
        self._classify = classify

    def __missing__(self, cp: int) -> str | int | None:
        result = self._classify(chr(cp))
        value: str | int | None = cp if result is False else result
        self[cp] = value  # mapping a code point to itself leaves it unchanged
        return value


def _digit(ch: str) -> str | bool:
    if ch.isascii() or unicodedata.category(ch) != "Nd":
        return False
    return str(unicodedata.decimal(ch))


def _punct(ch: str) -> bool | None:
    return None if unicodedata.category(ch)[0] in "PS" else False


_DIGITS = _LazyTable(_digit)
_PUNCT = _LazyTable(_punct)


def _strip_accents(text: str) -> str:
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.category(ch) == "Mn" and out and unicodedata.name(out[-1], "").startswith(_ACCENTED_SCRIPTS):
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


_STEP_FUNCS: dict[str, Callable[[str], str]] = {
    "nfkc": lambda t: unicodedata.normalize("NFKC", t),
    "casefold": str.casefold,
    "minus": lambda t: t.translate(_MINUS),
    "digits": lambda t: t.translate(_DIGITS),
    "punctuation": lambda t: t.translate(_PUNCT),
    "accents": _strip_accents,
    "whitespace": lambda t: _WS.sub(" ", t.translate(_INVISIBLE)).strip(),
}


def normalize(text: str, steps: Sequence[str] = DEFAULT_STEPS) -> str:
    """Apply the named steps in the order given. Idempotent: ``normalize(normalize(t)) == normalize(t)``."""
    for _ in range(3):
        before = text
        for step in steps:
            text = _STEP_FUNCS[step](text)
        # Removing punctuation or invisible marks can bring a letter next to a combining mark that
        # NFKC then composes ("c:\u0327" -> "c\u0327" -> "ç"): repeat until stable (ASCII always is).
        if text.isascii() or text == before or "nfkc" not in steps:
            break
    return text


def to_ascii_digits(text: str) -> str:
    return text.translate(_DIGITS)


_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")


def last_number(text: str) -> str | None:
    """The last number in ``text`` (any script's digits, Unicode minus, 1,234.5 / 1.234,5 styles)."""
    text = to_ascii_digits(unicodedata.normalize("NFKC", text)).translate(_MINUS)
    matches = _NUMBER.findall(text)
    if not matches:
        return None
    return canonical_number(matches[-1])


def canonical_number(raw: str) -> str | None:
    """``"1,234.50"`` → ``"1234.5"``; ``"42.0"`` → ``"42"``; None when not a number."""
    s = to_ascii_digits(unicodedata.normalize("NFKC", raw.strip())).translate(_MINUS).replace(" ", "")
    if "," in s and "." in s:
        # the later separator is the decimal point
        s = s.replace(",", "") if s.rfind(".") > s.rfind(",") else s.replace(".", "").replace(",", ".")
    elif "," in s:
        head, _, tail = s.rpartition(",")
        s = s.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text
