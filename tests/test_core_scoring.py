"""Scorers against sacrebleu's own functions, per-language tokenizers, Unicode normalization."""

from __future__ import annotations

import pytest
import sacrebleu

from evalkit.scoring import build_scorer, normalize
from evalkit.scoring._normalize import canonical_number, last_number


def test_cjk_bleu_uses_the_zh_tokenizer() -> None:
    # The anchor case: a Chinese hypothesis that drops one character of the reference.
    ref, hyp = "我们今天去公园散步。", "我们今天去公园散步"
    default = sacrebleu.sentence_bleu(hyp, [ref]).score
    scorer = build_scorer("bleu", {}, "zh")
    item = scorer.score(hyp, [ref])
    assert default == 0.0
    assert item.value == pytest.approx(sacrebleu.sentence_bleu(hyp, [ref], tokenize="zh").score)
    assert item.value > 50
    assert "tok:zh" in scorer.signature()


def test_thai_uses_characters_and_ja_uses_mecab() -> None:
    th = build_scorer("bleu", {}, "th")
    assert "tok:char" in th.signature()
    assert th.score("สวัสดีตอนเช้า", ["สวัสดีตอนเช้า"]).value == pytest.approx(100.0)
    ja = build_scorer("bleu", {}, "ja")
    assert "tok:ja-mecab" in ja.signature()
    assert ja.score("今日は良い天気です", ["今日は良い天気です"]).value == pytest.approx(100.0)


def test_tokenizer_override() -> None:
    assert "tok:intl" in build_scorer("bleu", {"tokenize": "intl"}, "zh").signature()


def test_chrf_plus_and_ter_match_sacrebleu() -> None:
    hyp, refs = "Das Wetter ist schön heute", ["Das Wetter ist heute schön"]
    chrf = build_scorer("chrf", {"plus": True}, "de")
    assert chrf.label == "chrf++"
    assert chrf.score(hyp, refs).value == pytest.approx(sacrebleu.sentence_chrf(hyp, refs, word_order=2).score)
    ter = build_scorer("ter", {}, "de")
    assert ter.score(hyp, refs).value == pytest.approx(sacrebleu.sentence_ter(hyp, refs).score)
    assert not ter.higher_is_better


def test_corpus_score_from_summed_stats_equals_sacrebleu() -> None:
    hyps = ["the cat sat on the mat", "a dog barks", "hello world"]
    refs = ["the cat is on the mat", "the dog barks loudly", "hello there world"]
    for name, fn in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf), ("ter", sacrebleu.corpus_ter)):
        scorer = build_scorer(name, {}, "en")
        stats = [scorer.score(h, [r]).stats for h, r in zip(hyps, refs, strict=True)]
        summed = [sum(col) for col in zip(*stats, strict=True)]
        assert scorer.corpus_score(summed) == pytest.approx(fn(hyps, [refs]).score), name


@pytest.mark.parametrize(
    ("output", "reference"),
    [
        ("−5", "-5"),  # U+2212 minus (Latin)
        ("Ｐａｒｉｓ！", "paris"),  # full-width forms
        ("४२", "42"),  # Devanagari digits
        ("๔๒", "42"),  # Thai digits
        ("٤٢", "42"),  # Arabic-Indic digits
        ("۴۲", "42"),  # Extended Arabic-Indic (Persian) digits
        ("«Москва»", "москва"),  # Cyrillic + guillemets
        ("「東京」。", "東京"),  # CJK brackets and full stop
        ("नई   दिल्ली।", "नई दिल्ली"),  # Devanagari danda and spaces
        ("สวัสดีครับ๚", "สวัสดีครับ"),  # Thai angkhankhu (Po)
        ("ΑΘΉΝΑ", "αθήνα"),  # Greek casefold
        ("‏القاهرة؟", "القاهرة"),  # Arabic question mark + RLM
    ],
)
def test_exact_match_normalization_across_scripts(output: str, reference: str) -> None:
    scorer = build_scorer("exact_match", {}, "en")
    assert scorer.score(output, [reference]).value == 1.0, (output, reference)


def test_accents_only_stripped_from_latin_greek_cyrillic() -> None:
    steps = ["nfkc", "accents"]
    assert normalize("Ça été", steps) == "Ca ete"
    assert normalize("हिन्दी", steps) == "हिन्दी"  # combining marks in Devanagari are letters' vowels
    assert normalize("ภาษาไทย", steps) == "ภาษาไทย"


def test_answer_extraction() -> None:
    assert last_number("Die Antwort ist ४२ Euro.") == "42"
    assert last_number("Total: 1,234.50 baht") == "1234.5"
    assert last_number("−7 degrees") == "-7"
    assert canonical_number("42.0") == "42"
    em = build_scorer("exact_match", {"extract": "last_number"}, "hi")
    assert em.score("उत्तर: ४२ रुपये", ["42"]).value == 1.0
    assert em.score("उत्तर: 41", ["42"]).value == 0.0
    rx = build_scorer("exact_match", {"extract": {"regex": r"Answer:\s*(\w+)"}}, "en")
    assert rx.score("Reasoning... Answer: Paris", ["paris"]).value == 1.0


def test_contains_and_regex() -> None:
    contains = build_scorer("contains", {}, "zh")
    assert contains.score("答案是巴黎。", ["巴黎"]).value == 1.0
    assert contains.score("答案是伦敦。", ["巴黎"]).value == 0.0
    regex = build_scorer("regex", {"pattern": r"^\d+$", "must_match": False}, "en")
    assert regex.score("no digits only", []).value == 1.0


def test_every_scorer_name_in_the_schema_has_an_implementation() -> None:
    from typing import get_args

    from evalkit.scoring import REGISTRY
    from evalkit.scoring._match import NormalizeStep
    from evalkit.scoring._normalize import STEPS
    from evalkit.suite._schema import SCORER_NAMES

    assert set(SCORER_NAMES) == set(REGISTRY)
    assert set(get_args(NormalizeStep)) == set(STEPS)
    for name in SCORER_NAMES:
        options = {"pattern": "x"} if name == "regex" else {"model": "m"} if name == "judge" else {}
        assert build_scorer(name, options, "en").label
