"""Stage 3, score: an answered item becomes its result line, with its scores from the cache or the scorers.

Scoring runs in-process for a small run and in a worker process for a large one (``evalkit.scoring._pool``);
scores are cached under a key of everything that can change them (versions, scorers, target, output, refs).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from evalkit import __version__
from evalkit.cache import ResponseCache, score_keys
from evalkit.errors import ProviderError
from evalkit.items import Item
from evalkit.providers import Completion
from evalkit.results import ErrorInfo, ItemResult, ScorerRecord, UsageInfo, sacrebleu_version
from evalkit.runner._judge import JUDGE, Judges, failed_judge_details, judge_details
from evalkit.scoring._pool import SCORER_ERROR, ItemScorer, default_workers

Scores = tuple[dict[str, float | None], dict[str, list[float]], dict[str, dict[str, Any]]]


class ItemScoring:
    """Builds result lines. ``run_key`` is stamped on every line (see ``evalkit.runner._rundir``)."""

    def __init__(self, records: list[ScorerRecord], run_key: str, judges: Judges | None = None) -> None:
        self.scorer_defs = [(r.label, r.name, r.options) for r in records]
        self.score_versions = f"evalkit {__version__}, sacrebleu {sacrebleu_version()}" + "".join(
            f", {r.plugin}" for r in records if r.plugin)  # a plugin's code: its edits change the key
        self.judges = judges if judges else None  # judge scorers: asked here, never in the scoring worker
        if self.judges is not None:
            self.score_versions += self.judges.identity
        self.run_key = run_key
        self.item_scorer: ItemScorer | None = None

    def start(self, pending: int) -> ItemScorer:
        """The scorer, in a worker process when there are enough items to score."""
        defs = [d for d in self.scorer_defs if d[1] != JUDGE]
        self.item_scorer = ItemScorer(defs, default_workers(pending, defs))
        return self.item_scorer

    @property
    def pooled(self) -> bool:
        return self.item_scorer is not None and self.item_scorer.pooled

    @cached_property
    def score_key(self) -> Callable[[str, str, Any], str]:
        """``score_key`` for this run's versions and scorers."""
        return score_keys(self.score_versions, self.scorer_defs)

    def item_score_key(self, item: Item, text: str) -> str:
        """The score cache key of ``item`` answered ``text``: a judge also reads the prompt."""
        inputs = item.scored_inputs if self.judges is None else [item.scored_inputs, list(item.messages)]
        return self.score_key(item.target_language, text, inputs)

    def answered(self, item: Item, completion: Completion | None, error: ProviderError | None,
                 attempts: int, cached: bool) -> ItemResult:
        """An item's result line, all but its scores."""
        result = ItemResult(
            item_id=item.item_id,
            case_id=item.case_id,
            language=item.language,
            variant=item.variant,
            repeat=item.repeat,
            seed=item.seed,
            run_key=self.run_key,
            target_language=item.target_language,
            messages=list(item.messages),
            references=list(item.references),
            cached=cached,
            attempts=attempts,
        )
        if error is not None or completion is None:
            assert error is not None
            result.error = ErrorInfo(kind=error.kind, message=error.message, status=error.status, attempts=attempts)
            return result
        result.output = completion.text
        result.finish_reason = completion.finish_reason
        result.truncated = completion.finish_reason == "length"
        result.usage = UsageInfo(**completion.usage.__dict__)
        result.latency_ms = round(completion.latency_ms, 2)
        result.response_id = completion.response_id
        return result

    def from_cache(self, item: Item, completion: Completion, scores: dict[str, Any]) -> ItemResult:
        """An item answered and scored from the cache."""
        result = self.answered(item, completion, None, 0, cached=True)
        result.scores, result.stats, result.details = scores["scores"], scores["stats"], scores["details"]
        return result

    async def result(self, item: Item, completion: Completion | None, error: ProviderError | None,
                     attempts: int, cached: bool, cache: ResponseCache | None) -> ItemResult:
        result = self.answered(item, completion, error, attempts, cached)
        if result.error is None and completion is not None:
            result.scores, result.stats, result.details = await self._scores(item, completion.text, cache)
            if (failed := result.details.pop(SCORER_ERROR, None)) is not None:  # a custom scorer or a judge failed
                result.error = ErrorInfo(kind=failed.get("kind", "scorer_error"), message=failed["message"],
                                         attempts=attempts)
        return result

    async def _scores(self, item: Item, text: str, cache: ResponseCache | None) -> Scores:
        assert self.item_scorer is not None
        key = None
        if cache is not None:
            key = self.item_score_key(item, text)
            hit = cache.get_scores(key)
            if hit is not None:
                return hit["scores"], hit["stats"], hit["details"]
        scored = await self.item_scorer.ascore(item.target_language, text, item.references, item.fields)
        if scored.error is not None:  # never cached: a fixed plugin scores the item on the next run
            return scored.scores, scored.stats, {**scored.details, SCORER_ERROR: {"message": scored.error}}
        if self.judges is not None:
            for outcome in await self.judges.judge(item, text, cache):
                if outcome.score is None:  # never cached (the judge's reply is: a fixed parser reads it again)
                    failed = {"kind": outcome.error_kind, "message": outcome.error}
                    return scored.scores, scored.stats, {**scored.details, **failed_judge_details(outcome),
                                                         SCORER_ERROR: failed}
                scored.scores[outcome.label] = outcome.score.value
                if outcome.score.stats is not None:
                    scored.stats[outcome.label] = outcome.score.stats
                scored.details[outcome.label] = judge_details(outcome)
        if cache is not None and key is not None:
            cache.put_scores(key, {"scores": scored.scores, "stats": scored.stats, "details": scored.details})
        return scored.scores, scored.stats, scored.details

    async def aclose(self) -> None:
        if self.judges is not None:
            await self.judges.aclose()

    def close(self, wait: bool = True) -> None:
        if self.item_scorer is not None:
            self.item_scorer.close(wait=wait)
