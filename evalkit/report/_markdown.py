"""Markdown summaries for pull-request comments (GitHub-flavoured tables, no HTML)."""

from __future__ import annotations

import re
from typing import Any

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
# C0/C1 controls and bidi overrides left after whitespace is flattened (ESC sequences, BEL, RLO...).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def md(text: object) -> str:
    """Text safe inside a Markdown table cell: one line, Markdown and HTML metacharacters escaped,
    control characters shown as escapes (``\\x1b``) instead of reaching a terminal or a PR comment."""
    flat = " ".join(str(text).split())
    flat = _CONTROL.sub(lambda m: ascii(m.group(0))[1:-1], flat)
    return _SPECIAL.sub(r"\\\1", flat)


def clip(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def run_markdown(ctx: dict[str, Any]) -> str:
    """Per metric: a variant × language table of scores with 95% intervals; then failures."""
    h = ctx["header"]
    lines = [
        f"### evalkit: {md(h['suite_name'])} · {md(h['model'])}",
        "",
        f"{h['done']}/{h['planned']} items done, {h['failed']} failed · suite sha256 `{h['suite_sha256'][:12]}` · "
        f"{md(h['started_at'])} · evalkit {md(h['evalkit_version'])}",
        "",
    ]
    for t in ctx["tables"]:
        direction = ", lower is better" if not t["higher_is_better"] else ""
        lines.append(f"**{md(t['name'])}** ({t['unit']}{direction}, 95% interval)")
        lines.append("")
        lines.append("| variant | " + " | ".join(md(lang["code"]) for lang in t["languages"]) + " |")
        lines.append("|---|" + "---:|" * len(t["languages"]))
        for row in t["rows"]:
            cells = [f"{c['text']} {c['ci']}".strip() for c in row["cells"]]
            lines.append(f"| {md(row['variant'])} | " + " | ".join(cells) + " |")
        lines.append("")
    if ctx["errors"]:
        lines.append("**Failed requests:** " + ", ".join(
            f"{md(e['variant'])}/{md(e['language'])} {e['errors']}/{e['planned']}" for e in ctx["errors"]))
        lines.append("")
    if ctx["wrong_language"]:
        lines.append("**Wrong-language answers:** " + ", ".join(
            f"{md(w['variant'])}/{md(w['language'])} {w['count']}/{w['answered']}" for w in ctx["wrong_language"]))
        lines.append("")
    from evalkit.report._usage_context import run_usage_markdown

    lines += run_usage_markdown(ctx.get("usage"))
    return "\n".join(lines)


def _gate_lines(gate: dict[str, Any] | None) -> list[str]:
    """With ``compare --gate``: the gate's verdict and every failing line, before the comparison."""
    if gate is None:
        return []
    icon = "✅" if gate["passed"] else "❌"
    lines = [f"**{icon} {md(gate['summary'])}** (gates: {md(gate['source'])})", ""]
    lines += [f"- FAIL {md(x)}" for x in gate["failures"]] + [f"- WARN {md(x)}" for x in gate["warnings"]]
    return [*lines, ""] if gate["failures"] or gate["warnings"] else lines


def _fence(lines: list[str], info: str) -> list[str]:
    """A fenced code block that no line inside can close (the fence is longer than any backtick run), control
    characters shown as escapes."""
    body = [_CONTROL.sub(lambda m: ascii(m.group(0))[1:-1], line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *body, fence]


def changes_markdown(ch: dict[str, Any]) -> list[str]:
    """What changed between baseline and candidate: settings that differ, then each changed template's diff."""
    lines = ["**What changed**", ""]
    if ch["settings"]:
        lines += ["| setting | baseline | candidate |", "|---|---|---|"]
        lines += [f"| {md(r['name'])} | {md(r['base'])} | {md(r['cand'])} |" for r in ch["settings"]]
    else:
        lines.append("Model, endpoint and generation parameters: the same.")
    lines.append("")
    if ch["not_recorded"]:
        lines += [f"No template diff: {md(ch['not_recorded'])}.", ""]
    for p in ch["prompts"]:
        lines.append(f"Prompt templates · **{md(p['variant'])}**: {md(p['status'])} "
                     f"(−{p['removed']} / +{p['added']} lines)")
        lines.append("")
        lines += _fence([line.sign + line.text for line in p["lines"]], "diff")
        lines.append("")
    if ch["same"]:
        lines += ["Prompt templates unchanged: " + ", ".join(md(v) for v in ch["same"]) + ".", ""]
    return lines


def compare_markdown(ctx: dict[str, Any], *, top: int = 10) -> str:
    """Per candidate: a forced-comparison warning, the per-language table and the top regressions."""
    lines: list[str] = []
    for s in ctx["sections"]:
        lines.append(f"### evalkit compare: {md(s['cand_label'])} vs {md(ctx['base_label'])}")
        lines.append("")
        if s["forced"]:
            lines.append("> [!WARNING]")
            lines.append("> **Forced comparison** despite incompatibilities: " +
                         "; ".join(md(r) for r in s["incompatibilities"]))
            lines.append("")
        lines += _gate_lines(s["gate"])
        lines += changes_markdown(s["changes"])
        lines.append(f"{s['n_regressions']} significant regressions, {s['n_improvements']} improvements, "
                     f"{s['n_pass_to_fail']} pass→fail and {s['n_fail_to_pass']} fail→pass flips on "
                     f"{s['pairs']} aligned items ({md(s['correction'])}, α={s['alpha']}).")
        lines.append("")
        several = any(r["show_variant"] for r in s["rows"])
        head = "| language | " + ("variant | " if several else "") + "metric | base | cand | Δ | 95% CI | p (adj.) | |"
        lines.append(head)
        lines.append("|---|" + ("---|" if several else "") + "---|---:|---:|---:|---:|---:|---|")
        for r in s["rows"]:
            variant = f"{md(r['variant'])} | " if several else ""
            mark = {"regression": "▼ regression", "improvement": "▲ improvement"}.get(r["direction"], "")
            delta = f"**{r['delta']}**" if mark else r["delta"]
            lines.append(f"| {md(r['language'])} | {variant}{md(r['metric_name'])} | {r['base']} | {r['cand']} | "
                         f"{delta} | {r['ci']} | {r['p_adjusted']} | {mark} |")
        lines.append("")
        from evalkit.report._usage_context import usage_markdown

        lines += usage_markdown(s.get("usage") or [])
        if s["regressions"]:
            lines.append(f"**Top regressions** ({min(top, len(s['regressions']))} of {s['n_regression_items']} items)")
            lines.append("")
            lines.append("| language | case | change | baseline output | candidate output |")
            lines.append("|---|---|---|---|---|")
            for c in s["regressions"][:top]:
                change = ", ".join(f"{ch['metric']} {ch['base']}→{ch['cand']}" for ch in c["changes"])
                if c.get("messages_diff"):
                    change += "; rendered prompt changed"
                base = c["base_error"] or "".join(seg.text for seg in c["base_segments"])
                cand = c["cand_error"] or "".join(seg.text for seg in c["cand_segments"])
                lines.append(f"| {md(c['language'])} | {md(c['case'])} | {md(change)} | {md(clip(base))} | "
                             f"{md(clip(cand))} |")
            lines.append("")
    return "\n".join(lines)
