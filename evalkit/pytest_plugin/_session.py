"""Running each collected suite once per pytest session, and gating the run.

The run starts when the first of a suite's tests executes (never at collection), goes to
``OUT/<suite file stem>`` with the response cache, and is gated once; every item of the suite then
reads its check from that one :class:`~evalkit.gate.GateResult`.

With pytest-xdist every worker (a process of its own) collects the same items. The controller hands
each worker its session's id and output folder (:func:`worker_input`); under a file lock beside the
run directory, the first worker that needs a suite runs it and records the outcome (``.<stem>.pytest-session``:
the session's id, then the run's error if it failed), and the others gate that run directory, or
fail with that error, without running anything. A later session (another id) resumes the run as
the CLI would. Each worker sends its summary lines back, and the controller prints them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.gate import GateResult, run_gate
from evalkit.pytest_plugin._plan import SuitePlan
from evalkit.pytest_plugin._settings import Settings
from evalkit.results import MANIFEST

_SESSIONS = pytest.StashKey["Sessions"]()
WORKER_INPUT = "evalkit"  # key of the controller's hand-over in an xdist worker's ``workerinput``
WORKER_OUTPUT = "evalkit_summary"  # key of a worker's summary lines in its ``workeroutput``


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
                self._run_once()
        return run_gate(self.plan.reuse or self.run_dir, baseline=self.plan.baseline, gates=self.plan.gates)

    @property
    def _record(self) -> Path:
        """This session's outcome of the run, shared by the xdist workers (read and written under the lock)."""
        return self.run_dir.parent / f".{self.run_dir.name}.pytest-session"

    def _run_once(self) -> None:
        """Run the suite unless another worker of this session did; re-raise that worker's error."""
        try:
            token, _, error = self._record.read_text(encoding="utf-8").partition("\n")
        except (OSError, UnicodeDecodeError):
            token, error = "", ""
        if token == self.token and error:
            raise EvalkitError(error.strip())
        if token == self.token and (self.run_dir / MANIFEST).is_file():
            return
        try:
            self._run()
        except Exception as exc:
            message = str(exc) if isinstance(exc, EvalkitError) else f"{type(exc).__name__}: {exc}"
            self._write_record(" ".join(message.split()) or type(exc).__name__)
            raise
        self._write_record("")

    def _write_record(self, error: str) -> None:
        self._record.write_text(f"{self.token}\n{error}", encoding="utf-8")

    def _run(self) -> None:
        from evalkit import RunOptions, run

        argv = ["pytest", "--evalkit", str(self.plan.path)]
        options = RunOptions(out_dir=self.run_dir, model=self.settings.model, base_url=self.settings.base_url,
                             argv=argv)
        run(self.plan.suite, options, handle_signals=False)

    def summary_line(self) -> str | None:
        if not self.done:
            return None
        where = self.plan.reuse or self.run_dir
        if self.result is not None:
            return f"{self.display}: {self.result.summary()} (run: {where})"
        return f"{self.display}: not gated: {self.error}"


@dataclass
class Sessions:
    """Every suite collected in this pytest session (on an xdist controller: none; its workers collect)."""

    settings: Settings
    config: pytest.Config
    token: str
    worker: bool
    suites: dict[Path, SuiteSession] = field(default_factory=dict)
    from_workers: dict[str, str] = field(default_factory=dict)  # controller: display -> summary line
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
        if workerinput is None:
            sessions = Sessions(settings, config, uuid.uuid4().hex, worker=False)
        else:
            given = workerinput.get(WORKER_INPUT) or {}
            # Without the controller's id (it lacks the plugin) the run's id serves; it is not unique
            # when the user fixes it with --testrunuid.
            token = str(given.get("token") or workerinput["testrunuid"])
            out = Path(given["out"]) if given.get("out") else None
            sessions = Sessions(settings, config, token, worker=True, _out_root=out)
        config.stash[_SESSIONS] = sessions
        return sessions

    @staticmethod
    def of(config: pytest.Config) -> Sessions:
        return config.stash[_SESSIONS]

    def worker_input(self) -> dict[str, str]:
        """What the controller hands each xdist worker: this session's id and where the runs go."""
        return {"token": self.token, "out": str(self.out_root)}

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

    def own_lines(self) -> list[tuple[str, str]]:
        """(suite, summary line) of every suite this process gated or tried to."""
        return [(s.display, line) for s in self.suites.values() if (line := s.summary_line()) is not None]

    def add_worker_lines(self, lines: list[list[str]] | list[tuple[str, str]]) -> None:
        """A worker's summary lines (every worker that gated a suite sends the same line for it)."""
        for display, line in lines:
            self.from_workers.setdefault(display, line)

    def summary_lines(self) -> list[str]:
        lines = [line for _, line in self.own_lines()]
        return lines + [self.from_workers[d] for d in sorted(self.from_workers)]


def _default_out(config: pytest.Config, *, worker: bool) -> Path:
    """``<basetemp>/evalkit``. A worker that was not told the controller's folder takes its basetemp's
    parent: pytest-xdist puts the basetemps of local workers in the controller's."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="evalkit-pytest-"))
    base = Path(factory.getbasetemp())
    return (base.parent if worker else base) / "evalkit"
