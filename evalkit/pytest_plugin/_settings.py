"""The plugin's settings: command-line options, each also settable as an ini key (pytest.ini,
pyproject.toml ``[tool.pytest.ini_options]``, tox.ini, setup.cfg).

This module imports nothing heavy: it runs at every pytest start-up, plugin active or not.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import pytest

# (option, ini key, help). Paths on the command line are relative to the current directory,
# paths in an ini file relative to that file's directory.
_PATH_OPTIONS = [
    ("--evalkit-baseline", "evalkit_baseline",
     "baseline run directory: regression checks against it (a run, or a folder with one run per suite file stem)"),
    ("--evalkit-gates", "evalkit_gates", "gates file (default: the suite's gates: section)"),
    ("--evalkit-out", "evalkit_out",
     "where runs are written, one folder per suite file stem (default: a folder in pytest's basetemp)"),
    ("--evalkit-run", "evalkit_run",
     "gate this finished run directory instead of running the suite (a run, or a folder with one run per suite)"),
]
_TEXT_OPTIONS = [
    ("--evalkit-model", "evalkit_model", "model to run the suites on (overrides the suite's model.name)"),
    ("--evalkit-base-url", "evalkit_base_url", "OpenAI-compatible base URL (overrides the suite's model.base_url)"),
]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalkit", "evalkit quality gates as tests (docs/pytest.md)")
    group.addoption("--evalkit", action="append", default=[], metavar="SUITE", dest="evalkit_suites",
                    help="collect this evalkit suite file: one test per gate check (repeatable)")
    parser.addini("evalkit_suites", "evalkit suite files to collect (one per line)", type="linelist", default=[])
    parser.addini("evalkit_suite_files", "opt in: collect suite files in the test paths matching these glob "
                  "patterns (e.g. evalkit_*.yaml)", type="args", default=[])
    for flag, key, text in _PATH_OPTIONS + _TEXT_OPTIONS:
        group.addoption(flag, action="store", default=None, dest=key, metavar=key.split("_", 1)[1].upper(), help=text)
        parser.addini(key, text, default="")
    group.addoption("--evalkit-show", action="store", type=int, default=None, dest="evalkit_show", metavar="N",
                    help="items shown under a failing check (default 3)")
    parser.addini("evalkit_show", "items shown under a failing check (default 3)", default="3")


@dataclass(frozen=True)
class Settings:
    """What the user asked for, with every path made absolute."""

    suites: tuple[Path, ...]
    patterns: tuple[str, ...]
    model: str | None
    base_url: str | None
    baseline: Path | None
    gates: Path | None
    out: Path | None
    reuse: Path | None
    show: int

    @property
    def active(self) -> bool:
        return bool(self.suites or self.patterns)

    def wants(self, path: Path) -> bool:
        """Is ``path`` a suite file to collect?"""
        if path.suffix not in (".yaml", ".yml"):
            return False
        if path.resolve() in self.suites:
            return True
        return any(fnmatch.fnmatch(path.name, pattern) for pattern in self.patterns)


def read_settings(config: pytest.Config) -> Settings:
    cwd = config.invocation_params.dir
    ini_dir = config.inipath.parent if config.inipath else config.rootpath

    def value(key: str) -> tuple[str | None, Path]:
        cli = config.getoption(key)
        if cli:
            return str(cli), cwd
        ini = str(config.getini(key) or "").strip()
        return (ini or None), ini_dir

    def path(key: str) -> Path | None:
        text, base = value(key)
        return (base / text).resolve() if text else None

    suites = [(cwd / s).resolve() for s in config.getoption("evalkit_suites") or []]
    suites += [(ini_dir / s).resolve() for s in config.getini("evalkit_suites")]
    show = config.getoption("evalkit_show")
    if show is None:
        try:
            show = int(str(config.getini("evalkit_show")))
        except ValueError:
            raise pytest.UsageError(f"evalkit_show: expected a number, got {config.getini('evalkit_show')!r}") from None
    return Settings(
        suites=tuple(dict.fromkeys(suites)),
        patterns=tuple(config.getini("evalkit_suite_files")),
        model=value("evalkit_model")[0],
        base_url=value("evalkit_base_url")[0],
        baseline=path("evalkit_baseline"),
        gates=path("evalkit_gates"),
        out=path("evalkit_out"),
        reuse=path("evalkit_run"),
        show=max(0, show),
    )
