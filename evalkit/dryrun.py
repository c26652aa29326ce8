"""``evalkit run --dry-run``: what a run would do before it spends anything.

Plans the items exactly as the run would (same Planner, same cache keys), looks them up in the
response cache and in ``--out`` (items a resume would skip), and estimates the prompt tokens of the
requests left to send.  Nothing is sent, nothing is written to ``--out``, and the cache is only read
(and not even opened when its file does not exist).

Prompt-token estimate (per message, then summed; documented in docs/results-format.md):
``4`` tokens of chat formatting, plus per character ``1`` for Han, kana and Hangul, ``0.25`` for
ASCII and Latin letters (about four characters per token), ``0.5`` for every other script (Cyrillic,
Greek, Arabic, Hebrew, Devanagari, Thai...), rounded up.  It is an estimate: the provider's tokenizer
decides, and the run records what it reports.

Judge calls (a suite with ``judge`` scorers): each item not already in ``--out`` is judged once per judge (a
rubric that needs references skips items without them). Where the answer is in the response cache, the
judge's request is built exactly as the run builds it and looked up too (a cached verdict is no call); where
the answer is not known yet, the judge's messages are estimated with an empty answer plus the model's
``max_tokens``. The judge's cost needs prices for the judge model itself (``--prices FILE`` with an entry
for it, or the run's prices when the judge is the same model): "unknown" otherwise, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evalkit.cache import ResponseCache, default_cache_path
from evalkit.config import apply_run_policy
from evalkit.items import Item, Planner
from evalkit.results import RESULTS, Prices, cost_of, iter_results
from evalkit.runner import Requests, RunOptions, effective_model, endpoint_of
from evalkit.suite import LoadedSuite
from evalkit.templating import TemplateError
from evalkit.validate import check_static

if TYPE_CHECKING:
    from evalkit.runner._judge import Judges

MESSAGE_OVERHEAD = 4  # tokens of chat formatting per message (role and separators)
LOOKUP_BATCH = 500


def _char_weight(ch: str) -> float:
    code = ord(ch)
    if code <= 0x24F:  # ASCII, Latin-1, Latin Extended-A/B
        return 0.25
    if (0x2E80 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x3FFFF or 0x3040 <= code <= 0x30FF or 0x1100 <= code <= 0x11FF):
        return 1.0  # CJK ideographs, kana, Hangul
    return 0.5


def estimate_tokens(text: str) -> int:
    """Estimated tokens of one message's text (without the per-message overhead)."""
    return math.ceil(sum(_char_weight(ch) for ch in text))


def estimate_prompt_tokens(messages: Iterable[dict[str, str]]) -> int:
    return sum(MESSAGE_OVERHEAD + estimate_tokens(m.get("content") or "") for m in messages)


@dataclass
class DryRunCell:
    variant: str
    language: str
    items: int = 0
    done: int = 0  # already in --out (a resume skips them)
    cached: int = 0  # answered by the response cache
    to_send: int = 0
    est_prompt_tokens: int = 0  # of the requests to send


@dataclass
class DryRunJudge:
    """One judge scorer's calls: the items it would judge, those whose verdict the cache holds, the rest."""

    label: str
    model: str
    endpoint: str
    max_tokens: int | None  # of each judge reply
    prices: Prices | None  # the judge model's (None: unknown)
    items: int = 0  # items to judge (not already in --out)
    cached: int = 0  # the judge's reply is in the response cache
    to_send: int = 0  # judge calls to make
    est_prompt_tokens: int = 0  # of the calls to make
    unknown_answers: int = 0  # calls about answers not known yet (estimated with the model's max_tokens)

    @property
    def est_input_cost(self) -> float | None:
        return cost_of(self.prices, self.est_prompt_tokens, 0)

    @property
    def max_output_cost(self) -> float | None:
        return None if self.max_tokens is None else cost_of(self.prices, 0, self.to_send * self.max_tokens)

    def lines(self, answer_tokens: int | None) -> list[str]:
        head = (f"judge {self.label} ({self.model} at {self.endpoint}): {self.items} items to judge, {self.cached} "
                f"in the response cache, {self.to_send} judge calls to make, ~{self.est_prompt_tokens} prompt tokens")
        if self.unknown_answers:
            head += f" ({self.unknown_answers} answers not known yet, counted at {answer_tokens or 0} tokens each)"
        if self.prices is None:
            return [head, f"  estimated judge cost: unknown (no prices for {self.model}: give them in --prices FILE)"]
        cost = cost_text(self.prices, self.est_input_cost, self.max_output_cost, self.max_tokens, "replies")
        return [head, f"  estimated judge cost: {cost}"]


def cost_text(prices: Prices, input_cost: float | None, output_cost: float | None, max_tokens: int | None,
              replies: str) -> str:
    """``~$X for the prompts, at most $Y for the <replies> (N max_tokens each)``, the second part when the
    output cost is known."""
    from evalkit.results._usage import format_money

    cost = f"~{format_money(input_cost, prices)} for the prompts"
    if output_cost is not None:
        cost += f", at most {format_money(output_cost, prices)} for the {replies} ({max_tokens} max_tokens each)"
    return cost


@dataclass
class DryRun:
    model: str
    endpoint: str
    max_tokens: int | None
    prices: Prices | None
    cache: str | None  # the cache file looked in, None when the cache is off or does not exist yet
    cells: list[DryRunCell] = field(default_factory=list)
    judges: list[DryRunJudge] = field(default_factory=list)
    # Long-format data: cases in none of the suite's languages (not planned), by their language field's value.
    skipped_languages: dict[str, int] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.cells)

    def judge_lines(self) -> list[str]:
        """Per judge scorer: its calls to make, their estimated prompt tokens and cost."""
        return [line for j in self.judges for line in j.lines(self.max_tokens)]

    @property
    def est_input_cost(self) -> float | None:
        """Estimated cost of the prompt tokens to send (None: prices unknown)."""
        return cost_of(self.prices, self.total("est_prompt_tokens"), 0)

    @property
    def max_output_cost(self) -> float | None:
        """At most this for the answers: every request to send using all of ``max_tokens``."""
        if self.max_tokens is None:
            return None
        return cost_of(self.prices, 0, self.total("to_send") * self.max_tokens)


def _judges(suite: LoadedSuite, options: RunOptions, prices: Prices | None,
            judge_prices: Mapping[str, Prices]) -> tuple[Judges | None, dict[str, DryRunJudge]]:
    """The run's judges (their requests and cache keys; nothing is started) and a count for each."""
    from evalkit.providers import RetryPolicy
    from evalkit.runner._judge import JUDGE, Judges
    from evalkit.runner._plan import scorer_records

    if not any(s.name == JUDGE for s in suite.spec.scorers):
        return None, {}
    judges = Judges(suite, options, scorer_records(suite), RetryPolicy())
    counts = {}
    for label, spec in judges.specs.items():
        name = judges.options[label].model
        own = judge_prices.get(name) or (prices if prices is not None and prices.model == name else None)
        counts[label] = DryRunJudge(label, name, endpoint_of(spec), judges.options[label].max_tokens, own)
    return judges, counts


def _judge_asks(judges: Judges, judged: dict[str, DryRunJudge], item: Item, answer: str | None,
                answer_tokens: int) -> list[tuple[DryRunJudge, str, int]]:
    """Counts the judge calls about ``item``: about an answer not known yet (``None``) each is a call; about a
    known one, the requests to look up in the cache, returned as (count, key, estimated prompt tokens)."""
    asks = []
    for label, scorer in judges.applicable(item):
        count = judged[label]
        count.items += 1
        try:
            messages, key = judges.request(label, scorer, item, answer or "")
        except TemplateError:  # the item's judge_error in the run: nothing sent
            continue
        if answer is not None:
            asks.append((count, key, estimate_prompt_tokens(messages)))
        else:
            count.to_send += 1
            count.unknown_answers += 1
            count.est_prompt_tokens += estimate_prompt_tokens(messages) + answer_tokens
    return asks


def dry_run(suite: LoadedSuite, options: RunOptions, prices: Prices | None = None,
            judge_prices: Mapping[str, Prices] | None = None) -> DryRun:
    """Plan ``suite`` as ``evalkit run`` would with ``options`` and count what it would send (``judge_prices``:
    prices by judge model, for the judges' cost)."""
    errors = check_static(suite)
    if errors:
        raise errors[0]
    # The same model, endpoint policy and per-repeat request keys as the run (``evalkit.runner``).
    model = apply_run_policy(suite, options, effective_model(suite.spec.model, options))
    endpoint = endpoint_of(model)
    params = model.params.as_body()
    requests = Requests(endpoint, model.name, params)
    max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
    results = options.out_dir / RESULTS
    done = {r.item_id for r in iter_results(results) if r.error is None} if results.exists() else set()
    cache_path = options.cache_path or default_cache_path()
    cache = ResponseCache(cache_path) if options.use_cache and cache_path.exists() else None
    report = DryRun(model.name, endpoint, int(max_tokens) if max_tokens else None, prices,
                    str(cache_path) if cache else None)
    cells: dict[tuple[str, str], DryRunCell] = {}
    batch: list[tuple[Item, str]] = []
    judges, judged = _judges(suite, options, prices, judge_prices or {})
    answer_tokens = report.max_tokens or 0

    def flush() -> None:
        hits = cache.get_many(k for _, k in batch) if cache is not None else {}
        asks: list[tuple[DryRunJudge, str, int]] = []  # judge requests about cached answers: (count, key, tokens)
        for item, k in batch:
            cell = cells[(item.variant, item.language)]
            if k in hits:
                cell.cached += 1
            else:
                cell.to_send += 1
                cell.est_prompt_tokens += estimate_prompt_tokens(item.messages)
            if judges is not None:
                asks.extend(_judge_asks(judges, judged, item, hits[k].text if k in hits else None, answer_tokens))
        verdicts = cache.get_many(key for _, key, _ in asks) if cache is not None and asks else {}
        for count, key, tokens in asks:
            if key in verdicts:
                count.cached += 1
            else:
                count.to_send += 1
                count.est_prompt_tokens += tokens
        batch.clear()

    planner = Planner(suite, options.selection)
    try:
        for item in planner.iter_items():
            cell = cells.setdefault((item.variant, item.language), DryRunCell(item.variant, item.language))
            cell.items += 1
            if item.item_id in done:
                cell.done += 1
                continue
            batch.append((item, requests.key(item)))
            if len(batch) >= LOOKUP_BATCH:
                flush()
        flush()
    finally:
        if cache is not None:
            cache.close()
    report.cells = list(cells.values())  # in the order of the plan
    report.judges = list(judged.values())
    report.skipped_languages = dict(planner.skipped_languages)
    return report
