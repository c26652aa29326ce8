"""Everything a comparison report shows, as plain dicts built from :class:`evalkit.compare.Comparison`
(which itself is read only from the run directories on disk)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from evalkit.report._changes import item_messages_diff, run_changes
from evalkit.report._colors import diverging
from evalkit.report._context import conversations, header, last_user_message
from evalkit.report._diff import TOKEN_PATTERN, diff, sides, spaced
from evalkit.report._format import interval, language_name, metric_name, num, p_value, signed
from evalkit.report._svg import Effect, forest_plot
from evalkit.report._usage_context import usage_prices_note, usage_rows

if TYPE_CHECKING:
    from evalkit.compare import Comparison, Flip, ItemPair, MetricComparison
    from evalkit.gate import GateResult

MAX_FLIP_CARDS = 100  # per section and direction; the item table below holds every item
FLIP_LABELS = {"pass_to_fail": "pass → fail", "fail_to_pass": "fail → pass", "score_drop": "score drop",
               "score_gain": "score gain", "changed": "output changed", "same": "same output", "error": "error"}


def _direction(m: MetricComparison) -> str:
    if m.regression:
        return "regression"
    if m.improvement:
        return "improvement"
    return "none"


def _scale(m: MetricComparison) -> float:
    return 20.0 if m.kind == "binary" else 10.0


def _drop(m: MetricComparison) -> float:
    """How much worse the candidate is, on a common scale (pass-rate points count half as much as score
    points, as in the delta colours); negative = better; no delta = -inf, so it ranks last."""
    d = m.result.delta
    if d is None or math.isnan(d):
        return -math.inf
    return (-d if m.higher_is_better else d) / _scale(m)


def _severity(m: MetricComparison) -> tuple[int, float]:
    """Significant regressions first, then the largest drops."""
    return (0 if m.regression else 1, -_drop(m))


def _metric_order(comparison: Comparison) -> Callable[[str], int]:
    """A metric's place in the suite's scorer order (metrics the baseline did not record last)."""
    labels = [r.label for r in comparison.base.manifest.scorers]
    return lambda metric: labels.index(metric) if metric in labels else len(labels)


def _reading_order(comparison: Comparison) -> dict[int, int]:
    """Each cell's position in language order (then variant, then the suite's metric order)."""
    langs = {lang: i for i, lang in enumerate(comparison.languages())}
    variants = {v: i for i, v in enumerate(comparison.variants())}
    metric_order = _metric_order(comparison)
    order = sorted(range(len(comparison.metrics)), key=lambda i: (
        langs.get(comparison.metrics[i].language, len(langs)), variants.get(comparison.metrics[i].variant, 0),
        metric_order(comparison.metrics[i].metric)))
    return {cell: position for position, cell in enumerate(order)}


def metric_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """One row per (variant, language, metric): baseline, candidate, delta, paired CI, adjusted p, mark;
    sorted by severity (significant regressions, then the largest drops). ``order`` is the row's place in
    language order, which the report restores with one click."""
    rows = []
    several = len(comparison.variants()) > 1
    reading = _reading_order(comparison)
    ranked = sorted(range(len(comparison.metrics)), key=lambda i: _severity(comparison.metrics[i]))
    for i in ranked:
        m = comparison.metrics[i]
        r = m.result
        direction = _direction(m)
        bg, fg = diverging(r.delta, higher_is_better=m.higher_is_better, scale=_scale(m))
        unit = "%" if m.kind == "binary" else ""
        rows.append({
            "language": m.language,
            "language_name": language_name(m.language),
            "variant": m.variant or "",
            "show_variant": several,
            "metric": m.metric,
            "metric_name": metric_name(m.metric),
            "higher_is_better": m.higher_is_better,
            "base": num(r.base) + unit,
            "cand": num(r.cand) + unit,
            "delta": signed(r.delta),
            "ci": interval(r.ci_low, r.ci_high, sign=True),
            "p": p_value(r.p_value),
            "p_adjusted": p_value(r.p),
            "n": r.n,
            "method": r.method,
            "flips": (f"{r.n_pass_to_fail}↓ {r.n_fail_to_pass}↑"
                      if r.n_pass_to_fail is not None and r.n_fail_to_pass is not None else ""),
            "direction": direction,
            "mark": {"regression": "▼", "improvement": "▲"}.get(direction, ""),
            "bg": bg,
            "fg": fg,
            "signature": m.signature or "",
            "order": reading[i],
        })
    return rows


def summary_markdown(comparison: Comparison) -> str:
    """The PR summary: a GitHub-flavoured Markdown table, one row per language (and variant), one column per
    metric with ``baseline → candidate (Δ)``; significant changes in bold with ▼/▲."""
    from evalkit.report._markdown import md

    metrics = sorted({m.metric for m in comparison.metrics}, key=_metric_order(comparison))
    several = len(comparison.variants()) > 1
    cells = {(m.variant, m.language, m.metric): m for m in comparison.metrics}
    head = ["language", *(["variant"] if several else []), *(metric_name(x) for x in metrics)]
    lines = ["| " + " | ".join(md(h) for h in head) + " |",
             "|" + "---|" * (2 if several else 1) + "---:|" * len(metrics)]
    for lang in comparison.languages():
        for variant in comparison.variants():
            if not any((variant, lang, x) in cells for x in metrics):
                continue
            row = [md(lang), *([md(variant or "")] if several else [])]
            for x in metrics:
                m = cells.get((variant, lang, x))
                if m is None:
                    row.append("—")
                    continue
                unit = "%" if m.kind == "binary" else ""
                delta = signed(m.result.delta)
                mark = {"regression": " ▼", "improvement": " ▲"}.get(_direction(m), "")
                delta = f"**{delta}{mark}**" if mark else delta
                row.append(f"{num(m.result.base)}{unit} → {num(m.result.cand)}{unit} ({delta})")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def forest_plots(comparison: Comparison) -> list[dict[str, Any]]:
    """One forest plot per (variant, metric): each language's delta with its paired 95% CI."""
    keys: dict[tuple[str | None, str], list[MetricComparison]] = {}
    for m in comparison.metrics:
        keys.setdefault((m.variant, m.metric), []).append(m)
    order = {lang: i for i, lang in enumerate(comparison.languages())}
    metric_order = _metric_order(comparison)
    out = []
    several = len(comparison.variants()) > 1
    # Plots with significant regressions first, then by their largest drop; plots where nothing moved last.
    for (variant, metric), cells in sorted(keys.items(), key=lambda kv: (
            -sum(m.regression for m in kv[1]), -max(_drop(m) for m in kv[1]),
            str(kv[0][0]), metric_order(kv[0][1]))):
        cells.sort(key=lambda m: order.get(m.language, len(order)))
        effects = [Effect(m.language, m.result.delta, m.result.ci_low, m.result.ci_high, _direction(m))
                   for m in cells]
        title = metric_name(metric) + (f" · {variant}" if several and variant else "")
        unit = "% points" if cells[0].kind == "binary" else "points"
        hib = "" if cells[0].higher_is_better else " (lower is better)"
        out.append({"title": title + hib, "metric": metric, "variant": variant or "",
                    "n_regressions": sum(m.regression for m in cells), "worst": -max(_drop(m) for m in cells),
                    "svg": forest_plot(f"{title}: change by language", effects, unit=unit)})
    return out


def _pair_text(pair: ItemPair) -> dict[str, Any]:
    base_out = pair.base.output or ""
    cand_out = pair.cand.output or ""
    base_side, cand_side = sides(diff(base_out, cand_out, pair.base.target_language))
    return {
        "key": pair.key,
        "case": pair.case_id,
        "language": pair.language,
        "target": pair.base.target_language,
        "variant": pair.variant or f"{pair.base.variant} → {pair.cand.variant}",
        "repeat": pair.repeat,
        "input": last_user_message(pair.cand),
        "references": pair.base.references,
        "base_error": f"{pair.base.error.kind}: {pair.base.error.message}" if pair.base.error else "",
        "cand_error": f"{pair.cand.error.kind}: {pair.cand.error.message}" if pair.cand.error else "",
        "base_segments": base_side,
        "cand_segments": cand_side,
        "by_char": not spaced(pair.base.target_language),
        "messages_diff": item_messages_diff(pair.base.messages, pair.cand.messages),
    }


def _flip_value(value: float | None, binary: bool) -> str:
    if value is None or math.isnan(value):
        return "—"
    if binary:
        return "pass" if value > 0.5 else "fail"
    return num(value)


def flip_cards(comparison: Comparison, *, regressions: bool) -> tuple[list[dict[str, Any]], int]:
    """Items that flipped pass→fail or lost the most score (or the reverse), one card per item with every
    metric that moved, and the number of items in total (cards are capped at ``MAX_FLIP_CARDS``)."""
    kinds = {r.label: r.kind for r in comparison.base.manifest.scorers}
    cards: dict[str, dict[str, Any]] = {}
    wanted: list[Flip] = [f for f in comparison.flips if f.regression == regressions]
    for f in wanted:
        card = cards.get(f.pair.key)
        if card is None:
            if len(cards) >= MAX_FLIP_CARDS:
                continue
            card = cards[f.pair.key] = {**_pair_text(f.pair), "changes": []}
        binary = kinds.get(f.metric) == "binary"
        card["changes"].append({
            "metric": metric_name(f.metric),
            "kind": f.kind,
            "label": FLIP_LABELS[f.kind],
            "base": _flip_value(f.base_value, binary),
            "cand": _flip_value(f.cand_value, binary),
            "delta": "" if binary else signed(f.delta),
        })
    total = len({f.pair.key for f in wanted})
    return list(cards.values()), total


def _change(pair: ItemPair, binary: list[str]) -> str:
    if not pair.base.ok or not pair.cand.ok:
        return "error"
    for label in binary:
        b, c = pair.base.scores.get(label), pair.cand.scores.get(label)
        if b is not None and c is not None and b > 0.5 and c <= 0.5:
            return "pass_to_fail"
    for label in binary:
        b, c = pair.base.scores.get(label), pair.cand.scores.get(label)
        if b is not None and c is not None and b <= 0.5 and c > 0.5:
            return "fail_to_pass"
    return "same" if (pair.base.output or "") == (pair.cand.output or "") else "changed"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def pair_table(comparison: Comparison) -> dict[str, Any]:
    """Every aligned item as compact JSON for the browser (diffs are computed there, for the visible page)."""
    scorers = [r for r in comparison.base.manifest.scorers
               if r.label in {s.label for s in comparison.cand.manifest.scorers}]
    binary = [r.label for r in scorers if r.kind == "binary"]
    repeats = max(comparison.base.manifest.repeats, comparison.cand.manifest.repeats) > 1
    columns: list[dict[str, Any]] = [
        {"key": "language", "label": "Lang", "type": "tag", "facet": True},
        {"key": "variant", "label": "Variant", "type": "tag", "facet": True},
        {"key": "case", "label": "Case", "type": "short"},
    ]
    if repeats:
        columns.append({"key": "repeat", "label": "Rep", "type": "num"})
    columns += [
        {"key": "change", "label": "Change", "type": "flip", "facet": True},
        {"key": "input", "label": "Input (last user message)", "type": "long", "search": True, "convo": True},
        {"key": "reference", "label": "Reference", "type": "long", "search": True, "lang": "target"},
        {"key": "base", "label": f"Baseline · {comparison.base_label}", "type": "long", "search": True,
         "lang": "target", "diff": "cand", "side": "base"},
        {"key": "cand", "label": f"Candidate · {comparison.cand_label}", "type": "long", "search": True,
         "lang": "target", "diff": "base", "side": "cand"},
    ]
    columns += [{"key": f"s:{r.label}", "label": metric_name(r.label), "type": "pair", "hib": r.higher_is_better,
                 "binary": r.kind == "binary"} for r in scorers]
    columns += [
        {"key": "target", "type": "short", "hidden": True},
        {"key": "failed", "type": "flag", "hidden": True},
        {"key": "flipped", "type": "flag", "hidden": True},
    ]
    rows = []
    for p in comparison.pairs:
        change = _change(p, binary)
        row: list[Any] = [p.language, p.variant or f"{p.base.variant} → {p.cand.variant}", p.case_id]
        if repeats:
            row.append(p.repeat)
        base_out = p.base.output if p.base.ok else f"[{p.base.error.kind if p.base.error else 'error'}]"
        cand_out = p.cand.output if p.cand.ok else f"[{p.cand.error.kind if p.cand.error else 'error'}]"
        row += [change, last_user_message(p.cand), "\n".join(p.base.references), base_out or "", cand_out or ""]
        row += [[_r(p.base.scores.get(r.label)), _r(p.cand.scores.get(r.label))] for r in scorers]
        row += [p.base.target_language, 0 if p.base.ok and p.cand.ok else 1,
                1 if change in ("pass_to_fail", "fail_to_pass") else 0]
        rows.append(row)
    languages = {p.base.target_language for p in comparison.pairs}
    first = next((i for i, c in enumerate(columns) if c["type"] == "pair"), None)
    return {
        "columns": columns,
        "rows": rows,
        "toggles": [{"key": "flipped", "label": "Pass/fail flips only"}, {"key": "failed", "label": "Failed only"}],
        "spaced": {lang: spaced(lang) for lang in sorted(languages)},
        "tokens": TOKEN_PATTERN,
        "flipLabels": FLIP_LABELS,
        "sort": {"key": columns[first]["key"], "dir": 1} if first is not None else None,
        "pageSize": 50,
        "conversation": conversations([p.cand for p in comparison.pairs]),  # the candidate's, as the input
    }


def gate_context(result: GateResult) -> dict[str, Any]:
    """The gate's verdict on one candidate (``compare --gate``): the summary line, every failure line
    (one per distinct failure, as the terminal prints them), the warnings and the gates file."""
    return {
        "passed": result.passed,
        "summary": result.summary(),
        "failures": result.failure_lines(),
        "warnings": result.warning_lines(),
        "source": result.source,
        "n_checks": len(result.checks),
        "n_failed": len(result.failures),
    }


def section(comparison: Comparison, index: int, gate: GateResult | None = None) -> dict[str, Any]:
    """One candidate compared with the baseline (and the gate's verdict on it, with ``compare --gate``)."""
    regressions, n_regression_items = flip_cards(comparison, regressions=True)
    improvements, n_improvement_items = flip_cards(comparison, regressions=False)
    n_p2f = sum(1 for f in comparison.flips if f.kind == "pass_to_fail")
    n_f2p = sum(1 for f in comparison.flips if f.kind == "fail_to_pass")
    return {
        "id": f"cand{index + 1}",
        "base_label": comparison.base_label,
        "cand_label": comparison.cand_label,
        "base_variant": comparison.base_variant,
        "cand_variant": comparison.cand_variant,
        "cand": header(comparison.cand.manifest),
        "forced": comparison.forced,
        "incompatibilities": comparison.incompatibilities,
        "notes": comparison.notes,
        "pairs": len(comparison.pairs),
        "unmatched_base": comparison.unmatched_base,
        "unmatched_cand": comparison.unmatched_cand,
        "errors_base": comparison.errors_base,
        "errors_cand": comparison.errors_cand,
        "correction": comparison.correction,
        "alpha": comparison.alpha,
        "n_resamples": comparison.n_resamples,
        "seed": comparison.seed,
        "n_regressions": sum(1 for m in comparison.metrics if m.regression),
        "n_improvements": sum(1 for m in comparison.metrics if m.improvement),
        "n_pass_to_fail": n_p2f,
        "n_fail_to_pass": n_f2p,
        "summary_lines": comparison.summary_lines(),
        "summary_markdown": summary_markdown(comparison),
        "rows": metric_rows(comparison),
        "plots": forest_plots(comparison),
        "regressions": regressions,
        "n_regression_items": n_regression_items,
        "improvements": improvements,
        "n_improvement_items": n_improvement_items,
        "items": pair_table(comparison),
        "gate": gate_context(gate) if gate is not None else None,
        "changes": run_changes(comparison),
        "usage": usage_rows(comparison),
        "usage_prices": usage_prices_note(comparison),
    }


def compare_context(comparisons: list[Comparison], gates: Sequence[GateResult] | None = None) -> dict[str, Any]:
    """Everything ``compare.html.j2`` and the Markdown summary need: the baseline and one section per candidate.

    ``gates``: with ``compare --gate``, the gate's result for each candidate (same order)."""
    if not comparisons:
        raise ValueError("nothing to compare")
    if gates is not None and len(gates) != len(comparisons):
        raise ValueError("one gate result per comparison")
    verdicts: list[GateResult | None] = list(gates) if gates is not None else [None] * len(comparisons)
    first = comparisons[0]
    base = header(first.base.manifest)
    cands = ", ".join(c.cand_label for c in comparisons)
    return {
        "title": f"{first.base_label} vs {cands}",
        "base_label": first.base_label,
        "base": base,
        "sections": [section(c, i, g) for i, (c, g) in enumerate(zip(comparisons, verdicts, strict=True))],
        "forced": any(c.forced for c in comparisons),
    }
