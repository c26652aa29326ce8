"""Small formatting helpers shared by the HTML and Markdown reports."""

from __future__ import annotations

import math
from typing import Any

from evalkit.languages import get_language, is_known

_METRIC_NAMES = {"bleu": "BLEU", "chrf": "chrF", "chrf++": "chrF++", "ter": "TER", "exact_match": "exact match",
                 "language": "language fidelity", "contains": "contains", "regex": "regex"}


def metric_name(label: str) -> str:
    """How a metric label is shown (``chrf++`` → ``chrF++``); unknown labels are shown as they are."""
    return _METRIC_NAMES.get(label, label)


def language_name(code: str) -> str:
    """``zh`` → ``Chinese``; unknown codes are shown as they are."""
    return get_language(code).name if is_known(code) else code


def is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value: float | None, digits: int = 1) -> str:
    """A score with a fixed number of decimals, or an em dash when there is none."""
    if is_missing(value):
        return "—"
    assert value is not None
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 1) -> str:
    """A delta with an explicit sign (``+1.2``, ``−0.4``); a true minus sign reads better than a hyphen."""
    if is_missing(value):
        return "—"
    assert value is not None
    text = f"{value:+.{digits}f}"
    if text in (f"+{0:.{digits}f}", f"-{0:.{digits}f}"):
        return f"±{0:.{digits}f}"
    return text.replace("-", "−")


def interval(low: float | None, high: float | None, digits: int = 1, *, sign: bool = False) -> str:
    """``[low, high]``; empty when either end is missing."""
    if is_missing(low) or is_missing(high):
        return ""
    f = signed if sign else num
    return f"[{f(low, digits)}, {f(high, digits)}]"


def p_value(p: float | None) -> str:
    """A p-value with sensible precision (``<0.001`` for tiny ones)."""
    if is_missing(p):
        return "—"
    assert p is not None
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def params(values: dict[str, Any]) -> str:
    """Generation parameters as ``key=value`` pairs in a stable order."""
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items())) or "(none)"
