"""The collection tree of a suite: ``suite.yaml::run`` and ``suite.yaml::<check id>``.

A check's id (:func:`evalkit.gate.plan_checks`, the same as the gate's ``Check.id``) is
``<language>::<metric>::<check>``: ``<check>`` is ``min``, ``max`` or ``range`` for a threshold and
``regression`` for the comparison with the baseline, with ``[variant]`` appended when the suite has
several prompt variants (``suites/quickstart.yaml::th::chrf++::regression[into_lang]``); a
``pairwise:`` judge check is ``<language>::pairwise::<judge model>``. Node ids are known at
collection, so ``-k``, ``--lf``, ``--deselect`` and node-id arguments select checks without running
anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import pytest

from evalkit.errors import EvalkitError
from evalkit.gate import RUN_LANGUAGE, Check, GateResult, PlannedCheck
from evalkit.pytest_plugin._explain import explain
from evalkit.pytest_plugin._plan import plan_suite
from evalkit.pytest_plugin._session import Sessions, SuiteSession
from evalkit.terminal import safe_text


class EvalkitWarning(pytest.PytestWarning):
    """A gate warning (e.g. insufficient data with ``on_insufficient: warn``)."""


class CheckFailed(Exception):
    """A gate check failed; the message is what pytest shows."""


def _one_line(exc: BaseException) -> str:
    return safe_text(str(exc))


class SuiteFile(pytest.File):
    """An evalkit suite file: one test per gate check, plus ``run``."""

    session_data: SuiteSession

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        sessions = Sessions.of(self.config)
        s = sessions.settings
        self.add_marker(pytest.mark.evalkit)  # every test of the suite: `-m evalkit` / `-m "not evalkit"`
        plan = plan_suite(self.path, gates_file=s.gates, baseline_root=s.baseline, reuse_root=s.reuse)
        self.session_data = sessions.add(plan, self.nodeid)
        yield RunItem.from_parent(self, name="run")
        for language in plan.languages:
            mine = [c for c in plan.checks if c.language == language]
            if mine:
                yield LanguageNode.from_parent(self, name=language, checks=mine)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, EvalkitError):  # bad input: the one line naming file, line and field
            return _one_line(excinfo.value)
        return super().repr_failure(excinfo)


class _ChecksNode(pytest.Collector):
    """A node of the tree holding the planned checks below it."""

    def __init__(self, *, checks: list[PlannedCheck], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checks = checks


class LanguageNode(_ChecksNode):
    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        for metric in dict.fromkeys(c.metric for c in self.checks):
            yield MetricNode.from_parent(self, name=metric, checks=[c for c in self.checks if c.metric == metric])


class MetricNode(_ChecksNode):
    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        for check in self.checks:
            yield CheckItem.from_parent(self, name=check.parts[2], planned=check)


class _GateItem(pytest.Item):
    def suite_session(self) -> SuiteSession:
        suite = self.getparent(SuiteFile)
        assert suite is not None
        return suite.session_data

    def gate(self) -> GateResult:
        session = self.suite_session()
        try:
            return session.gate()
        except EvalkitError as exc:
            if isinstance(self, RunItem):
                raise
            raise CheckFailed(f"not checked: the evalkit run of {session.display} failed "
                              f"({session.display}::run): {_one_line(exc)}") from exc

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed | EvalkitError):
            return str(excinfo.value) if isinstance(excinfo.value, CheckFailed) else _one_line(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        # The failure's headline. Not the bare node id: pytest -v would then show "plug::yaml::run"
        # (it turns the dots of a domain that ends the node id into "::", as for Python names).
        return self.path, None, f"evalkit {self.nodeid}"


def _warn(item: pytest.Item, message: str) -> None:
    """A warning attributed to the suite file (pytest's summary shows where it comes from)."""
    warnings.warn_explicit(EvalkitWarning(message), EvalkitWarning, str(item.path), 1)


def _verdict(item: pytest.Item, check: Check, result: GateResult, show: int) -> None:
    if not check.passed:
        raise CheckFailed(explain(check, result, show))
    if check.status == "insufficient":
        _warn(item, f"WARN {check.message}")


class RunItem(_GateItem):
    """Runs the suite (once per session) and checks the run itself: complete, and no unexpected check."""

    def runtest(self) -> None:
        session = self.suite_session()
        result = self.gate()
        for w in result.warnings:
            _warn(self, f"WARN {w}")
        planned = {c.id for c in session.plan.checks}
        extra = [c for c in result.checks if c.language == RUN_LANGUAGE or c.id not in planned]
        for c in extra:
            if c.passed and c.language != RUN_LANGUAGE:  # the plan missed a check: say so, never hide it
                _warn(self, f"WARN gate check {c.id} has no test of its own ({c.message})")
        failed = [c for c in extra if not c.passed]
        if failed:
            raise CheckFailed("\n".join([f"FAIL {c.message}" for c in failed] + [f"run: {result.run.path}"]))


class CheckItem(_GateItem):
    """One gate check."""

    def __init__(self, *, planned: PlannedCheck, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.planned = planned

    def runtest(self) -> None:
        result = self.gate()
        check = next((c for c in result.checks if c.id == self.planned.id), None)
        if check is None:
            raise CheckFailed(f"FAIL {self.planned.language} {self.planned.metric}: the gate made no "
                              f"{self.planned.kind} check for it (no scored items?)\nrun: {result.run.path}")
        _verdict(self, check, result, self.suite_session().settings.show)
