"""Language fidelity of short answers (issue #11, item 7).

The script check comes before any length threshold: an answer with no letter of the expected
language's script is wrong whatever its length. The length threshold counts characters per script
(a Han character about a word, a kana or Hangul syllable two letters) and only applies where the
script does not already decide the language.
"""

from __future__ import annotations

import pytest

from evalkit.langid import check_language
from evalkit.scoring import build_scorer


@pytest.mark.parametrize(
    ("text", "expected", "script"),
    [
        ("Bonjour!", "zh", "Latin"),
        ("Bien sûr", "hi", "Latin"),
        ("OK", "ja", "Latin"),
        ("Hi", "ko", "Latin"),
        ("Yes.", "th", "Latin"),
        ("Oui", "ar", "Latin"),
        ("Da", "ru", "Latin"),
        ("Ja", "el", "Latin"),
        ("Sí", "he", "Latin"),
        ("No", "ta", "Latin"),
        ("Ok", "bn", "Latin"),
        ("東京", "fr", "Han"),
        ("谢谢", "de", "Han"),
        ("Привет", "en", "Cyrillic"),
        ("مرحبا", "fr", "Arabic"),
        ("नमस्ते", "en", "Devanagari"),
        ("はい", "zh", "Japanese"),  # kana only: Japanese, not Chinese
        ("안녕", "ja", "Hangul"),
        ("はい", "ko", "Japanese"),
        ("สวัสดี", "hi", "Thai"),
    ],
)
def test_wrong_script_fails_whatever_the_length(text: str, expected: str, script: str) -> None:
    v = check_language(text, expected)
    assert v.applicable and v.ok is False, v
    assert v.reason == f"wrong script: {script}", v


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("早上好！", "zh"),
        ("谢谢", "zh"),
        ("ขอบคุณ", "th"),
        ("감사합니다", "ko"),
        ("안녕", "ko"),
        ("ありがとう", "ja"),
        ("はい。", "ja"),
        ("東京タワー", "ja"),  # Han + katakana: Japanese
        ("Ναι", "el"),
        ("כן", "he"),
        ("ধন্যবাদ", "bn"),
        ("நன்றி", "ta"),
        ("ధన్యవాదాలు", "te"),
        ("አመሰግናለሁ", "am"),
        ("ຂອບໃຈ", "lo"),
    ],
)
def test_short_answer_in_a_script_only_its_language_uses_is_ok(text: str, expected: str) -> None:
    v = check_language(text, expected)
    assert v.applicable and v.ok is True, v
    assert (v.detected, v.reason) == (expected, "ok")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris", "fr"),  # Latin: dozens of languages
        ("Oui.", "fr"),
        ("धन्यवाद", "hi"),  # Devanagari: Hindi or Marathi
        ("Да", "ru"),  # Cyrillic: Russian or Ukrainian
        ("شكرا", "ar"),  # Arabic script: Arabic, Persian or Urdu
        ("東京", "ja"),  # Han alone: Chinese or Japanese; each Han character counts one here
        ("富士山", "ja"),
    ],
)
def test_short_answer_in_a_shared_script_is_too_short(text: str, expected: str) -> None:
    v = check_language(text, expected)
    assert (v.applicable, v.ok, v.reason) == (False, None, "too short"), v


def test_length_counts_characters_per_script() -> None:
    """7 letters: too short in Latin alone; with one Han character (worth 3) long enough to judge."""
    assert check_language("Bonjour", "fr").reason == "too short"
    assert check_language("用Python", "zh").applicable
    assert check_language("用Python", "zh").reason != "too short"
    assert check_language("한국어Kim", "ko").reason != "too short"  # 3 Hangul syllables count 2 each
    # min_chars still moves the threshold, in Latin-letter equivalents
    assert check_language("Bonjour", "fr", min_chars=3).ok
    assert check_language("我用Python写代码", "zh", min_chars=40).reason == "too short"


def test_long_wrong_language_keeps_its_reason() -> None:
    """Long enough to identify: the verdict still names the language (or the transliteration)."""
    text = "The capital of France is Paris. It is famous for the Eiffel Tower and the Louvre museum."
    v = check_language(text, "zh")
    assert (v.applicable, v.ok, v.detected, v.reason) == (True, False, "en", "wrong language: en")
    # five kana count ten letters: long enough to say which language it is
    assert check_language("ありがとう", "zh").reason == "wrong language: ja"


def test_almost_only_code_is_still_not_applicable() -> None:
    assert check_language("```python\nprint('hello world')\n```", "zh").reason == "code"
    assert check_language("Here:\n```python\nprint('hello world')\n```", "zh").reason == "code"
    v = check_language("Voilà:\n```python\nprint(1)\n```", "zh", min_chars=3)
    assert (v.applicable, v.ok) == (True, False), v


def test_language_scorer_on_short_answers() -> None:
    zh = build_scorer("language", {}, "zh")
    assert zh.score("Bonjour!", []).value == 0.0
    assert zh.score("早上好！", []).value == 1.0
    hi = build_scorer("language", {}, "hi-IN")
    assert hi.score("Bien sûr", []).value == 0.0
    assert hi.score("धन्यवाद", []).value is None  # too short to tell Hindi from Marathi
    de = build_scorer("language", {}, "de")
    assert de.score("Danke", []).value is None
    assert de.score("谢谢", []).value == 0.0


@pytest.mark.parametrize(
    ("text", "expected"), [("42 km", "zh"), ("3.5 kg", "ja"), ("12 cm²", "hi"), ("100 km/h", "th")]
)
def test_a_number_with_a_unit_is_not_judged(text: str, expected: str) -> None:
    """A numeric answer with a short unit symbol is common in every language: not evidence of the wrong one."""
    verdict = check_language(text, expected)
    assert verdict.applicable is False
    assert verdict.reason == "number with unit"


@pytest.mark.parametrize(("text", "expected"), [("42 kilometres", "zh"), ("OK", "ja"), ("Bonjour!", "zh")])
def test_words_next_to_numbers_are_still_judged(text: str, expected: str) -> None:
    assert check_language(text, expected).ok is False
