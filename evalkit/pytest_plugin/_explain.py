"""What a failing check shows in the pytest report: the gate's line for it, then the items behind it.

A regression check shows the worst regressed items (pass → fail first, then the largest score
drops) with the input, the baseline's answer and the candidate's; a threshold check shows the
run's lowest-scoring items with the input, the answer and the reference; the error rate shows
failed requests; a pairwise judge check shows the candidate's share of the decisive items with
its interval. Model output is escaped like everywhere evalkit prints it to a terminal.
"""

from __future__ import annotations

from evalkit.compare import Flip
from evalkit.gate import ERROR_RATE, Check, GateResult
from evalkit.results import ItemResult
from evalkit.terminal import safe_text

WIDTH = 200


def _clip(text: str | None) -> str:
    if text is None:
        return "(no answer)"
    one_line = " ".join(text.split())
    if len(one_line) > WIDTH:
        one_line = one_line[: WIDTH - 1] + "…"
    return safe_text(one_line)


def _input(r: ItemResult) -> str:
    return next((m.get("content", "") for m in reversed(r.messages) if m.get("role") == "user"), "")


def _value(v: float | None, binary: bool) -> str:
    if v is None:
        return "n/a"
    if binary:
        return "pass" if v >= 0.5 else "fail"
    return f"{v:.1f}"


def _item_head(r: ItemResult, several: bool) -> str:
    head = f"{r.case_id} ({r.variant})" if several else r.case_id
    return head + (f" repeat {r.repeat}" if r.repeat else "")


def _regressed(check: Check, result: GateResult) -> list[Flip]:
    if result.comparison is None:
        return []
    return [f for f in result.comparison.flips
            if f.regression and f.metric == check.metric and f.pair.language == check.language
            and f.pair.variant == check.variant]


def _regression_lines(check: Check, result: GateResult, show: int) -> list[str]:
    flips = _regressed(check, result)
    if not flips or not show:
        return []
    lines = [f"worst regressed items ({min(show, len(flips))} of {len(flips)}):"]
    for f in flips[:show]:
        binary = f.kind == "pass_to_fail"
        lines += [
            f"  {_item_head(f.pair.cand, result.several_variants)}: {f.metric} "
            f"{_value(f.base_value, binary)} → {_value(f.cand_value, binary)}",
            f"    input:     {_clip(_input(f.pair.cand))}",
            f"    baseline:  {_clip(f.pair.base.output)}",
            f"    candidate: {_clip(f.pair.cand.output)}",
        ]
    return lines


def _threshold_lines(check: Check, result: GateResult, show: int) -> list[str]:
    items = [r for r in result.run.results if r.language == check.language and r.variant == check.variant]
    if check.metric == ERROR_RATE:
        failed = [r for r in items if not r.ok][:show]
        lines = [f"failed items ({len(failed)} shown):"] if failed else []
        for r in failed:
            error = r.error
            lines += [f"  {_item_head(r, result.several_variants)}: "
                      f"{_clip(f'{error.kind}: {error.message}' if error else '')}"]
        return lines
    scored = [(v, r) for r in items if r.ok and (v := r.scores.get(check.metric)) is not None]
    record = next((s for s in result.run.manifest.scorers if s.label == check.metric), None)
    if not scored or record is None or not show:
        return []
    scored.sort(key=lambda x: x[0] if record.higher_is_better else -x[0])
    binary = record.kind == "binary"
    if binary:
        scored = [(v, r) for v, r in scored if v < 0.5]
    lines = [f"lowest-scoring items ({min(show, len(scored))} of {len(items)}):"] if scored else []
    for v, r in scored[:show]:
        lines += [
            f"  {_item_head(r, result.several_variants)}: {check.metric} {_value(v, binary)}",
            f"    input:     {_clip(_input(r))}",
            f"    answer:    {_clip(r.output)}",
            f"    reference: {_clip(' | '.join(r.references) if r.references else None)}",
        ]
    return lines


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _pairwise_lines(check: Check, alpha: float) -> list[str]:
    """The interval behind a pairwise verdict (the gate's line has the wins, ties and losses)."""
    p = "n/a" if check.p is None else f"{check.p:.3g}"
    return [f"candidate share of the decisive items (wins / (wins + losses)): {_pct(check.value)}, "
            f"95% CI [{_pct(check.ci_low)}, {_pct(check.ci_high)}] (Wilson); "
            f"sign test p={p} (Holm over the languages), fails below alpha {alpha:g} with more losses than wins"]


def explain(check: Check, result: GateResult, show: int) -> str:
    """The text pytest shows for a failing check."""
    lines = [f"FAIL {check.message}"]
    if check.status == "fail":
        if check.kind == "regression":
            lines += _regression_lines(check, result, show)
        elif check.kind == "threshold":
            lines += _threshold_lines(check, result, show)
        elif check.kind == "pairwise":
            lines += _pairwise_lines(check, result.spec.alpha)
    base = f"  baseline: {result.comparison.base.path}" if result.comparison else ""
    lines.append(f"run: {result.run.path}{base}")
    return "\n".join(lines)
