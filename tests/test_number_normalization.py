"""Number-aware exact-match normalization (issue #11, item 6).

The default steps must keep what makes a number that number: a sign attached to it, a decimal
point or comma and a fraction slash between digits. Punctuation elsewhere is still removed, and
removing punctuation between two digits never joins two numbers into one.
"""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evalkit.scoring import build_scorer, normalize
from evalkit.scoring._normalize import DEFAULT_STEPS, canonical_number, last_number

SETTINGS = settings(
    max_examples=int(os.environ.get("EVALKIT_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    derandomize=not os.environ.get("EVALKIT_HYPOTHESIS_EXAMPLES"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# One decimal digit alphabet per script (zero first), so a number can be written in any of them.
ZEROS = {
    "ascii": "0",
    "arabic-indic": "\u0660",
    "persian": "\u06f0",
    "devanagari": "\u0966",
    "bengali": "\u09e6",
    "tamil": "\u0be6",
    "thai": "\u0e50",
    "lao": "\u0ed0",
    "khmer": "\u17e0",
    "myanmar": "\u1040",
    "fullwidth": "\uff10",
}
# Everything the `minus` step (or the punctuation step on its own) reads as a minus sign.
MINUS_SIGNS = "-\u2212\u2012\u2013\u2014\u2015\ufe63\uff0d\u2010\u2011"


def _in_script(ascii_number: str, zero: str) -> str:
    return "".join(chr(ord(zero) + int(ch)) if ch.isdigit() else ch for ch in ascii_number)


def _em(output: str, reference: str, **options: object) -> bool:
    return build_scorer("exact_match", dict(options), "en").score(output, [reference]).value == 1.0


# --- the cases of the issue --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [("5", "-5"), ("-5", "5"), ("3.14", "314"), ("1/2", "12"), ("3,5", "35"), ("2+3", "23"), ("3..14", "314"),
     ("1990-2000", "19902000"), ("٤٫٥", "45"), ("½", "12"), ("0.5", "05")],
)
def test_different_numbers_do_not_match(a: str, b: str) -> None:
    assert not _em(a, b), (a, b, normalize(a), normalize(b))
    assert not _em(b, a)


@pytest.mark.parametrize(
    ("output", "reference"),
    [
        ("Berlin.", "berlin"),
        ("« Été »", "été"),
        ("−5", "-5"),  # U+2212
        ("–5", "-5"),  # en dash
        ("－５", "-5"),  # full-width hyphen-minus and digit
        ("٤٢", "42"),
        ("(−5)", "-5"),
        ("-5.", "-5"),  # sentence-final full stop is not a decimal point
        ("3.14!", "3.14"),
        ("３．１４", "3.14"),  # full-width digits and full stop (NFKC)
        ("٣٫١٤", "3.14"),  # Arabic-Indic digits, Arabic decimal separator U+066B
        ("۳٫۱۴", "3.14"),  # Persian digits
        ("३.१४", "3.14"),  # Devanagari digits
        ("๓.๑๔", "3.14"),  # Thai digits
        ("3,14", "3,14"),  # a decimal comma survives as written
        ("½", "1/2"),  # NFKC writes U+2044 FRACTION SLASH; any fraction slash between digits is "/"
        ("1∕2", "1/2"),  # U+2215 DIVISION SLASH
        ("１／２", "1/2"),
        ("2020-01-05", "2020-01-05"),
        ("+5", "5"),  # a plus sign does not change the value
        ("5%", "5"),  # a symbol after a number is removed, as before
        ("$5", "5"),
        ("Jean-Pierre", "jeanpierre"),  # a hyphen between letters is removed, as before
        ("- 5", "5"),  # a dash that is not attached to the number is punctuation
        ("2 + 3", "2 3"),
        ("2+3", "2 3"),  # removed punctuation between digits leaves a space, never a longer number
    ],
)
def test_number_aware_matches(output: str, reference: str) -> None:
    assert _em(output, reference), (output, reference, normalize(output), normalize(reference))


@pytest.mark.parametrize("script", sorted(ZEROS))
@pytest.mark.parametrize("number", ["42", "-42", "3.14", "-0.5", "1/2", "1,5"])
def test_numbers_in_every_script_match_ascii(script: str, number: str) -> None:
    written = _in_script(number, ZEROS[script])
    assert normalize(written) == number, (script, written, normalize(written))


def test_thousands_separators_are_kept_as_written() -> None:
    """The rule chosen: normalization never reinterprets a number ("1,000" is 1000 in English, 1 in
    German); separators stay as written. `numeric: true` / `extract: last_number` compare values."""
    assert normalize("1,000") == "1,000"
    assert not _em("1,000", "1000")
    assert _em("1,000", "1000", numeric=True)
    assert _em("Es sind 1.234,5 Euro", "1234.5", extract="last_number")


# --- last_number / canonical_number ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("from 1990-2000", "2000"),  # a hyphen between digits is not a sign
        ("COVID-19", "19"),
        ("x = -5", "-5"),
        ("(−5)", "-5"),
        ("the answer is 1/2", "0.5"),
        ("½", "0.5"),
        ("١/٣", "1/3"),
        ("2/6", "1/3"),
        ("-3/4", "-0.75"),
        ("٣٫١٤", "3.14"),
        ("١٬٢٣٤٫٥", "1234.5"),  # Arabic thousands separator U+066C and decimal separator U+066B
        ("３．１４", "3.14"),
        ("-0", "0"),
        ("1/0", None),
    ],
)
def test_last_number(text: str, number: str | None) -> None:
    assert last_number(text) == number


def test_extract_last_number_fractions_and_signs() -> None:
    em = build_scorer("exact_match", {"extract": "last_number"}, "en")
    assert em.score("So the result is 1/2.", ["0.5"]).value == 1.0
    assert em.score("So the result is 1/2.", ["2"]).value == 0.0
    assert em.score("Between 1990-2000", ["-2000"]).value == 0.0
    assert em.score("It is −5 °C", ["-5"]).value == 1.0
    assert em.score("It is 5 °C", ["-5"]).value == 0.0
    assert canonical_number("½") == "0.5"


# --- properties --------------------------------------------------------------------------------------

NUMBERS = st.builds(
    lambda sign, whole, frac: f"{sign}{whole}{frac}",
    st.sampled_from(["", "-"]),
    st.integers(0, 10**9).map(str),
    st.one_of(st.just(""), st.integers(0, 10**6).map(lambda f: f".{f}"), st.integers(1, 999).map(lambda d: f"/{d}")),
)
WORDS = st.text(alphabet=st.characters(categories=("Ll", "Lu", "Lo", "Zs", "Po", "Ps", "Pe", "Sm", "So")), max_size=8)


@SETTINGS
@given(NUMBERS, st.sampled_from(sorted(ZEROS)), st.sampled_from(MINUS_SIGNS))
def test_a_number_survives_normalization_in_any_script(number: str, script: str, minus: str) -> None:
    written = _in_script(number, ZEROS[script]).replace("-", minus)
    assert normalize(written) == number


@SETTINGS
@given(NUMBERS, NUMBERS)
def test_different_numbers_never_normalize_equal(a: str, b: str) -> None:
    if a != b:
        assert normalize(a) != normalize(b)


@SETTINGS
@given(WORDS, NUMBERS, WORDS)
@example("", "5", ".")
@example("(", "-5", ")")
@example("«", "3.14", "»")
def test_number_survives_surrounding_punctuation(before: str, number: str, after: str) -> None:
    """Punctuation around a number goes, the number stays (a letter or digit glued to it aside)."""
    text = f"{before} {number} {after}"
    assert number in normalize(text).split(" ")


@SETTINGS
@given(st.text(alphabet=st.sampled_from("0123456789٠١٢٣.,-−/+٫٬⁄ ()%'a"), max_size=20))
def test_number_heavy_text_is_idempotent(text: str) -> None:
    once = normalize(text, DEFAULT_STEPS)
    assert normalize(once, DEFAULT_STEPS) == once


@SETTINGS
@given(st.text(alphabet=st.sampled_from("0123456789.,-/+:;'!?"), max_size=20))
def test_removing_punctuation_never_joins_digits(text: str) -> None:
    """Two digits separated by punctuation are never adjacent after normalization."""
    out = normalize(text)
    digits_in = [ch for ch in text if ch.isdigit()]
    assert [ch for ch in out if ch.isdigit()] == digits_in
    # every pair of digits that was separated in the input is still separated
    runs_in = [r for r in "".join(ch if ch.isdigit() else " " for ch in text).split()]
    runs_out = [r for r in "".join(ch if ch.isdigit() else " " for ch in out).split()]
    assert runs_out == runs_in


def test_letters_and_other_punctuation_unchanged_by_the_number_rule() -> None:
    for text, expected in [("Berlin.", "berlin"), ("«Москва»", "москва"), ("「東京」。", "東京"), ("a.b", "ab"),
                           ("e.g.", "eg"), ("and/or", "andor"), ("x-y", "xy")]:
        assert normalize(text) == expected
    assert unicodedata.category("\u066b") == "Po"  # removed like any punctuation when not between digits
    assert normalize("\u066b") == ""


# --- contains: a number is found only as a whole number -------------------------------------------------


@pytest.mark.parametrize(
    ("output", "needle", "found"),
    [
        ("The answer is 15.", "5", False),
        ("The answer is -5.", "5", False),
        ("It is 3.5 metres", "5", False),
        ("It is 3.5 metres", "3", False),
        ("about 1/2 of it", "2", False),
        ("from 3-5 days", "-5", False),  # a hyphen between digits is not a sign
        ("It is 5.", "5", True),
        ("It is −5 °C", "-5", True),
        ("42 Äpfel", "42", True),
        ("उत्तर: ४२ रुपये", "42", True),
        ("about 1/2 of it", "1/2", True),
        ("It is 3.5 metres", "3.5", True),
        ("答案是巴黎。", "巴黎", True),  # needles without digits: substring as before
        ("Parisian", "paris", True),
        ("Room 5B", "5", True),  # letters around a number do not make it another number
        ("A5", "5", True),
    ],
)
def test_contains_matches_whole_numbers(output: str, needle: str, found: bool) -> None:
    scorer = build_scorer("contains", {"values": [needle]}, "en")
    assert scorer.score(output, []).value == (1.0 if found else 0.0), (output, needle, normalize(output))


def test_huge_exponents_do_not_blow_up() -> None:
    """A hostile answer must not make the scorer build a billion-digit number or crash on Decimal's
    overflow (`numeric: true` canonicalizes the whole answer); long numbers are not rounded."""
    assert canonical_number("1e5") == "100000"
    assert canonical_number("-2.50e-3") == "-0.0025"
    assert canonical_number("1e999999999") is None
    assert canonical_number("-2.50e-999999999") is None
    assert canonical_number("1e999999999/3") is None
    assert canonical_number("1/1e-999999999") is None
    assert canonical_number("1" * 1001) is None
    long = "12345678901234567890123456789012"  # 32 digits: more than Decimal's default 28
    assert canonical_number(long) == long
    assert canonical_number(long[:-1] + "3") != canonical_number(long)
    em = build_scorer("exact_match", {"numeric": True}, "en")
    assert em.score("1e999999999", ["1e999999999"]).value == 0.0  # not a number: never a match
    assert em.score("1e3", ["1000"]).value == 1.0


# --- digit grouping: a separator is read as grouping only where the groups are well formed -------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("1,234", "1234"),
        ("1,234,567", "1234567"),
        ("1,234,567.5", "1234567.5"),
        ("1.234.567", "1234567"),  # German/Spanish grouping with dots
        ("1.234.567,5", "1234567.5"),
        ("12,34,567", "1234567"),  # Indian grouping (lakh/crore): 2-digit groups, then 3
        ("1,00,000", "100000"),
        ("1,2", "1.2"),  # a decimal comma
        ("1.5", "1.5"),
        ("-1,234.5", "-1234.5"),
        ("1,2,3", None),  # a list, not a number (was read as 12.3)
        ("1.2.3", None),  # a version, not a number
        ("1,23,4", None),
        ("12,3456,789", None),
        ("1,234.567,8", None),  # both separators used twice
        ("1.23,4", None),  # "1.23" is no thousands grouping
    ],
)
def test_canonical_number_reads_grouping_only_when_well_formed(raw: str, number: str | None) -> None:
    assert canonical_number(raw) == number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("the answers are 1,2,3", "3"),
        ("pick 1,2 or 3", "3"),
        ("version 1.2.3", "3"),
        ("It costs 1,234,567.50 dollars", "1234567.5"),
        ("Es kostet 1.234.567,50 Euro", "1234567.5"),
        ("कुल 12,34,567 रुपये", "1234567"),
        ("1,2345", "1.2345"),
    ],
)
def test_last_number_splits_malformed_groups(text: str, number: str) -> None:
    assert last_number(text) == number
