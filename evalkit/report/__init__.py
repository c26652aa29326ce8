"""Self-contained HTML (and Markdown) reports, rendered only from run directories on disk.

* :func:`write_run_report` / :func:`render_run_report` — one run: header, per variant × language × metric
  tables with 95% intervals, SVG charts, and a filterable table of every item.
* :func:`write_compare_report` / :func:`render_compare_report` — a baseline against one or more candidates:
  per-language deltas with paired CIs and adjusted p-values, regressions first with word/character diffs.

Every page is one file with inline CSS, JS and SVG and a Content-Security-Policy that forbids the network;
all data is escaped (templates autoescape; item rows are built client-side with ``textContent``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalkit.report._compare_context import compare_context
from evalkit.report._context import run_context
from evalkit.report._markdown import compare_markdown, run_markdown
from evalkit.report._render import render_html

if TYPE_CHECKING:
    from evalkit.compare import Comparison
    from evalkit.gate import GateResult

Format = Literal["html", "md"]

__all__ = ["Format", "render_compare_report", "render_run_report", "write_compare_report", "write_run_report"]


def render_run_report(run_dir: Path, fmt: Format = "html") -> str:
    """The report of one run directory as an HTML page or a Markdown summary."""
    context = run_context(Path(run_dir))
    if fmt == "md":
        return run_markdown(context)
    return render_html("run.html.j2", context)


def write_run_report(run_dir: Path, out: Path, fmt: Format = "html") -> Path:
    """Write the report of ``run_dir`` to ``out`` (parent folders are created). Returns ``out``."""
    return _write(Path(out), render_run_report(run_dir, fmt))


def render_compare_report(comparisons: Sequence[Comparison], fmt: Format = "html",
                          gates: Sequence[GateResult] | None = None) -> str:
    """A baseline compared with one or more candidates (one :class:`~evalkit.compare.Comparison` each,
    all with the same baseline) as an HTML page or a Markdown summary; with ``gates`` (one
    :class:`~evalkit.gate.GateResult` per candidate) the page shows each gate's verdict and failures."""
    context = compare_context(list(comparisons), gates)
    if fmt == "md":
        return compare_markdown(context)
    return render_html("compare.html.j2", context)


def write_compare_report(comparisons: Sequence[Comparison], out: Path, fmt: Format = "html",
                         gates: Sequence[GateResult] | None = None) -> Path:
    """Write :func:`render_compare_report` to ``out`` (parent folders are created). Returns ``out``."""
    return _write(Path(out), render_compare_report(comparisons, fmt, gates))


def _write(out: Path, text: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
