"""The judges' own usage: each ``judge`` scorer's replies, tokens and cost, from the result lines.

A judge's tokens are on each result line it replied for, in ``details.<label>.judge_usage`` -- a reply
without a verdict included (the item's error is ``judge_unparsable``, the tokens were used all the same).
The cost needs prices for the judge model itself: its entry in the prices file of ``evalkit run --prices``, or
the run's prices when they are for that model; else ``None`` ("unknown", never 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from evalkit.local_paths import JUDGE
from evalkit.results._models import ItemResult, JudgeUsageCell, Prices, ScorerRecord
from evalkit.results._usage import cost_of, format_money

UNPARSABLE = "judge_unparsable"


class JudgeUsageTally:
    """Collects the judges' usage while another pass reads the results (``watch``)."""

    def __init__(self, scorers: Iterable[ScorerRecord]) -> None:
        self.cells = {r.label: JudgeUsageCell(label=r.label, model=str(r.options.get("model", "")))
                      for r in scorers if r.name == JUDGE}

    def add(self, r: ItemResult) -> None:
        for label, cell in self.cells.items():
            usage = (r.details.get(label) or {}).get("judge_usage")
            if not isinstance(usage, dict) or not usage:
                continue
            cell.calls += 1
            cell.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            cell.completion_tokens += int(usage.get("completion_tokens") or 0)
            if r.error is not None and r.error.kind == UNPARSABLE and r.error.message.startswith(f"judge {label!r}"):
                cell.unparsable += 1

    def watch(self, results: Iterable[ItemResult]) -> Iterator[ItemResult]:
        for r in results:
            self.add(r)
            yield r

    def result(self, prices: Prices | None, judge_prices: Mapping[str, Prices] | None = None) -> list[JudgeUsageCell]:
        """The cells, each with its cost at the judge model's prices: ``judge_prices`` (by model), or ``prices``
        when they are that model's."""
        out = []
        for cell in self.cells.values():
            own = (judge_prices or {}).get(cell.model) or (prices if prices is not None and prices.model == cell.model
                                                           else None)
            out.append(cell.model_copy(update={"prices": own, "cost": cost_of(own, cell.prompt_tokens,
                                                                              cell.completion_tokens)}))
        return out


def judge_usage_line(cell: JudgeUsageCell) -> str:
    """``judge_correctness (gpt-4o): 6 calls (1 unparsable), tokens in 1,404 out 72, cost unknown``."""
    return (f"{cell.label} ({cell.model}): {cell.calls} calls ({cell.unparsable} unparsable), tokens in "
            f"{cell.prompt_tokens:,} out {cell.completion_tokens:,}, cost {format_money(cell.cost, cell.prices)}")


def judge_usage_cells(scorers: Iterable[ScorerRecord], results: Iterable[ItemResult],
                      prices: Prices | None) -> list[JudgeUsageCell]:
    tally = JudgeUsageTally(scorers)
    for r in results:
        tally.add(r)
    return tally.result(prices)
