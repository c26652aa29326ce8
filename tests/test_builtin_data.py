"""Sanity checks for the hand-written built-in suite data in ``suites/data/``.

Only the standard library is used, so these tests run without installing evalkit.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "suites" / "data"
LANGS = ("en", "de", "fr", "it", "pt", "hi", "es", "th", "zh", "ja", "ar", "sw")
LATIN_LANGS = ("en", "de", "fr", "it", "pt", "es", "sw")

# filename -> (id prefix, minimum number of items, exact key set of each line)
FILES = {
    "translation.jsonl": ("tr", 32, {"id", "domain", "text"}),
    "math.jsonl": ("math", 20, {"id", "answer", "question"}),
    "answer_in_language.jsonl": ("ail", 20, {"id", "question", "expected"}),
    "sentiment.jsonl": ("sent", 20, {"id", "label", "text"}),
}


# --------------------------------------------------------------------------- scripts


def _is_latin(ch: str) -> bool:
    return ("a" <= ch.lower() <= "z") or "\u00c0" <= ch <= "\u024f"


def _is_devanagari(ch: str) -> bool:
    return "\u0900" <= ch <= "\u097f"


def _is_thai(ch: str) -> bool:
    return "\u0e00" <= ch <= "\u0e7f"


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or ch == "\u3005"  # 々


def _is_kana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff"  # Hiragana + Katakana (incl. ー)


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff"


SCRIPT = {
    **{lang: _is_latin for lang in LATIN_LANGS},
    "hi": _is_devanagari,
    "th": _is_thai,
    "zh": _is_han,
    "ja": lambda ch: _is_han(ch) or _is_kana(ch),
    "ar": _is_arabic,
}


def _letters(text: str) -> list[str]:
    return [ch for ch in text if ch.isalpha()]


def script_share(lang: str, text: str) -> float:
    letters = _letters(text)
    if not letters:
        return 0.0
    return sum(SCRIPT[lang](ch) for ch in letters) / len(letters)


def assert_in_script(lang: str, text: str, where: str, threshold: float = 0.75) -> None:
    share = script_share(lang, text)
    assert share >= threshold, f"{where}: only {share:.0%} of letters in the {lang} script: {text!r}"
    if lang == "ja":
        assert any(_is_kana(ch) for ch in text), f"{where}: Japanese text without kana: {text!r}"
    if lang == "zh":
        assert not any(_is_kana(ch) for ch in text), f"{where}: Chinese text with kana: {text!r}"
    if lang in ("zh", "ja"):
        assert " " not in text and "\u3000" not in text, f"{where}: spaces in {lang} text: {text!r}"


# --------------------------------------------------------------------------- loading


def load(name: str) -> list[dict]:
    path = DATA / name
    assert path.is_file(), f"missing {path}"
    raw = path.read_bytes().decode("utf-8")
    rows = []
    for n, line in enumerate(raw.split("\n"), 1):
        if n == len(raw.split("\n")) and line == "":
            continue  # trailing newline
        assert line.strip(), f"{name}:{n}: blank line"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - failure path
            pytest.fail(f"{name}:{n}: invalid JSON: {exc}")
        assert isinstance(obj, dict), f"{name}:{n}: not an object"
        rows.append(obj)
    return rows


def check_multilingual_text(field: object, where: str) -> dict[str, str]:
    assert isinstance(field, dict), f"{where}: not an object"
    assert set(field) == set(LANGS), f"{where}: language keys differ: {sorted(set(field) ^ set(LANGS))}"
    for lang in LANGS:
        text = field[lang]
        assert isinstance(text, str) and text.strip(), f"{where}.{lang}: empty"
        assert text == text.strip(), f"{where}.{lang}: leading/trailing whitespace"
        assert "  " not in text, f"{where}.{lang}: double space"
        assert_in_script(lang, text, f"{where}.{lang}")
    return field


# --------------------------------------------------------------------------- generic


@pytest.mark.parametrize("name", sorted(FILES))
def test_file_structure(name: str) -> None:
    prefix, minimum, keys = FILES[name]
    rows = load(name)
    assert len(rows) >= minimum, f"{name}: {len(rows)} items, need at least {minimum}"
    ids = [row.get("id") for row in rows]
    dupes = [i for i, c in Counter(ids).items() if c > 1]
    assert not dupes, f"{name}: duplicate ids {dupes}"
    for row in rows:
        assert set(row) == keys, f"{name}: {row.get('id')}: keys {sorted(row)} != {sorted(keys)}"
        assert re.fullmatch(rf"{prefix}-\d{{3}}", row["id"]), f"{name}: bad id {row['id']!r}"


def test_files_are_ascii_free_of_escapes() -> None:
    """Written with ensure_ascii=False: native text is stored as UTF-8, not as \\u escapes."""
    for name in FILES:
        assert "\\u" not in (DATA / name).read_text(encoding="utf-8"), name


# --------------------------------------------------------------------------- translation


def test_translation() -> None:
    rows = load("translation.jsonl")
    domains = Counter(row["domain"] for row in rows)
    assert set(domains) <= {"everyday", "technical"}
    for domain in ("everyday", "technical"):
        assert domains[domain] >= 0.4 * len(rows), f"unbalanced domains: {dict(domains)}"
    sources = set()
    for row in rows:
        text = check_multilingual_text(row["text"], row["id"])
        n_words = len(text["en"].split())
        assert 8 <= n_words <= 25, f"{row['id']}: English source has {n_words} words"
        sources.add(text["en"])
    assert len(sources) == len(rows), "duplicate English sources"


# --------------------------------------------------------------------------- math

_NATIVE_DIGIT = re.compile(r"[\u0966-\u096f\u0e50-\u0e59\u0660-\u0669\u06f0-\u06f9]")


def _numbers(text: str) -> Counter[int]:
    # \d matches any Unicode decimal digit and int() normalizes it.
    return Counter(int(m) for m in re.findall(r"\d+", text))


def test_math() -> None:
    rows = load("math.jsonl")
    native_questions = 0
    for row in rows:
        answer = row["answer"]
        assert isinstance(answer, str) and re.fullmatch(r"(0|[1-9][0-9]*)", answer), (
            f"{row['id']}: answer {answer!r} is not a non-negative ASCII integer string"
        )
        questions = check_multilingual_text(row["question"], row["id"])
        # The same quantities appear in every language (a bare 1 used as a unit, "1 Stück",
        # "1冊", is allowed to appear in some languages only).
        reference = {n for n in _numbers(questions["en"]) if n != 1}
        assert reference, f"{row['id']}: no numbers in the English question"
        for lang, text in questions.items():
            got = {n for n in _numbers(text) if n != 1}
            assert got == reference, f"{row['id']}.{lang}: numbers {sorted(got)} != {sorted(reference)}"
            if _NATIVE_DIGIT.search(text):
                assert lang in ("hi", "th", "ar"), f"{row['id']}.{lang}: native digits"
                native_questions += 1
    assert 1 <= native_questions <= 6, f"{native_questions} questions use native digits"


# --------------------------------------------------------------------------- answer in language


def test_answer_in_language() -> None:
    rows = load("answer_in_language.jsonl")
    for row in rows:
        questions = check_multilingual_text(row["question"], row["id"])
        expected = row["expected"]
        assert isinstance(expected, dict) and set(expected) == set(LANGS), f"{row['id']}: expected keys"
        for lang in LANGS:
            variants = expected[lang]
            assert isinstance(variants, list) and variants, f"{row['id']}.{lang}: no expected answers"
            assert len(set(variants)) == len(variants), f"{row['id']}.{lang}: duplicate variants"
            for v in variants:
                assert isinstance(v, str) and v.strip() == v and v, f"{row['id']}.{lang}: bad variant {v!r}"
                letters = _letters(v)
                assert letters and all(SCRIPT[lang](ch) for ch in letters), (
                    f"{row['id']}.{lang}: variant {v!r} not in the {lang} script"
                )
                # An answer that merely echoes the question must not count as correct.
                assert v.casefold() not in questions[lang].casefold(), (
                    f"{row['id']}.{lang}: variant {v!r} occurs in the question"
                )


# --------------------------------------------------------------------------- sentiment


def test_sentiment() -> None:
    rows = load("sentiment.jsonl")
    labels = Counter(row["label"] for row in rows)
    assert set(labels) <= {"positive", "negative"}, f"bad labels {set(labels)}"
    for label in ("positive", "negative"):
        assert labels[label] >= 0.4 * len(rows), f"unbalanced labels: {dict(labels)}"
    for row in rows:
        check_multilingual_text(row["text"], row["id"])
