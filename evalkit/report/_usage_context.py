"""Usage (tokens, cost, latency, truncation) in the comparison report and the Markdown summaries."""

from __future__ import annotations

import math
from typing import Any

from evalkit.compare import Comparison, UsageDelta, usage_deltas
from evalkit.report._format import language_name
from evalkit.results._usage import plain_amount, signed_amount

NAMES = {
    "tokens": "Tokens per item",
    "prompt_tokens": "Prompt tokens per item",
    "completion_tokens": "Completion tokens per item",
    "cost": "Cost per item",
    "latency_p50_ms": "Latency p50 (ms)",
    "latency_p95_ms": "Latency p95 (ms)",
    "truncation_rate": "Truncated (%)",
}


def _v(d: UsageDelta, x: float) -> str:
    if math.isnan(x):
        return "n/a"
    return plain_amount(x) if d.measure == "cost" else f"{x:.1f}"


def _signed(text: str) -> str:
    return text.replace("-", "−")


def usage_delta_row(d: UsageDelta, several: bool) -> dict[str, Any]:
    """One row: base, cand, the change (percent of the baseline, points for truncation) and its interval."""
    if d.measure == "truncation_rate" or d.pct is None or d.pct_ci is None:
        pts = " pts" if d.measure == "truncation_rate" else ""
        change = _signed((signed_amount(d.delta) if d.measure == "cost" else f"{d.delta:+.1f}") + pts)
        ci = _signed(f"{_v(d, d.ci_low)}..{_v(d, d.ci_high)}")
    else:
        lo, hi = d.pct_ci
        change, ci = _signed(f"{d.pct:+.1f}%"), _signed(f"{lo:+.1f}%..{hi:+.1f}%")
    worse = not math.isnan(d.ci_low) and d.ci_low > 0  # the whole interval is an increase
    better = not math.isnan(d.ci_high) and d.ci_high < 0
    return {"language": d.language, "language_name": language_name(d.language), "variant": d.variant or "",
            "show_variant": several, "measure": d.measure, "name": NAMES.get(d.measure, d.measure),
            "base": _v(d, d.base), "cand": _v(d, d.cand), "change": change, "ci": ci, "n": d.n,
            "direction": "regression" if worse else "improvement" if better else ""}


def usage_rows(comparison: Comparison) -> list[dict[str, Any]]:
    deltas = usage_deltas(comparison)
    several = len({d.variant for d in deltas}) > 1
    return [usage_delta_row(d, several) for d in deltas]


def usage_prices_note(comparison: Comparison) -> str:
    """Which prices the cost rows use, or why there are none."""
    parts = []
    for name, run in (("baseline", comparison.base), ("candidate", comparison.cand)):
        p = run.manifest.prices
        parts.append(f"{name}: {p.input_per_mtok:g} in / {p.output_per_mtok:g} out per million tokens "
                     f"({p.currency})" if p else f"{name}: unknown")
    return "Prices — " + "; ".join(parts) + ("" if all(r.manifest.prices for r in (comparison.base, comparison.cand))
                                             else " (no cost rows without the prices of both runs)")


def usage_markdown(rows: list[dict[str, Any]], *, measures: tuple[str, ...] = (
        "tokens", "cost", "latency_p95_ms", "truncation_rate")) -> list[str]:
    """A Markdown table of the usage changes (the measures a PR comment needs)."""
    from evalkit.report._markdown import md

    rows = [r for r in rows if r["measure"] in measures]
    if not rows:
        return []
    several = any(r["show_variant"] for r in rows)
    lines = ["**Cost, tokens, latency and truncation** (per case, latency percentiles included; paired 95% "
             "intervals)", "",
             "| language | " + ("variant | " if several else "") + "measure | base | cand | change | 95% CI |",
             "|---|" + ("---|" if several else "") + "---|---:|---:|---:|---:|"]
    for r in rows:
        variant = f"{md(r['variant'])} | " if several else ""
        lines.append(f"| {md(r['language'])} | {variant}{r['name']} | {r['base']} | {r['cand']} | {r['change']} | "
                     f"{r['ci']} |")
    return [*lines, ""]


def run_usage_markdown(usage: dict[str, Any] | None) -> list[str]:
    """The run summary's usage table in Markdown (``usage`` from ``usage_table``)."""
    from evalkit.report._markdown import md

    if not usage:
        return []
    lines = ["**Cost, tokens, latency and truncation**", "",
             "| variant | language | tokens in / out (mean) | tax vs en | p50 / p95 | truncated | cost |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for u in usage["rows"]:
        lines.append(f"| {md(u['variant'])} | {md(u['language'])} | {u['prompt_mean']} / {u['completion_mean']} | "
                     f"{u['tax']} | {u['p50']} / {u['p95']} | {u['truncation']} | {u['cost']} |")
    judges = [f"Judge {md(j)} (apart from the model's usage above)." for j in usage.get("judges") or []]
    return [*lines, "", f"Prices: {md(usage['prices'])}.", "", *(f"{j}\n" for j in judges)]
