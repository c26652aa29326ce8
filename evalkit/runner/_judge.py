"""The runner's judge calls: each ``judge`` scorer's model asked about each answered item.

A judge model follows the same rules as the model under test (``evalkit.config``): the suite names it, the
person running evalkit chooses the endpoint and the key variable (``--base-url``, ``--api-key-env``, ...), and
a suite's ``local:PATH`` judge is confined to the suite's folder. Calls are cached in the response cache
under the judge's own endpoint, model and parameters (a re-run or a resume asks nothing twice), retried
under the run's retry policy, and their tokens are recorded apart (``details[label]["judge_usage"]``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from evalkit.cache import ResponseCache, response_keys
from evalkit.config import apply_run_policy
from evalkit.errors import ProviderError
from evalkit.items import Item
from evalkit.local_paths import JUDGE, confined_judge_models
from evalkit.providers import Completion, Provider, Request, RetryPolicy, complete_with_retries, make_provider
from evalkit.results import ScorerRecord, iter_results, read_manifest, read_summary
from evalkit.results._judge_usage import UNPARSABLE, judge_usage_cells
from evalkit.results._usage import format_money
from evalkit.runner._plan import RunOptions, effective_model, endpoint_of
from evalkit.scoring._judge import JudgeOptions, JudgeOutcome, JudgeScorer
from evalkit.suite import LoadedSuite, ModelSpec
from evalkit.suite._schema import GenerationParams
from evalkit.templating import Message, TemplateError


def judge_spec(suite: LoadedSuite, options: RunOptions, name: str, max_tokens: int) -> ModelSpec:
    """The judge model as the run may use it: the suite's model settings with the judge's name, greedy
    decoding, and the endpoint and key variable the person running evalkit chose."""
    name = confined_judge_models(suite).get(name, name)
    base = suite.spec.model.model_copy(update={
        "name": name, "provider": None, "params": GenerationParams(temperature=0, max_tokens=max_tokens)})
    user = dataclasses.replace(options, model=None)  # --model names the model under test, not the judge
    return apply_run_policy(suite, user, effective_model(base, user))


class Judges:
    """Every ``judge`` scorer of a run, with its model's provider (started on the first call)."""

    def __init__(self, suite: LoadedSuite, options: RunOptions, records: Sequence[ScorerRecord],
                 policy: RetryPolicy) -> None:
        self.policy = policy
        self.records = [r for r in records if r.name == JUDGE]
        self.options = {r.label: JudgeOptions.model_validate(r.options) for r in self.records}
        self.specs = {label: judge_spec(suite, options, o.model, o.max_tokens) for label, o in self.options.items()}
        # Each judge's request parameters and cache key function, made once (not per item).
        self._params = {label: spec.params.as_body() for label, spec in self.specs.items()}
        self._keys = {label: response_keys(endpoint_of(spec), spec.name, self._params[label])
                      for label, spec in self.specs.items()}
        self._scorers: dict[tuple[str, str], JudgeScorer] = {}
        self._providers: dict[str, Provider] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    def __bool__(self) -> bool:
        return bool(self.records)

    @property
    def identity(self) -> str:
        """What the score cache keys on besides the judges' options: where each judge's requests go."""
        return "".join(f", judge {label}={endpoint_of(spec)}" for label, spec in sorted(self.specs.items()))

    def scorer(self, label: str, target_language: str) -> JudgeScorer:
        key = (label, target_language)
        if key not in self._scorers:
            self._scorers[key] = JudgeScorer(self.options[label], target_language)
        return self._scorers[key]

    def _provider(self, spec: ModelSpec) -> tuple[Provider, asyncio.Semaphore]:
        ident = f"{endpoint_of(spec)}\0{spec.name}"
        if ident not in self._providers:
            provider = self._providers[ident] = make_provider(spec)
            cap = spec.concurrency if provider.max_concurrency is None else provider.max_concurrency
            self._slots[ident] = asyncio.Semaphore(max(1, min(cap, spec.concurrency)))
        return self._providers[ident], self._slots[ident]

    def applicable(self, item: Item) -> list[tuple[str, JudgeScorer]]:
        """The judges that judge ``item``'s answer, with their scorers (a rubric that needs references skips
        items without them)."""
        scorers = [(r.label, self.scorer(r.label, item.target_language)) for r in self.records]
        return [(label, s) for label, s in scorers if not s.needs_references or item.references]

    def request(self, label: str, scorer: JudgeScorer, item: Item, answer: str) -> tuple[tuple[Message, ...], str]:
        """The judge's messages about ``answer`` to ``item`` and their response cache key (``TemplateError``:
        the rubric cannot be rendered for this item)."""
        messages = scorer.messages(item.messages, answer, item.references)
        return messages, self._keys[label](messages, 0)

    async def judge(self, item: Item, answer: str, cache: ResponseCache | None) -> list[JudgeOutcome]:
        """Each judge's outcome for one answered item."""
        return [await self._one(label, scorer, item, answer, cache) for label, scorer in self.applicable(item)]

    async def _one(self, label: str, scorer: JudgeScorer, item: Item, answer: str,
                   cache: ResponseCache | None) -> JudgeOutcome:
        spec = self.specs[label]
        try:
            messages, key = self.request(label, scorer, item, answer)
        except TemplateError as exc:  # e.g. a branch only some items take names an unknown variable
            return JudgeOutcome(label, error_kind="judge_error", error=f"judge {label!r}: {exc.message}"[:500])
        completion = cache.get(key) if cache is not None else None
        cached = completion is not None
        if completion is None:
            completion, error = await self._send(spec, Request(messages, self._params[label]))
            if completion is None:
                assert error is not None
                return JudgeOutcome(label, error_kind="judge_error",
                                    error=f"judge {label!r}: {error.kind}: {error.message}"[:500])
            if cache is not None:
                cache.put(key, completion)
        usage = {"prompt_tokens": completion.usage.prompt_tokens,
                 "completion_tokens": completion.usage.completion_tokens}
        score = scorer.verdict(completion.text)
        if score.error is not None:
            return JudgeOutcome(label, error_kind=UNPARSABLE, error=score.error[:500], usage=usage,
                                cached=cached)
        return JudgeOutcome(label, score=score, usage=usage, cached=cached)

    async def _send(self, spec: ModelSpec, request: Request) -> tuple[Completion | None, ProviderError | None]:
        provider, slots = self._provider(spec)
        # The run's retry policy, with the judge's own attempt limit when that is lower.
        policy = replace(self.policy, max_attempts=min(self.policy.max_attempts, spec.max_attempts))
        return await complete_with_retries(provider, request, policy, slots)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()


def judge_details(outcome: JudgeOutcome) -> dict[str, Any]:
    """What an item's result line records of a judge's verdict (its tokens apart from the model's)."""
    assert outcome.score is not None
    return {**outcome.score.details, "judge_usage": outcome.usage}


def failed_judge_details(outcome: JudgeOutcome) -> dict[str, Any]:
    """What an item's result line records of a judge reply that gave no verdict: the tokens it used (an
    unparsable reply was paid for), under the judge's label; nothing when no reply came."""
    return {outcome.label: {"judge_usage": outcome.usage}} if outcome.usage else {}


def quality_lines(out_dir: Path) -> list[str]:
    """Judge quality made visible, per judge scorer of a finished run: how many items it judged, how many
    replies could not be parsed, and where references exist its agreement with the reference-based scorers
    on the same items (pass/fail agreement with binary ones, Pearson r with continuous ones)."""
    manifest = read_manifest(out_dir)
    judges = [r for r in manifest.scorers if r.name == JUDGE]
    if not judges:
        return []
    rows = list(iter_results(out_dir / "results.jsonl"))
    summary = read_summary(out_dir)
    # The judges' tokens and cost, unparsable replies included (a summary from before they were recorded: here).
    spent = {c.label: c for c in summary.judge_usage or judge_usage_cells(judges, rows, manifest.prices)}
    others = [r for r in manifest.scorers if r.name != JUDGE and r.name in REFERENCE_SCORERS]
    lines = []
    for judge in judges:
        failed = sum(1 for r in rows if r.error is not None and r.error.kind == UNPARSABLE
                     and r.error.message.startswith(f"judge {judge.label!r}"))
        judged = [r for r in rows if r.scores and r.scores.get(judge.label) is not None]
        asked = len(judged) + failed
        cell = spent.get(judge.label)
        tokens_in, tokens_out = (cell.prompt_tokens, cell.completion_tokens) if cell else (0, 0)
        cost = format_money(cell.cost, cell.prices) if cell else "unknown"
        parts = [f"{judge.label}: {len(judged)} judged, {failed} unparsable"
                 + (f" ({100 * failed / asked:.0f}%)" if asked else "")
                 + f", judge tokens in {tokens_in} out {tokens_out}, cost {cost}"]
        for other in others:
            both = [(float(j), float(o)) for r in judged if r.scores
                    and (j := r.scores.get(judge.label)) is not None and (o := r.scores.get(other.label)) is not None]
            if len(both) < 2:
                continue
            if other.kind == "binary":
                agree = sum((j >= 0.5) == (o >= 0.5) for j, o in both)
                parts.append(f"agrees with {other.label} on {100 * agree / len(both):.0f}% of {len(both)} items")
            else:
                r = _pearson(both)
                if r is not None:
                    parts.append(f"Pearson r with {other.label} {r:.2f} ({len(both)} items)")
        lines.append("; ".join(parts))
    return lines


# Scorers that measure an answer against its references: the judge's agreement with them is informative.
REFERENCE_SCORERS = frozenset({"exact_match", "chrf", "bleu", "ter", "contains"})


def _pearson(pairs: Sequence[tuple[float, float]]) -> float | None:
    import statistics

    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:  # a constant series: no correlation to speak of
        return None
