"""Terminal text shared by the commands: counts in words, the end-of-run score grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.results import Summary

MAX_PROBLEMS_SHOWN = 50  # more would scroll the first (often the cause of the rest) out of sight


def plural(n: int, noun: str) -> str:
    """``1 case``, ``2 cases``, ``10 more problems``."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun}es" if noun.endswith(("s", "x", "ch", "sh")) else f"{n} {noun}s"


def summary_grid(summary: Summary, languages_order: Sequence[str] = (),
                 variants_order: Sequence[str] = ()) -> list[str]:
    """One small table per metric: prompt variants down, languages across, in the suite's order (the full
    list, with intervals and counts, is in summary.json)."""
    from evalkit.cli._common import safe_text

    metrics: dict[str, dict[tuple[str, str], float | None]] = {}
    variants: dict[str, None] = dict.fromkeys(variants_order)
    languages: dict[str, None] = dict.fromkeys(languages_order)
    for cell in summary.cells:
        metrics.setdefault(cell.metric, {})[(cell.variant, cell.language)] = cell.value
        variants[cell.variant] = None
        languages[cell.language] = None
    variants = {v: None for v in variants if any((v, c) in cells for cells in metrics.values() for c in languages)}
    languages = {c: None for c in languages if any((v, c) in cells for cells in metrics.values() for v in variants)}
    if not metrics:  # nothing scored (every item failed, or no scorer gave a number): no grid
        return []
    # Names come from the suite: shown escaped, and measured as shown.
    return metric_tables(
        [(safe_text(m), [[values.get((v, c)) for c in languages] for v in variants]) for m, values in metrics.items()],
        [safe_text(v) for v in variants], [safe_text(c) for c in languages])


def metric_tables(tables: Sequence[tuple[str, Sequence[Sequence[float | None]]]], row_labels: Sequence[str],
                  column_names: Sequence[str]) -> list[str]:
    """The lines of one small table per metric: ``tables`` holds each metric's name and its values by row and
    column (None: ``-``). Names and labels are given as shown (escaped)."""
    first = max([len(name) for name, _ in tables] + [2 + len(label) for label in row_labels], default=0)
    widths = [max(6, len(name)) for name in column_names]
    lines = []
    for metric, values in tables:
        lines.append(metric.ljust(first)
                     + "".join("  " + name.rjust(width) for name, width in zip(column_names, widths, strict=True)))
        for label, row_values in zip(row_labels, values, strict=True):
            row = ("  " + label).ljust(first)
            for value, width in zip(row_values, widths, strict=True):
                row += "  " + ("-" if value is None else f"{value:.1f}").rjust(width)
            lines.append(row)
    return lines


def quiet_libraries() -> None:
    """Keep the terminal evalkit's: Hugging Face ``datasets`` (and hub downloads) draw progress bars
    on stderr when a suite loads its cases through them. A value the user set wins."""
    import os

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
