"""Everything a single-run report shows, as plain dicts built only from the run directory on disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from evalkit.report._colors import heat, series
from evalkit.report._format import interval, language_name, metric_name, num, params
from evalkit.report._svg import Bar, Series, bar_chart
from evalkit.results import (
    RESULTS,
    SUMMARY,
    ItemResult,
    MetricCell,
    RunManifest,
    Summary,
    latest_by_item,
    read_manifest,
    read_summary,
    summarize,
)


def load_run(run_dir: Path) -> tuple[RunManifest, Summary, list[ItemResult]]:
    """Manifest, summary and the latest result of every item. A run without ``summary.json`` (interrupted)
    is summarized from its ``results.jsonl``."""
    manifest = read_manifest(run_dir)
    results = list(latest_by_item(run_dir / RESULTS).values())
    summary = read_summary(run_dir) if (run_dir / SUMMARY).exists() else summarize(manifest, results)
    return manifest, summary, results


def last_user_message(result: ItemResult) -> str:
    """The prompt the model answered: the last ``user`` message (or the last message of any role)."""
    for message in reversed(result.messages):
        if message.get("role") == "user":
            return message.get("content", "")
    return result.messages[-1].get("content", "") if result.messages else ""


def detected_language(result: ItemResult) -> str | None:
    """The language the output was detected as, when a language scorer ran."""
    for label in ("language", *result.details):
        value = result.details.get(label, {}).get("detected")
        if value:
            return str(value)
    return None


def header(manifest: RunManifest) -> dict[str, Any]:
    """The facts at the top of a report: what ran, against what, when, with which software."""
    m = manifest
    return {
        "suite_name": m.suite.name,
        "suite_path": m.suite.path,
        "suite_sha256": m.suite.sha256,
        "suite_description": m.suite.description,
        "model": m.model.name,
        "provider": m.model.provider,
        "endpoint": m.model.base_url,
        "params": params(m.model.params),
        "started_at": m.started_at,
        "finished_at": m.finished_at or "",
        "status": m.status,
        "abort_reason": m.abort_reason or "",
        "evalkit_version": m.evalkit_version,
        "sacrebleu_version": m.sacrebleu_version,
        "python_version": m.python_version,
        "git_revision": m.git_revision or "",
        "languages": m.languages,
        "variants": m.variants,
        "repeats": m.repeats,
        "shard": m.shard or "",
        "planned": m.counts.planned,
        "done": m.counts.done,
        "failed": m.counts.failed,
        "cached": m.counts.cached,
        "errors_by_kind": sorted(m.counts.errors_by_kind.items()),
        "argv": " ".join(m.argv),
    }


def signatures(manifest: RunManifest) -> list[dict[str, str]]:
    """One row per (metric, target language): the sacrebleu signature that produced its numbers."""
    rows = []
    for metric, by_lang in manifest.signatures.items():
        for language, signature in sorted(by_lang.items()):
            rows.append({"metric": metric_name(metric), "language": language, "signature": signature})
    return rows


def _cell(cell: MetricCell | None, top: float) -> dict[str, Any]:
    if cell is None:
        return {"text": "—", "ci": "", "bg": "#f9fafb", "fg": "#9ca3af", "title": "not measured", "value": None}
    bg, fg = heat(cell.value, higher_is_better=cell.higher_is_better, top=top)
    ci = interval(cell.ci_low, cell.ci_high)
    title = f"{cell.variant} · {cell.language} · {cell.metric}: {num(cell.value, 2)} {ci} n={cell.n}"
    if cell.interval:
        title += f" ({cell.interval})"
    if cell.signature:
        title += f"\n{cell.signature}"
    unstable = f"{cell.unstable} unstable" if cell.unstable else ""
    if unstable:
        title += f"\n{unstable}: passed in some repeats and failed in others"
    return {"text": num(cell.value), "ci": ci, "bg": bg, "fg": fg, "title": title, "value": cell.value, "n": cell.n,
            "unstable": unstable}


def metric_tables(manifest: RunManifest, summary: Summary) -> list[dict[str, Any]]:
    """Per metric: a prompt variant × language table of scores with 95% intervals and heatmap colours."""
    cells = {(c.variant, c.language, c.metric): c for c in summary.cells}
    variants = _ordered(manifest.variants, [c.variant for c in summary.cells])
    languages = _ordered(manifest.languages, [c.language for c in summary.cells])
    tables = []
    for record in manifest.scorers:
        mine = [c for c in summary.cells if c.metric == record.label]
        values = [c.ci_high for c in mine if c.ci_high is not None] + [c.value for c in mine if c.value is not None]
        top = max([100.0, *values]) if max([0.0, *values]) > 100.0 + 1e-6 else 100.0
        rows = [{"variant": v, "cells": [_cell(cells.get((v, lang, record.label)), top) for lang in languages]}
                for v in variants]
        unit = "% of items" if record.kind == "binary" else "points"
        intervals = sorted({c.interval for c in mine if c.interval})
        tables.append({
            "metric": record.label,
            "name": metric_name(record.label),
            "kind": record.kind,
            "higher_is_better": record.higher_is_better,
            "unit": unit,
            "interval": "; ".join(intervals),
            "languages": [{"code": lang, "name": language_name(lang)} for lang in languages],
            "rows": rows,
        })
    return tables


def charts(manifest: RunManifest, summary: Summary) -> list[dict[str, Any]]:
    """One SVG bar chart per metric: languages on the x axis, prompt variants side by side."""
    variants = _ordered(manifest.variants, [c.variant for c in summary.cells])
    languages = _ordered(manifest.languages, [c.language for c in summary.cells])
    out = []
    for record in manifest.scorers:
        bars = {(c.variant, c.language): Bar(c.value, c.ci_low, c.ci_high, c.n)
                for c in summary.cells if c.metric == record.label}
        if not any(b.value is not None for b in bars.values()):
            continue
        title = f"{metric_name(record.label)} by language and prompt variant (95% intervals)"
        svg = bar_chart(title, [(lang, language_name(lang)) for lang in languages],
                        [Series(v, series(i)) for i, v in enumerate(variants)], bars,
                        lower_is_better=not record.higher_is_better)
        out.append({"metric": record.label, "name": metric_name(record.label), "svg": svg})
    return out


def error_table(summary: Summary) -> list[dict[str, Any]]:
    """Failed items per variant and language (only cells with at least one error)."""
    return [{"variant": e.variant, "language": e.language, "planned": e.planned, "errors": e.errors,
             "by_kind": ", ".join(f"{k} {v}" for k, v in sorted(e.by_kind.items()))}
            for e in summary.errors if e.errors]


def usage_table(summary: Summary) -> dict[str, Any] | None:
    """Per variant × language: tokens, token tax, latency, truncation and cost (None: no usage recorded)."""
    from evalkit.results._usage import format_money, format_ms

    if not summary.usage:
        return None
    p = summary.prices
    rows = []
    for c in summary.usage:
        rows.append({
            "variant": c.variant, "language": c.language, "answered": c.answered,
            "prompt_mean": num(c.prompt_tokens_mean), "completion_mean": num(c.completion_tokens_mean),
            "total": f"{c.prompt_tokens + c.completion_tokens:,}" if c.with_usage else "unknown",
            "tax": "—" if c.token_tax is None else f"×{c.token_tax:.2f}",
            "tax_title": f"on {c.token_tax_cases} cases answered in both" if c.token_tax is not None else "",
            "p50": format_ms(c.latency_p50_ms), "p95": format_ms(c.latency_p95_ms),
            "latency_n": c.latency_n, "cached": c.latency_cached,
            "truncated": c.truncated, "truncation": num(c.truncation_rate) + "%" if c.truncation_rate is not None
            else "—", "bad_truncation": bool(c.truncated),
            "cost": format_money(c.cost, p), "cost_per_item": format_money(c.cost_per_item, p),
        })
    prices = (f"{p.input_per_mtok:g} in / {p.output_per_mtok:g} out per million tokens ({p.currency}, "
              f"{p.model}, from {p.source or 'the manifest'})" if p else "unknown (no prices given: "
              "evalkit run --price-in X --price-out Y)")
    total = format_money(sum(c.cost or 0.0 for c in summary.usage), p) if p else "unknown"
    from evalkit.results._judge_usage import judge_usage_line

    judges = [judge_usage_line(j) for j in summary.judge_usage]  # the judges' own tokens, apart
    return {"rows": rows, "prices": prices, "total_cost": total, "judges": judges}


def wrong_language_table(manifest: RunManifest, results: list[ItemResult]) -> list[dict[str, Any]]:
    """Answers in the wrong language per prompt variant × language (only cells with at least one), out of
    the answers given there: a prompt variant that pulls the model into English shows as its own row."""
    wrong = Counter((r.variant, r.language) for r in results if r.wrong_language)
    answered = Counter((r.variant, r.language) for r in results if r.error is None)
    variants = _ordered(manifest.variants, [v for v, _ in wrong])
    languages = _ordered(manifest.languages, [lang for _, lang in wrong])
    rows = []
    for v in variants:
        for lang in languages:
            n = wrong.get((v, lang), 0)
            if n:
                rate = 100.0 * n / answered[(v, lang)] if answered[(v, lang)] else None
                rows.append({"variant": v, "language": lang, "name": language_name(lang), "count": n,
                             "answered": answered[(v, lang)], "rate": num(rate) + "%" if rate is not None else "—"})
    return rows


def _with_usage(manifest: RunManifest, summary: Summary, results: list[ItemResult]) -> Summary:
    """A summary written before usage was summarized: its usage from the result lines."""
    from evalkit.results import usage_cells

    return summary.model_copy(update={"usage": usage_cells(results, manifest.prices), "prices": manifest.prices})


def item_table(manifest: RunManifest, results: list[ItemResult]) -> dict[str, Any]:
    """The per-item table as compact JSON for the browser: column specs once, then one array per item."""
    labels = [r.label for r in manifest.scorers]
    kinds = {r.label: r for r in manifest.scorers}
    columns: list[dict[str, Any]] = [
        {"key": "variant", "label": "Variant", "type": "tag", "facet": True},
        {"key": "language", "label": "Lang", "type": "tag", "facet": True},
        {"key": "case", "label": "Case", "type": "short"},
    ]
    if manifest.repeats > 1:
        columns.append({"key": "repeat", "label": "Rep", "type": "num"})
    columns += [
        {"key": "input", "label": "Input (last user message)", "type": "long", "search": True, "convo": True},
        {"key": "reference", "label": "Reference", "type": "long", "search": True, "lang": "language"},
        {"key": "output", "label": "Output", "type": "long", "search": True, "lang": "language"},
    ]
    for label in labels:
        rec = kinds[label]
        columns.append({"key": f"s:{label}", "label": metric_name(label), "type": "bin" if rec.kind == "binary"
                        else "score", "hib": rec.higher_is_better})
    truncated = any(r.truncated for r in results)
    if truncated:  # finish_reason == "length": the answer was cut at max_tokens
        columns.append({"key": "truncated", "label": "Cut", "type": "tag"})
    columns += [
        {"key": "detected", "label": "Detected", "type": "tag"},
        {"key": "error", "label": "Error", "type": "error", "search": True},
        {"key": "failed", "type": "flag", "hidden": True},
        {"key": "wrong", "type": "flag", "hidden": True},
    ]
    rows = []
    for r in results:
        row: list[Any] = [r.variant, r.language, r.case_id]
        if manifest.repeats > 1:
            row.append(r.repeat)
        row += [last_user_message(r), "\n".join(r.references), r.output if r.output is not None else ""]
        row += [_round(r.scores.get(label)) for label in labels]
        if truncated:
            row.append(r.finish_reason if r.truncated else "")
        error = f"{r.error.kind}: {r.error.message}" if r.error else ""
        row += [detected_language(r) or "", error, 1 if r.error else 0, 1 if r.wrong_language else 0]
        rows.append(row)
    return {
        "columns": columns,
        "rows": rows,
        "toggles": [{"key": "failed", "label": "Failed only"}, {"key": "wrong", "label": "Wrong language only"}]
        + ([{"key": "truncated", "label": "Truncated only"}] if truncated else []),
        "pageSize": 50,
        "conversation": conversations(results),
    }


def conversations(results: list[ItemResult]) -> dict[str, Any] | None:
    """Every item's full rendered conversation for the collapsed view next to its input, without repeating
    the system prompt and few-shot turns on every row: ``prefixes`` holds each distinct list of messages
    before the last user message (``last``: the input follows as the final user message), ``rows`` the
    prefix of each row (-1: the input is the whole conversation). None when no item has more than one message."""
    index: dict[tuple[tuple[str, str], ...], int] = {}
    prefixes: list[dict[str, Any]] = []
    rows: list[int] = []
    for r in results:
        msgs = [(m.get("role", ""), m.get("content", "")) for m in r.messages]
        last = bool(msgs) and msgs[-1][0] == "user"
        prefix = tuple(msgs[:-1] if last else msgs)
        if not prefix or (not last and len(prefix) == 1):
            rows.append(-1)
            continue
        key = (*prefix, ("", "last" if last else ""))
        if key not in index:
            index[key] = len(prefixes)
            prefixes.append({"m": [list(m) for m in prefix], "last": last})
        rows.append(index[key])
    return {"prefixes": prefixes, "rows": rows} if prefixes else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ordered(preferred: list[str], seen: list[str]) -> list[str]:
    present = set(seen)
    out = [x for x in preferred if x in present]
    out += sorted(present.difference(out))
    return out


def run_context(run_dir: Path) -> dict[str, Any]:
    """Everything ``run.html.j2`` and the Markdown summary need, read from ``run_dir``."""
    manifest, summary, results = load_run(run_dir)
    return {
        "title": f"{manifest.suite.name} · {manifest.model.name}",
        "header": header(manifest),
        "signatures": signatures(manifest),
        "tables": metric_tables(manifest, summary),
        "charts": charts(manifest, summary),
        "errors": error_table(summary),
        "usage": usage_table(summary if summary.usage else _with_usage(manifest, summary, results)),
        "wrong_language": wrong_language_table(manifest, results),
        "items": item_table(manifest, results),
        "n_items": len(results),
    }
