"""Unicode-aware text normalization for exact-match style checks.

Every step is language-neutral: digits of every script become ASCII, every Unicode
minus/dash becomes "-", punctuation means Unicode categories P* and S*, and accents are
removed only from Latin, Greek and Cyrillic letters (removing combining marks from
Devanagari or Thai would destroy the word).

The punctuation step is number-aware (docs/suite-format.md, "Normalization"): a minus sign
attached to a number ("-5"), and one decimal point, decimal comma or fraction slash between
two digits ("3.14", "3,5", "1/2") survive; removed punctuation between two digits leaves a
space, so two numbers are never joined into one ("2+3" → "2 3", not "23").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction

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

# Between two digits, one of these is part of the number, written as the value.
_NUMBER_SEPARATORS = {
    ".": ".",
    ",": ",",
    "\u066b": ".",  # ARABIC DECIMAL SEPARATOR
    "\u066c": ",",  # ARABIC THOUSANDS SEPARATOR
    "/": "/",
    "\u2044": "/",  # FRACTION SLASH (NFKC writes "½" as "1⁄2")
    "\u2215": "/",  # DIVISION SLASH
}
_DASHES = frozenset("-").union(map(chr, _MINUS))
# A run of punctuation (anything but letters, digits and spaces; "_" is punctuation too) touching a digit.
_NEAR_DIGIT = re.compile(r"(?:[^\w\s]|_)+(?=\d)|(?<=\d)(?:[^\w\s]|_)+")
_HAS_DIGIT = re.compile(r"\d")


def _number_punct(text: str, start: int, end: int) -> str:
    """What is left of the punctuation run ``text[start:end]``, which touches a digit."""
    run = text[start:end]
    after = end < len(text) and text[end].isdecimal()
    before = start > 0 and text[start - 1].isdecimal()
    if before and after and run in _NUMBER_SEPARATORS:
        return _NUMBER_SEPARATORS[run]
    sign = after and run[-1] in _DASHES
    rest = (run[:-1] if sign else run).translate(_PUNCT)  # combining marks in the run stay
    if sign:
        return rest + "-"
    return " " if before and after and not rest else rest


def remove_punctuation(text: str) -> str:
    """The ``punctuation`` step: drop P* and S* characters, except what belongs to a number.

    Kept: a dash directly before a digit, as ``-`` (the sign of "-5", "(−5)", the hyphens of
    "2020-01-05"); one ``.``/``,``/``٫``/``٬``/``/``/``⁄``/``∕`` between two digits (``٫`` →
    ``.``, ``٬`` → ``,``, fraction slashes → ``/``). Removed punctuation between two digits
    becomes a space, so digits that were apart stay apart.
    """
    if not _HAS_DIGIT.search(text):
        return text.translate(_PUNCT)
    out: list[str] = []
    pos = 0
    for m in _NEAR_DIGIT.finditer(text):
        out.append(text[pos : m.start()].translate(_PUNCT))
        out.append(_number_punct(text, m.start(), m.end()))
        pos = m.end()
    out.append(text[pos:].translate(_PUNCT))
    return "".join(out)


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
    "punctuation": remove_punctuation,
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


# Arabic decimal/thousands separators and fraction slashes, written the ASCII way (for numbers).
_NUMBER_MARKS = str.maketrans({"\u066b": ".", "\u066c": ",", "\u2044": "/", "\u2215": "/"})
# A minus sign only where it is not glued to a word or number before it ("1990-2000" is a range,
# "COVID-19" a name); a fraction "3/4" is one number.
# Separators inside a number: digit grouping only where the groups are well formed (1,234,567 /
# 1.234.567 / Indian 12,34,567) with an optional decimal part; otherwise one separator at most
# ("1,2,3" is a list: its numbers are 1,2 and 3).
_GROUPED = (r"\d{1,3}(?:,\d{3}(?!\d))+(?:\.\d+)?"
            r"|\d{1,2}(?:,\d{2}(?!\d))+,\d{3}(?!\d)(?:\.\d+)?"
            r"|\d{1,3}(?:\.\d{3}(?!\d))+(?:,\d+)?")
_NUMBER = re.compile(rf"(?:(?<!\w)-)?(?:{_GROUPED}|\d+(?:[.,]\d+)?)(?:/\d+)?")
_THOUSANDS = {sep: re.compile(rf"-?\d{{1,3}}(?:{re.escape(sep)}\d{{3}})+") for sep in ",."}
_INDIAN_GROUPS = re.compile(r"-?\d{1,2}(?:,\d{2})+,\d{3}")


def _ascii_number_text(text: str) -> str:
    return to_ascii_digits(unicodedata.normalize("NFKC", text)).translate(_MINUS).translate(_NUMBER_MARKS)


def last_number(text: str) -> str | None:
    """The last number in ``text`` in canonical form (:func:`canonical_number`).

    Any script's digits, Unicode minus signs, ``1,234.5`` / ``1.234,5`` styles, the Arabic decimal
    separator, fractions (``1/2``, ``½``). A dash is a minus sign only when no letter or digit is
    right before it.
    """
    matches = _NUMBER.findall(_ascii_number_text(text))
    if not matches:
        return None
    return canonical_number(matches[-1])


# A number with more digits, or a power of ten beyond this either way, is not taken as a number: a
# hostile "1e999999999" must not become a billion-digit string (nor overflow Decimal's default
# context). Within the limit nothing is rounded (the default context keeps 28 digits).
_MAX_PLACES = 1000
_CONTEXT = Context(prec=4 * _MAX_PLACES, Emax=8 * _MAX_PLACES, Emin=-8 * _MAX_PLACES)


def _ungrouped(whole: str, sep: str) -> str | None:
    """``whole`` without its grouping separators ``sep``; None when the groups are not well formed
    (thousands: 1-3 digits then groups of 3; Indian, commas only: 1-2 digits, groups of 2, then 3)."""
    if sep not in whole:
        return whole
    if _THOUSANDS[sep].fullmatch(whole) or (sep == "," and _INDIAN_GROUPS.fullmatch(whole)):
        return whole.replace(sep, "")
    return None


def _plain_decimal(s: str) -> str | None:
    """``s`` written with ``.`` as its only separator (the decimal point), or None when its separators
    cannot be read as one number."""
    if "," in s and "." in s:  # the later separator is the decimal point, the other one groups
        point = "." if s.rfind(".") > s.rfind(",") else ","
        whole, _, frac = s.rpartition(point)
        if point in whole:
            return None
        whole_digits = _ungrouped(whole, "," if point == "." else ".")
        return None if whole_digits is None else f"{whole_digits}.{frac}"
    for sep in (",", "."):
        if s.count(sep) > 1:
            return _ungrouped(s, sep)
    if "," in s:  # one comma: grouping before exactly three digits, else a decimal comma
        head, _, tail = s.partition(",")
        return head + tail if len(tail) == 3 and _ungrouped(s, ",") else f"{head}.{tail}"
    return s


def _decimal(text: str) -> Decimal | None:
    s = _plain_decimal(text)
    if s is None:
        return None
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value.adjusted()) > _MAX_PLACES or len(value.as_tuple().digits) > _MAX_PLACES:
        return None
    return value


def _fraction_text(value: Fraction) -> str:
    """A terminating fraction as its exact decimal ("0.75"), any other as ``p/q`` in lowest terms."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    k = max(twos, fives)
    return _decimal_text(Decimal(value.numerator * 10**k // value.denominator).scaleb(-k, _CONTEXT))


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(_CONTEXT), "f")
    return "0" if text in {"-0", "0"} else text


def canonical_number(raw: str) -> str | None:
    """``"1,234.50"`` → ``"1234.5"``; ``"42.0"`` → ``"42"``; ``"2/4"`` → ``"0.5"``; ``"2/6"`` → ``"1/3"``;
    None when not a number (or a division by zero)."""
    s = _ascii_number_text(raw.strip()).replace(" ", "")
    if "/" in s:
        num, _, den = s.partition("/")
        top, bottom = _decimal(num), _decimal(den)
        if top is None or bottom is None or bottom == 0 or "-" in den:
            return None
        return _fraction_text(Fraction(top) / Fraction(bottom))
    value = _decimal(s)
    return None if value is None else _decimal_text(value)
