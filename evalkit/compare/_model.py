"""The values of a comparison: runs as read from disk, aligned item pairs, metric cells, flips, and the
:class:`Comparison` that holds them, plus the one-line formatting of a cell (``format_cell``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalkit.errors import ResultsError
from evalkit.results import MANIFEST, RESULTS, IdTally, ItemResult, RunManifest, read_manifest, tally_for
from evalkit.stats import PairedComparison

if TYPE_CHECKING:
    from evalkit.compare._usage import UsageDelta

Correction = Literal["holm", "bh"]
CORRECTION_NAMES = {"holm": "Holm–Bonferroni", "bh": "Benjamini–Hochberg"}
DISPLAY_NAMES = {"bleu": "BLEU", "chrf": "chrF", "chrf++": "chrF++", "ter": "TER"}


# --- reading runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunData:
    """Everything read from a run directory: the manifest and the latest line per item id.

    ``tally`` counted every line of ``results.jsonl`` against the manifest's plan (``evalkit.results.IdTally``):
    the gate checks completeness from it, not from the manifest's word alone."""

    path: Path
    manifest: RunManifest
    results: list[ItemResult]
    tally: IdTally | None = None  # None: not counted (a RunData built by hand)

    @property
    def label(self) -> str:
        """A short name for reports: the directory name."""
        return self.path.name or str(self.path)


def load_run(run_dir: Path) -> RunData:
    """Read ``manifest.json`` and ``results.jsonl`` of ``run_dir`` (``ResultsError`` when it is not a run).
    Damaged lines are counted in the tally (the run is then incomplete), not raised."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: not a directory (expected an evalkit run directory)")
    if not (run_dir / MANIFEST).exists():
        raise ResultsError(f"{run_dir}: no {MANIFEST} (is this an evalkit run directory?)")
    manifest = read_manifest(run_dir)
    if not (run_dir / RESULTS).exists():
        raise ResultsError(f"{run_dir}: no {RESULTS} (the run has not written any results)")
    tally = tally_for(manifest)
    latest: dict[str, ItemResult] = {}
    for result in tally.read(run_dir / RESULTS):  # the last line of an item wins, as in latest_by_item
        latest[result.item_id] = result
    return RunData(run_dir, manifest, list(latest.values()), tally)


def results_problem(run: RunData) -> str | None:
    """Why ``run`` is not complete, or None: its status, then ``results.jsonl`` itself as
    ``IdTally`` judges it (every planned item id exactly once; no line damaged or of another run), the
    same verdict and wording as the runner and ``evalkit merge``."""
    m = run.manifest
    if m.status != "complete":
        detail = f"{m.counts.done} of {m.counts.planned} items done" + (
            f", {m.counts.missing} missing" if m.counts.missing else "")
        return f"run {run.label} is {m.status}: {detail}" + (f" ({m.abort_reason})" if m.abort_reason else "")
    problem = run.tally.problem() if run.tally is not None else None
    return None if problem is None else f"run {run.label} is incomplete: {problem} (the manifest says complete)"


# --- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemPair:
    """The same item in the base and the candidate run."""

    key: str  # item_id, or "case|language|repeat" when comparing two variants of one run
    language: str
    case_id: str
    repeat: int
    base: ItemResult
    cand: ItemResult
    variant: str | None = None  # the variant in both runs (None when comparing two variants)


@dataclass(frozen=True)
class MetricComparison:
    """One (variant, language, metric) cell of a comparison."""

    language: str
    metric: str
    higher_is_better: bool
    kind: Literal["corpus", "binary"]
    result: PairedComparison
    significant: bool  # p_adjusted < alpha
    regression: bool  # significant and in the bad direction
    signature: str | None
    variant: str | None = None  # None when comparing two variants (see Comparison.base_variant)
    repeats: int = 1  # repeats per item that were aggregated (1: none)

    @property
    def improvement(self) -> bool:
        """Significant and in the good direction."""
        return self.result.improvement


FlipKind = Literal["pass_to_fail", "fail_to_pass", "score_drop", "score_gain"]


@dataclass(frozen=True)
class Flip:
    """An item whose pass/fail changed, or that lost/gained the most score on a corpus metric.

    Values are the item's own scores (0/1 for binary metrics, sentence-level scores for
    corpus metrics; means over repeats when repeats are aggregated); ``delta = cand - base``.
    """

    pair: ItemPair
    metric: str
    base_value: float | None
    cand_value: float | None
    delta: float
    kind: FlipKind

    @property
    def regression(self) -> bool:
        return self.kind in ("pass_to_fail", "score_drop")


@dataclass
class Comparison:
    """The comparison of a candidate run with a base run (see :func:`compare_runs`)."""

    base: RunData
    cand: RunData
    base_label: str
    cand_label: str
    base_variant: str | None
    cand_variant: str | None
    metrics: list[MetricComparison]
    flips: list[Flip]
    unmatched_base: int
    unmatched_cand: int
    errors_base: int
    errors_cand: int
    incompatibilities: list[str]
    forced: bool
    correction: str
    alpha: float
    n_resamples: int
    seed: int
    pairs: list[ItemPair] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)
    correction_method: Correction = "holm"
    # usage_deltas per aggregate_repeats, computed once (the CLI lines, the report and the gate all ask)
    usage_cache: dict[bool, list[UsageDelta]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.regression]

    def languages(self) -> list[str]:
        """Languages with at least one metric cell, in the base run's language order."""
        order = {lang: i for i, lang in enumerate(self.base.manifest.languages)}
        langs = {m.language for m in self.metrics}
        return sorted(langs, key=lambda x: (order.get(x, len(order)), x))

    def variants(self) -> list[str | None]:
        """Variants with metric cells (``[None]`` when comparing two variants)."""
        seen: dict[str | None, None] = {}
        for m in self.metrics:
            seen.setdefault(m.variant, None)
        # In the suite's order, not the order cells happen to be sorted in (that follows their p-values).
        order = {v: i for i, v in enumerate(self.base.manifest.variants)}
        return sorted(seen, key=lambda v: order.get(v, len(order)) if v is not None else -1)

    def summary_lines(self) -> list[str]:
        """One PR-pasteable line per language (per variant and language when a run has several)."""
        several = len(self.variants()) > 1
        lines = []
        for variant in self.variants():
            for lang in self.languages():
                cells = [m for m in self.metrics if m.language == lang and m.variant == variant]
                cells.sort(key=lambda m: self._metric_order(m.metric))
                if not cells:
                    continue
                head = f"{lang} [{variant}]" if several and variant else lang
                lines.append(f"{head}: " + "; ".join(format_cell(m) for m in cells))
        return lines

    def _metric_order(self, label: str) -> int:
        labels = [r.label for r in self.base.manifest.scorers]
        return labels.index(label) if label in labels else len(labels)


# --- formatting ------------------------------------------------------------------------------------


def display_metric(label: str) -> str:
    """``chrf++`` → ``chrF++``; other labels unchanged."""
    return DISPLAY_NAMES.get(label, label)


def signed(x: float, digits: int = 1) -> str:
    """``-3.2`` → ``−3.2`` (Unicode minus), ``3.2`` → ``+3.2``."""
    if math.isnan(x):
        return "n/a"
    text = f"{x:+.{digits}f}"
    return text.replace("-", "−")


def plain(x: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}".replace("-", "−")


def format_p(p: float) -> str:
    if math.isnan(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def format_cell(m: MetricComparison) -> str:
    """``chrF++ 41.2 → 38.0 (−3.2, 95% CI −5.1..−1.4, p=0.003) ▼ regression`` (p adjusted)."""
    r = m.result
    unit = "%" if m.kind == "binary" else ""
    pts = " pts" if m.kind == "binary" else ""
    text = (
        f"{display_metric(m.metric)} {plain(r.base)}{unit} → {plain(r.cand)}{unit} "
        f"({signed(r.delta)}{pts}, 95% CI {plain(r.ci_low)}..{plain(r.ci_high)}, {format_p(r.p)}, n={r.n})"
    )
    if m.regression:
        text += " ▼ regression"
    elif m.improvement:
        text += " ▲ improvement"
    return text
