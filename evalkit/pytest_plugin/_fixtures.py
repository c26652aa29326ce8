"""The ``evalkit_run`` fixture's values: run a suite (or load a finished run) and read it back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from evalkit.errors import UsageError
from evalkit.gate import GateResult, run_gate
from evalkit.results import MANIFEST, ItemResult, RunManifest, Summary, iter_results, read_manifest, read_summary
from evalkit.results import RESULTS as RESULTS_FILE


@dataclass(frozen=True)
class RunHandle:
    """A finished run directory, read from disk."""

    path: Path

    @cached_property
    def manifest(self) -> RunManifest:
        return read_manifest(self.path)

    @cached_property
    def summary(self) -> Summary:
        return read_summary(self.path)

    @cached_property
    def results(self) -> list[ItemResult]:
        return list(iter_results(self.path / RESULTS_FILE))

    def score(self, metric: str, language: str, variant: str | None = None) -> float | None:
        """The summary's value of ``metric`` for ``language`` (corpus score, or percent for binary metrics).

        ``variant`` may be left out when the run has one prompt variant."""
        variants = self.manifest.variants
        if variant is None:
            if len(variants) > 1:
                raise UsageError(f"{self.path}: the run has several prompt variants ({', '.join(variants)}); "
                                 "pass variant=")
            variant = variants[0]
        for cell in self.summary.cells:
            if (cell.metric, cell.language, cell.variant) == (metric, language, variant):
                return cell.value
        have = sorted({c.metric for c in self.summary.cells})
        raise UsageError(f"{self.path}: no {metric!r} for {language!r} [{variant}] in the summary "
                         f"(metrics: {', '.join(have)}; languages: {', '.join(self.manifest.languages)})")

    def gate(self, *, baseline: Path | RunHandle | None = None, gates: Path | None = None) -> GateResult:
        """:func:`evalkit.gate.run_gate` on this run (``result.passed``, ``result.lines()``...)."""
        base = baseline.path if isinstance(baseline, RunHandle) else baseline
        return run_gate(self.path, baseline=base, gates=gates)


@dataclass
class RunFactory:
    """``evalkit_run(suite_or_run_dir, **options)``: see the fixture's docstring."""

    tmp_path: Path
    model: str | None = None
    base_url: str | None = None

    def __call__(self, target: str | Path, *, model: str | None = None, base_url: str | None = None,
                 languages: Sequence[str] | None = None, prompts: Sequence[str] | None = None,
                 limit: int | None = None, out: Path | None = None, use_cache: bool = True) -> RunHandle:
        target = Path(target)
        if target.is_dir():
            if not (target / MANIFEST).is_file():
                raise UsageError(f"{target}: not an evalkit run directory (no {MANIFEST})")
            return RunHandle(target)
        from evalkit import RunOptions, run
        from evalkit.items import Selection
        from evalkit.suite import load_suite

        suite = load_suite(target)
        out_dir = out or self._fresh(target.stem)
        selection = Selection(languages=languages, prompts=prompts, limit=limit)
        options = RunOptions(out_dir=out_dir, selection=selection, model=model or self.model,
                             base_url=base_url or self.base_url, use_cache=use_cache, write_report=False,
                             argv=["pytest", "evalkit_run", str(target)])
        run(suite, options, handle_signals=False)
        return RunHandle(out_dir)

    def _fresh(self, stem: str) -> Path:
        path, n = self.tmp_path / f"evalkit-{stem}", 1
        while path.exists():
            n += 1
            path = self.tmp_path / f"evalkit-{stem}-{n}"
        return path
