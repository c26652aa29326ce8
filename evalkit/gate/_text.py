"""The gate's verdict as text: one line per distinct failure, and a summary whose counts say what they count.

Checks stay one per (kind, variant, language, metric) for JUnit and the JSON verdict; the text groups
the checks that fail for the same reason (too few items of one language) into one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.gate._checks import Check

RUN_LANGUAGE = "*"  # language of run-level checks


def where(language: str, variant: str | None, several: bool) -> str:
    """``th``, or ``th [polite]`` when the run has several prompt variants."""
    return f"{language} [{variant}]" if several and variant else language


def _group_name(language: str) -> str:
    return "run" if language == RUN_LANGUAGE else language


def messages(checks: Sequence[Check], *, several: bool, min_items: int, metric_order: Sequence[str]) -> list[str]:
    """One message per distinct problem, in the order of the checks.

    Checks that lack data for the same language (and variant) and number of items — a threshold
    and a regression check on one metric, or several metrics — become one line naming them all;
    identical messages are printed once."""
    groups: dict[tuple[str, str | None, int], list[Check]] = {}
    slots: list[str | tuple[str, str | None, int]] = []
    for c in checks:
        if c.status == "insufficient":
            key = (c.language, c.variant if several else None, c.n)
            if key not in groups:
                groups[key] = []
                slots.append(key)
            groups[key].append(c)
        else:
            slots.append(c.message)
    out: list[str] = []
    for slot in slots:
        text = slot if isinstance(slot, str) else _insufficient_line(groups[slot], several, min_items, metric_order)
        if text not in out:
            out.append(text)
    return out


def _insufficient_line(group: list[Check], several: bool, min_items: int, metric_order: Sequence[str]) -> str:
    if len(group) == 1:
        return group[0].message
    first = group[0]
    metrics = sorted({c.metric for c in group},
                     key=lambda m: (metric_order.index(m) if m in metric_order else len(metric_order), m))
    thresholds = sum(1 for c in group if c.kind == "threshold")
    regressions = sum(1 for c in group if c.kind == "regression")
    kinds = [f"{thresholds} threshold"] if thresholds else []
    kinds += [f"{regressions} vs baseline"] if regressions else []
    return (f"{where(first.language, first.variant, several)} {', '.join(metrics)}: insufficient data "
            f"({first.n} items < min_items {min_items}; {len(group)} checks: {', '.join(kinds)})")


def summary(checks: Sequence[Check], languages: Sequence[str]) -> str:
    """``gate passed: all 24 checks passed (de 8, hi 8, th 8)`` or
    ``gate FAILED: 7 of 24 checks failed (th 7 of 8; de, hi passed)``: failures are counted where a
    gate failed, and checks that only passed with a warning (insufficient data) are counted apart."""
    order = [RUN_LANGUAGE, *languages]
    by_group = {lang: [c for c in checks if c.language == lang] for lang in order}
    by_group = {lang: mine for lang, mine in by_group.items() if mine}
    total = len(checks)
    warned = sum(1 for c in checks if c.passed and c.status == "insufficient")
    warned_text = f"; {warned} with insufficient data, warned only (on_insufficient: warn)" if warned else ""
    failed = [c for c in checks if not c.passed]
    if not failed:
        if total == 0:
            return "gate passed: no check applied"
        passes = {lang: sum(1 for c in mine if c.status == "pass") for lang, mine in by_group.items()}
        per = ", ".join(f"{_group_name(lang)} {n}" for lang, n in passes.items() if n)
        n_pass = total - warned
        head = f"all {total} checks passed" if not warned else f"{n_pass} of {total} checks passed"
        return f"gate passed: {head}" + (f" ({per})" if per else "") + warned_text
    failing = [f"{_group_name(lang)} {sum(not c.passed for c in mine)} of {len(mine)}"
               for lang, mine in by_group.items() if any(not c.passed for c in mine)]
    clean = [_group_name(lang) for lang, mine in by_group.items() if all(c.passed for c in mine)]
    detail = ", ".join(failing) + (f"; {', '.join(clean)} passed" if clean else "")
    insufficient = sum(1 for c in failed if c.status == "insufficient")
    if insufficient:
        detail += f"; {insufficient} failed for insufficient data"
    return f"gate FAILED: {len(failed)} of {total} checks failed ({detail}){warned_text}"
