"""evalkit as a pytest plugin: every gate check of a suite becomes a test (docs/pytest.md).

Registered through the ``pytest11`` entry point, so it is loaded by every pytest run in an
environment where evalkit is installed; it does nothing until asked (``--evalkit SUITE``, or the
``evalkit_suites`` / ``evalkit_suite_files`` ini keys) and imports no heavy evalkit module before
that. The fixtures (``evalkit_run``, ``evalkit_server``) are always available and cost nothing
until a test requests them.

    suite file ──SuiteFile.collect──> run · language › metric › min|max|range|regression, language › pairwise › JUDGE
                                      (one item per check of evalkit.gate.plan_checks, named by its id)
    first item that needs it ──SuiteSession.result──> evalkit.run (once per session) → run_gate → GateResult
    each item ──> its Check: pass, or fail with the check's line and the worst regressed items

Under pytest-xdist the controller hands its workers the session's id and run folder, and gathers
their summary lines; the workers share each suite's run (see ``_session``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from evalkit.pytest_plugin._settings import Settings, add_options, read_settings

if TYPE_CHECKING:
    from evalkit.pytest_plugin._fixtures import RunHandle
    from evalkit.testing.server import FakeOpenAIServer

SETTINGS = pytest.StashKey[Settings]()

__all__ = ["EvalkitWarning", "RunHandle", "evalkit_run", "evalkit_server"]

_LAZY = {"RunHandle": "evalkit.pytest_plugin._fixtures", "EvalkitWarning": "evalkit.pytest_plugin._nodes"}


def __getattr__(name: str) -> Any:
    """``RunHandle`` (for annotations in users' tests) and ``EvalkitWarning``, imported on first use."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    settings = read_settings(config)
    config.stash[SETTINGS] = settings
    config.addinivalue_line("markers", "evalkit: a check of an evalkit quality gate (collected from a suite file)")
    if not settings.active:
        return
    from evalkit.pytest_plugin._session import Sessions

    Sessions.install(config, settings)
    if getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistController(config, settings), "evalkit-xdist-controller")
    # Suites named on the command line are collected even when they lie outside the test paths.
    known = {Path(a.split("::")[0]).resolve() for a in config.args}
    config.args = [*config.args, *(str(s) for s in settings.suites if s not in known)]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    settings = parent.config.stash.get(SETTINGS, None)
    if settings is None or not settings.active or not settings.wants(file_path):
        return None
    from evalkit.pytest_plugin._nodes import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


def _active(config: pytest.Config) -> bool:
    settings = config.stash.get(SETTINGS, None)
    return settings is not None and settings.active


# --- pytest-xdist (docs/pytest.md): optional hooks, called only when xdist is installed and used ---


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the xdist controller: hand a worker this session's id and the folder the runs go to."""
    if _active(node.config):
        from evalkit.pytest_plugin._session import WORKER_INPUT, Sessions

        node.workerinput[WORKER_INPUT] = Sessions.of(node.config).worker_input()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: send the controller the summary lines of the suites this worker gated."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _active(session.config):
        from evalkit.pytest_plugin._session import WORKER_OUTPUT, Sessions

        workeroutput[WORKER_OUTPUT] = [list(pair) for pair in Sessions.of(session.config).own_lines()]


class _XdistController:
    """On the xdist controller: a suite that cannot be collected stops nothing there (the workers go on
    with the other tests) but still makes the session's exit code pytest's 2 for collection errors,
    as without xdist, not the 1 of failed tests."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.bad_suite = False

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.settings.wants(self.config.rootpath / report.nodeid.split("::")[0]):
            self.bad_suite = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.bad_suite and session.exitstatus == pytest.ExitCode.TESTS_FAILED:
            session.exitstatus = pytest.ExitCode.INTERRUPTED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: keep a finished worker's summary lines for the terminal summary."""
    if not _active(node.config):
        return
    from evalkit.pytest_plugin._session import WORKER_OUTPUT, Sessions

    lines = (getattr(node, "workeroutput", None) or {}).get(WORKER_OUTPUT)  # none when the worker crashed
    if lines:
        Sessions.of(node.config).add_worker_lines(lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _active(config):
        return
    from evalkit.pytest_plugin._session import Sessions

    lines = Sessions.of(config).summary_lines()
    if lines:
        terminalreporter.section("evalkit")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def evalkit_run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., RunHandle]:
    """Run a suite (or load a finished run directory) and assert on it::

        def test_german(evalkit_run):
            run = evalkit_run("suites/translation.yaml", languages=["de"], limit=5)
            assert run.score("chrf++", "de") >= 40

    Keyword arguments: ``model``, ``base_url``, ``languages``, ``prompts``, ``limit``, ``out``
    (default: a folder in the test's ``tmp_path``), ``use_cache``. ``model`` and ``base_url``
    default to ``--evalkit-model`` / ``--evalkit-base-url``. Returns a :class:`RunHandle`.
    """
    from evalkit.pytest_plugin._fixtures import RunFactory

    settings = request.config.stash.get(SETTINGS, None) or read_settings(request.config)
    return RunFactory(tmp_path, model=settings.model, base_url=settings.base_url)


@pytest.fixture
def evalkit_server() -> Iterator[FakeOpenAIServer]:
    """evalkit's OpenAI-compatible test server on 127.0.0.1, running for one test.

    It echoes the last user message until given a responder (``set_responder``); faults are
    injected with ``set_faults`` (see ``evalkit.testing``). Point a run at ``.base_url``."""
    from evalkit.testing import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        yield server
