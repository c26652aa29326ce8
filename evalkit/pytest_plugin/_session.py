"""Running each collected suite once per pytest session, and gating the run.

The run starts when the first of a suite's tests executes (never at collection), goes to
``OUT/<suite file stem>`` with the response cache, and is gated once; every item of the suite then
reads its check from that one :class:`~evalkit.gate.GateResult`. With pytest-xdist every worker
collects the same items; a file lock and a marker holding the session's id make the first worker
run the suite and the others reuse its finished run directory.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evalkit.gate import GateResult, run_gate
from evalkit.pytest_plugin._plan import SuitePlan
from evalkit.pytest_plugin._settings import Settings
from evalkit.results import MANIFEST, read_manifest

_SESSIONS = pytest.StashKey["Sessions"]()
MARKER = ".evalkit-pytest-session"  # in a run directory: the id of the pytest session that finished it


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no xdist coordination, each worker runs into its own folder
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class SuiteSession:
    """One suite of this pytest session: its plan, where it runs, and (once done) its gate result."""

    plan: SuitePlan
    display: str
    run_dir: Path
    settings: Settings
    token: str
    result: GateResult | None = None
    error: BaseException | None = None
    done: bool = False

    def gate(self) -> GateResult:
        """Run (once) and gate; re-raises the run's or the gate's error for every later caller."""
        if not self.done:
            self.done = True
            try:
                self.result = self._run_and_gate()
            except Exception as exc:
                self.error = exc
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def _run_and_gate(self) -> GateResult:
        if self.plan.reuse is None:
            with _locked(self.run_dir.parent / f".{self.run_dir.name}.lock"):
                if not self._finished_by_this_session():
                    self._run()
        return run_gate(self.plan.reuse or self.run_dir, baseline=self.plan.baseline, gates=self.plan.gates)

    def _finished_by_this_session(self) -> bool:
        marker = self.run_dir / MARKER
        return marker.is_file() and marker.read_text().strip() == self.token and (self.run_dir / MANIFEST).is_file()

    def _run(self) -> None:
        from evalkit import RunOptions, run

        argv = ["pytest", "--evalkit", str(self.plan.path)]
        options = RunOptions(out_dir=self.run_dir, model=self.settings.model, base_url=self.settings.base_url,
                             argv=argv)
        run(self.plan.suite, options, handle_signals=False)
        if read_manifest(self.run_dir).status == "complete":
            (self.run_dir / MARKER).write_text(self.token + "\n")

    def summary_line(self) -> str | None:
        if not self.done:
            return None
        where = self.plan.reuse or self.run_dir
        if self.result is not None:
            return f"{self.display}: {self.result.summary()} (run: {where})"
        return f"{self.display}: not gated: {self.error}"


@dataclass
class Sessions:
    """Every suite collected in this pytest session."""

    settings: Settings
    config: pytest.Config
    token: str
    worker: bool
    suites: dict[Path, SuiteSession] = field(default_factory=dict)
    _out_root: Path | None = None

    @property
    def out_root(self) -> Path:
        # Resolved on first use: pytest's tmp_path_factory is not set up yet when our pytest_configure runs.
        if self._out_root is None:
            self._out_root = self.settings.out or _default_out(self.config, worker=self.worker)
        return self._out_root

    @staticmethod
    def install(config: pytest.Config, settings: Settings) -> Sessions:
        workerinput = getattr(config, "workerinput", None)  # set on pytest-xdist workers
        token = str(workerinput["testrunuid"]) if workerinput else uuid.uuid4().hex
        sessions = Sessions(settings, config, token, worker=workerinput is not None)
        config.stash[_SESSIONS] = sessions
        return sessions

    @staticmethod
    def of(config: pytest.Config) -> Sessions:
        return config.stash[_SESSIONS]

    def add(self, plan: SuitePlan, display: str) -> SuiteSession:
        key = plan.path.resolve()
        if key not in self.suites:
            taken = {s.run_dir.name for s in self.suites.values()}
            name, n = plan.path.stem, 1
            while name in taken:
                n += 1
                name = f"{plan.path.stem}-{n}"
            self.suites[key] = SuiteSession(plan, display, self.out_root / name, self.settings, self.token)
        return self.suites[key]

    def summary_lines(self) -> list[str]:
        return [line for s in self.suites.values() if (line := s.summary_line()) is not None]


def _default_out(config: pytest.Config, *, worker: bool) -> Path:
    """``<basetemp>/evalkit``: shared by the xdist workers (their basetemps are folders of the controller's)."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="evalkit-pytest-"))
    base = Path(factory.getbasetemp())
    return (base.parent if worker else base) / "evalkit"
