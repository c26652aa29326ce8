"""Tokens, latency, truncation and cost per (variant, language), from the result lines (docs/results-format.md).

Every number comes from what the provider reported for each item: ``usage`` (prompt and completion
tokens), ``latency_ms`` (the request's timing; answers served from the response cache have no timing of
this run and are left out, and counted), ``truncated`` (``finish_reason == "length"``).  Cost needs the
prices the person running evalkit gave (:class:`Prices`); without them it is ``None`` ("unknown"), never 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.results._models import ItemResult, Prices, UsageCell

ENGLISH = "en"
PER = 1_000_000  # prices are per million tokens


def cost_of(prices: Prices | None, prompt_tokens: float, completion_tokens: float) -> float | None:
    """What ``prompt_tokens`` in and ``completion_tokens`` out cost at ``prices`` (None: prices unknown)."""
    if prices is None:
        return None
    return (prompt_tokens * prices.input_per_mtok + completion_tokens * prices.output_per_mtok) / PER


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between order statistics (numpy's
    default), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def item_tokens(r: ItemResult) -> tuple[int, int] | None:
    """(prompt, completion) tokens of an answered item whose provider reported both, else None."""
    if r.error is not None or r.usage is None:
        return None
    if r.usage.prompt_tokens is None or r.usage.completion_tokens is None:
        return None
    return r.usage.prompt_tokens, r.usage.completion_tokens


@dataclass
class _Acc:
    answered: int = 0
    with_usage: int = 0
    prompt: int = 0
    completion: int = 0
    latencies: list[float] = field(default_factory=list)
    cached: int = 0
    truncated: int = 0
    tokens_by_case: dict[tuple[str, int], int] = field(default_factory=dict)  # (case, repeat) -> total tokens


class UsageTally:
    """Collects usage while another pass reads the results (``watch``), then gives the cells."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], _Acc] = defaultdict(_Acc)

    def add(self, r: ItemResult) -> None:
        acc = self._groups[(r.variant, r.language)]
        if r.error is not None:
            return
        acc.answered += 1
        acc.truncated += r.truncated
        if r.cached:
            acc.cached += 1
        elif r.latency_ms is not None:
            acc.latencies.append(r.latency_ms)
        tokens = item_tokens(r)
        if tokens is not None:
            acc.with_usage += 1
            acc.prompt += tokens[0]
            acc.completion += tokens[1]
            acc.tokens_by_case[(r.case_id, r.repeat)] = tokens[0] + tokens[1]

    def watch(self, results: Iterable[ItemResult]) -> Iterator[ItemResult]:
        for r in results:
            self.add(r)
            yield r

    def cells(self, prices: Prices | None) -> list[UsageCell]:
        cells = []
        for (variant, language), acc in sorted(self._groups.items()):
            cell = UsageCell(variant=variant, language=language, answered=acc.answered, with_usage=acc.with_usage,
                             latency_n=len(acc.latencies), latency_cached=acc.cached, truncated=acc.truncated)
            if acc.with_usage:
                cell.prompt_tokens, cell.completion_tokens = acc.prompt, acc.completion
                cell.prompt_tokens_mean = acc.prompt / acc.with_usage
                cell.completion_tokens_mean = acc.completion / acc.with_usage
                cell.cost = cost_of(prices, acc.prompt, acc.completion)
                cell.cost_per_item = None if cell.cost is None else cell.cost / acc.with_usage
            cell.latency_p50_ms = percentile(acc.latencies, 50)
            cell.latency_p95_ms = percentile(acc.latencies, 95)
            if acc.answered:
                cell.truncation_rate = 100.0 * acc.truncated / acc.answered
            english = self._groups.get((variant, ENGLISH))
            if english is not None and language != ENGLISH:
                cell.token_tax, cell.token_tax_cases = token_tax(acc.tokens_by_case, english.tokens_by_case)
            cells.append(cell)
        return cells


def token_tax(tokens: dict[tuple[str, int], int], english: dict[tuple[str, int], int]) -> tuple[float | None, int]:
    """Total tokens of a language over total tokens of English, on the (case, repeat) pairs both have."""
    common = tokens.keys() & english.keys()
    base = sum(english[k] for k in common)
    if not common or base == 0:
        return None, len(common)
    return sum(tokens[k] for k in common) / base, len(common)


def usage_cells(results: Iterable[ItemResult], prices: Prices | None) -> list[UsageCell]:
    tally = UsageTally()
    for r in results:
        tally.add(r)
    return tally.cells(prices)


def record_prices(run_dir: Path, prices: Prices, judge_prices: Mapping[str, Prices] | None = None) -> None:
    """Write ``prices`` into a finished run's manifest and recompute the summary's usage (cost) from
    ``results.jsonl``: the run itself records no prices, the CLI adds them once it is done (``judge_prices``:
    the judge models' own, by model, for the summary's ``judge_usage``)."""
    from evalkit.results._store import (
        MANIFEST,
        RESULTS,
        SUMMARY,
        iter_results,
        read_manifest,
        read_summary,
        write_json_atomic,
    )

    manifest = read_manifest(run_dir).model_copy(update={"prices": prices})
    write_json_atomic(run_dir / MANIFEST, manifest)
    if (run_dir / SUMMARY).exists():
        from evalkit.results._judge_usage import JudgeUsageTally

        judges = JudgeUsageTally(manifest.scorers)
        lines = iter_results(run_dir / RESULTS, strict=False)  # damaged lines: counted elsewhere
        cells = usage_cells(judges.watch(lines), prices)
        summary = read_summary(run_dir).model_copy(update={"usage": cells, "prices": prices,
                                                           "judge_usage": judges.result(prices, judge_prices)})
        write_json_atomic(run_dir / SUMMARY, summary)


def format_money(value: float | None, prices: Prices | None) -> str:
    """A cost for people: "unknown" without prices (never 0), else 4 significant digits."""
    if value is None or prices is None:
        return "unknown"
    unit = "$" if prices.currency == "USD" else f"{prices.currency} "
    return f"{unit}{plain_amount(value)}"


def signed_amount(value: float) -> str:
    return ("+" if value >= 0 else "-") + plain_amount(abs(value))


def plain_amount(value: float) -> str:
    """4 significant digits without an exponent (``0.00005625``, ``0.000675``, ``12.35``)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(2, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def format_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}ms"


def usage_line(cell: UsageCell, prices: Prices | None) -> str:
    """One terminal line: tokens (mean in/out, total), latency p50/p95 (cached left out), truncation, cost."""
    parts = [f"  {cell.variant:<14} {cell.language:<6}"]
    if cell.with_usage:
        parts.append(f"tok in {cell.prompt_tokens_mean:.1f} out {cell.completion_tokens_mean:.1f} "
                     f"(total {cell.prompt_tokens + cell.completion_tokens})")
    else:
        parts.append("tok unknown")
    if cell.token_tax is not None:
        parts.append(f"x{cell.token_tax:.2f} vs en")
    latency = f"p50 {format_ms(cell.latency_p50_ms)} p95 {format_ms(cell.latency_p95_ms)}"
    if cell.latency_cached:
        latency += f" ({cell.latency_cached} cached)"
    parts.append(latency)
    if cell.truncation_rate is not None:
        parts.append(f"trunc {cell.truncation_rate:.1f}%")
    money = format_money(cell.cost, prices)
    parts.append(f"cost {money}" if money == "unknown" else money)
    return "  ".join(parts)
