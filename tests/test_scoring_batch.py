"""Batch scoring (vectorised n-gram counts, batches sent to the scoring worker) gives exactly what
scoring one segment at a time through sacrebleu gives."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.scoring import build_scorer
from evalkit.scoring._ngrams import char_symbols, match_counts, token_symbols
from evalkit.scoring._pool import ItemScorer

SAMPLES = {
    "en": 'The quick brown fox, (jumps) over the lazy dog! It\'s 3.5 km away... "Really?" she asked.',
    "de": "Größere Straßenbahnen fahren über die Brücke; sie sind schön – oder?",
    "zh": "今天天气很好，我们去公园散步吧。你觉得怎么样？",
    "ja": "東京は日本の首都です。明日は雨が降るでしょう。",
    "ko": "서울은 한국의 수도입니다. 내일은 비가 올 것입니다.",
    "th": "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ แต่เว้นระหว่างประโยค",
    "ar": "اللغة العربية تكتب من اليمين إلى اليسار، أليس كذلك؟",
    "hi": "हिंदी भारत की एक प्रमुख भाषा है। क्या आप इसे बोलते हैं?",
    "ru": "Быстрая коричневая лиса прыгает через ленивую собаку.",
}
CONFIGS = [("bleu", {}), ("bleu", {"lowercase": True}), ("bleu", {"max_ngram_order": 2}),
           ("chrf", {}), ("chrf", {"plus": True}), ("chrf", {"whitespace": True, "lowercase": True}),
           ("chrf", {"char_order": 3, "word_order": 3})]


def _mutate(text: str, rng: random.Random) -> str:
    by_char = rng.random() < 0.3
    tokens = list(text) if by_char else text.split(" ")
    out: list[str] = []
    for token in tokens:
        r = rng.random()
        if r < 0.1:
            continue
        if r < 0.2:
            out.append(rng.choice(tokens))
        out.append(token)
    if rng.random() < 0.3:
        rng.shuffle(out)
    return ("" if by_char else " ").join(out)


def _pairs(language: str, n: int = 120) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(language)
    text = SAMPLES[language]
    hyps = [_mutate(text, rng) for _ in range(n)] + [text, "", "", "  ", "x y"]
    refs = [[_mutate(text, rng)] for _ in range(n)] + [[text], [""], [text], ["a"], [""]]
    # Some segments with two references: sacrebleu picks the best one per segment.
    for i in range(0, len(refs), 7):
        refs[i] = [*refs[i], text]
    return hyps, refs


@pytest.mark.parametrize("language", sorted(SAMPLES))
@pytest.mark.parametrize(("name", "options"), CONFIGS)
def test_score_many_equals_one_at_a_time(language: str, name: str, options: dict[str, object]) -> None:
    scorer = build_scorer(name, options, language)
    hyps, refs = _pairs(language)
    one = [scorer.score(h, r) for h, r in zip(hyps, refs, strict=True)]
    assert scorer.score_many(hyps, refs) == one


def _brute_force(hyps: list[list[int]], refs: list[list[int]], max_order: int) -> np.ndarray:
    out = np.zeros((len(hyps), max_order, 3), dtype=np.int64)
    for s, (h, r) in enumerate(zip(hyps, refs, strict=True)):
        for n in range(1, max_order + 1):
            hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            out[s, n - 1] = [sum(hc.values()), sum(rc.values()), sum((hc & rc).values())]
    return out


@pytest.mark.parametrize("alphabet", [3, 200, 5000, 70_000])
def test_match_counts_equal_counters_for_any_alphabet_size(alphabet: int) -> None:
    # Large alphabets overflow the packed 64-bit codes and take the re-numbering path.
    rng = random.Random(alphabet)
    base = [[rng.randrange(alphabet) for _ in range(rng.randrange(0, 30))] for _ in range(300)]
    hyps = [[t if rng.random() < 0.8 else rng.randrange(alphabet) for t in seq] for seq in base]
    symbols, lengths, size = token_symbols([*hyps, *base])
    got = match_counts(symbols, lengths, size, len(hyps), 8)
    assert np.array_equal(got, _brute_force(hyps, base, 8))


def test_char_symbols_handle_astral_characters_and_empty_texts() -> None:
    texts = ["a😀b", "😀😀", "😀", ""]  # hypotheses, then references
    symbols, lengths, size = char_symbols(texts)
    assert lengths.tolist() == [3, 2, 1, 0]
    assert size == 3 and len(set(symbols.tolist()[3:])) == 1
    counts = match_counts(symbols, lengths, size, 2, 2)
    assert counts[:, 0].tolist() == [[3, 1, 1], [2, 0, 0]]


TEXT = st.text(alphabet=st.sampled_from(list("ab .,!?-'() äß中文ไทย\u00a0\t")), max_size=40)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=16, max_size=40))
def test_score_many_equals_sacrebleu_on_arbitrary_text(pairs: list[tuple[str, str]]) -> None:
    hyps = [h for h, _ in pairs]
    refs = [[r] for _, r in pairs]
    for name, options in (("bleu", {}), ("chrf", {"plus": True})):
        scorer = build_scorer(name, options, "en")
        assert scorer.score_many(hyps, refs) == [scorer.score(h, r) for h, r in zip(hyps, refs, strict=True)]


def test_scoring_worker_batches_equal_in_process_scores() -> None:
    # TER has no batch path (it loops over sacrebleu); it is here to check the worker keeps scorers
    # and labels apart. Shuffled Thai characters would make its shift search take a minute.
    defs = [("bleu", "bleu", {}), ("chrf++", "chrf", {"plus": True}), ("ter", "ter", {}),
            ("exact_match", "exact_match", {})]
    segments = [(language, h, tuple(r)) for language in ("de", "zh", "ar")
                for h, r in zip(*_pairs(language, 60), strict=True)]
    local, pooled = ItemScorer(defs, workers=0), ItemScorer(defs, workers=1, max_batch=50)
    try:
        async def concurrently() -> list[object]:
            return list(await asyncio.gather(*(pooled.ascore(*s) for s in segments)))

        assert asyncio.run(concurrently()) == [local.score(*s) for s in segments]
    finally:
        local.close()
        pooled.close()


TOKENIZER_TEXT = st.text(alphabet=st.sampled_from(list("ab1-2.,;:!? ()[]{}\"'&<>/\\^_`~|@#$%*+=0\n\t\u00a0é中。")),
                         max_size=30)


@settings(max_examples=300, deadline=None)
@given(TOKENIZER_TEXT)
def test_fast_regexp_tokenizer_equals_sacrebleus(line: str) -> None:
    from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

    from evalkit.scoring._tokenize import FastTokenizerRegexp

    assert FastTokenizerRegexp()(line) == TokenizerRegexp()(line)


@pytest.mark.parametrize("tokenize", ["13a", "zh"])
def test_bleu_uses_the_fast_tokenizer_with_unchanged_signature(tokenize: str) -> None:
    from sacrebleu.metrics import BLEU

    from evalkit.scoring._tokenize import FastTokenizerRegexp

    scorer = build_scorer("bleu", {"tokenize": tokenize}, "en")
    assert isinstance(scorer._metric.tokenizer._post_tokenizer, FastTokenizerRegexp)  # type: ignore[attr-defined]
    reference = BLEU(tokenize=tokenize)
    reference.num_refs = 1
    assert scorer.signature() == str(reference.get_signature().format())


def _ter_pairs(seed: int, n: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    vocab = "a b c d e f g h the of and , . ! ? x1 y2 z3 Ab ÄB".split()

    def seg(n: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(n))

    pairs = []
    for _ in range(n):
        ref = seg(rng.randint(0, 30))
        words = ref.split()
        kind = rng.random()
        if kind < 0.3:
            rng.shuffle(words)  # many shifts
        elif kind < 0.6:
            words = [w if rng.random() < 0.7 else rng.choice(vocab) for w in words]
        elif kind < 0.7:
            words = words[: len(words) // 2]
        pairs.append((" ".join(words), ref))
    # Degenerate length ratios widen sacrebleu's beam; empty sides have special cases.
    pairs += [("a", seg(200)), (seg(200), "a"), ("", "a b"), ("a b", ""), ("", ""),
              (seg(120), seg(5)), (seg(3), seg(150))]
    return pairs


@pytest.mark.parametrize("options", [{}, {"normalized": True}, {"no_punct": True}, {"case_sensitive": True},
                                     {"asian_support": True, "normalized": True}])
def test_ter_statistics_equal_sacrebleus(options: dict[str, bool]) -> None:
    from sacrebleu.metrics import TER

    scorer = build_scorer("ter", options, "en")
    reference = TER(**options)
    for hyp, ref in _ter_pairs(len(options), 150 if not options else 40):
        expected = [float(x) for x in reference._extract_corpus_statistics([hyp], [[ref]])[0]]
        assert scorer.score(hyp, [ref]).stats == expected, (hyp, ref)
    # several references: the fewest edits, the mean reference length
    expected = [float(x) for x in reference._extract_corpus_statistics(["a b c"], [["c b a"], ["a b"], [""]])[0]]
    assert scorer.score("a b c", ["c b a", "a b", ""]).stats == expected


def test_a_large_batch_split_among_workers_keeps_order_and_scores() -> None:
    defs = [("bleu", "bleu", {}), ("chrf", "chrf", {}), ("exact_match", "exact_match", {})]
    segments = [(language, h, tuple(r)) for language in ("de", "ja")
                for h, r in zip(*_pairs(language, 40), strict=True)]
    pooled = ItemScorer(defs, workers=2, max_batch=8)  # 90 segments >= 2 x 8: split into 4 chunks
    try:
        assert pooled.score_many(segments) == ItemScorer(defs).score_many(segments)
    finally:
        pooled.close()


def test_in_process_scoring_batches_concurrent_items_and_shares_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    defs = [("bleu", "bleu", {}), ("chrf", "chrf", {"plus": True})]
    segments = [("de", h, tuple(r)) for h, r in zip(*_pairs("de", 40), strict=True)]
    scorer = ItemScorer(defs)
    seen: list[int] = []
    real = scorer._book.score_many

    def recording(batch: list[tuple[str, str, tuple[str, ...]]]) -> list[object]:
        seen.append(len(batch))
        return real(batch)  # type: ignore[return-value]

    monkeypatch.setattr(scorer._book, "score_many", recording)

    async def concurrently() -> list[object]:
        return list(await asyncio.gather(*(scorer.ascore(*s) for s in segments)))

    assert asyncio.run(concurrently()) == [ItemScorer(defs).score(*s) for s in segments]
    assert sum(seen) == len(segments) and max(seen) > 1  # batched, every item once

    def broken(batch: object) -> object:
        raise RuntimeError("scorer bug")

    monkeypatch.setattr(scorer._book, "score_many", broken)

    async def failing() -> list[object]:
        return list(await asyncio.gather(*(scorer.ascore(*s) for s in segments[:5]), return_exceptions=True))

    outcomes = asyncio.run(failing())
    assert all(isinstance(o, RuntimeError) and str(o) == "scorer bug" for o in outcomes)


def test_score_many_over_several_vectorised_passes() -> None:
    from evalkit.scoring._sacre import BATCH_MAX

    hyps, refs = _pairs("de", 2 * BATCH_MAX + 40)  # three passes, some two-reference segments between
    for name, options in (("bleu", {}), ("chrf", {"plus": True})):
        scorer = build_scorer(name, options, "de")
        assert scorer.score_many(hyps, refs) == [scorer.score(h, r) for h, r in zip(hyps, refs, strict=True)]


@pytest.mark.parametrize("smooth", [("exp", None), ("floor", None), ("floor", 0.3), ("add-k", None), ("add-k", 2),
                                    ("none", None)])
def test_sentence_bleu_equals_sacrebleus_compute_bleu(smooth: tuple[str, float | None]) -> None:
    from sacrebleu.metrics import BLEU

    from evalkit.scoring._sacre import sentence_bleu

    metric = BLEU(smooth_method=smooth[0], smooth_value=smooth[1], effective_order=True)
    rng = random.Random(str(smooth))
    for _ in range(3000):
        hyp_len, ref_len = rng.randint(0, 40), rng.randint(0, 40)
        totals = [max(hyp_len - k, 0) for k in range(4)]
        matches = [rng.randint(0, t) if rng.random() < 0.8 else 0 for t in totals]
        stats = [float(x) for x in [hyp_len, ref_len, *matches, *totals]]
        assert sentence_bleu(metric, stats) == metric._compute_score_from_stats(list(stats)).score, stats
