"""The built-in suites, shipped inside the package: ``evalkit run translation``, ``evalkit suites``,
``evalkit init --from translation``. The repository's ``suites/`` folder is a link to this one.

A suite argument names a file when one exists at that path, else a built-in suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit._hints import did_you_mean
from evalkit.errors import UsageError

SUITES_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """The built-in suites' names, sorted."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def builtin_path(name: str) -> Path | None:
    """The file of built-in suite ``name`` (``"translation"`` or ``"translation.yaml"``), else ``None``."""
    stem = name.removesuffix(".yaml")
    return SUITES_DIR / f"{stem}.yaml" if stem in names() else None


def find_suite(arg: str | Path) -> Path:
    """The suite file for a command-line argument: an existing path, else a built-in suite's file,
    else the argument unchanged (reading it reports the missing file)."""
    path = Path(arg)
    if path.exists() or path.parent != Path("."):
        return path
    return builtin_path(str(arg)) or path


def resolve_suite(arg: str | Path) -> Path:
    """Like ``find_suite``, but a name that is neither a file nor a built-in suite is a ``UsageError``
    naming the nearest built-in suite."""
    path = find_suite(arg)
    if not path.exists():
        suffix = hint(str(arg)) if path.parent == Path(".") else ""
        raise UsageError(f"{arg}: no such file, and no built-in suite of that name{suffix}")
    return path


def hint(arg: str) -> str:
    """`` (did you mean 'translation'? built-in: ...; see `evalkit suites`)``"""
    mean = did_you_mean(Path(arg).stem, names(), "did you mean {!r}? ")
    return f" ({mean}built-in: {', '.join(names())}; see `evalkit suites`)"


@dataclass(frozen=True)
class SuiteInfo:
    """What ``evalkit suites`` shows about one built-in suite."""

    name: str
    path: Path
    description: str
    languages: tuple[str, ...]
    prompts: int
    cases: int
    items: int


def describe(name: str) -> SuiteInfo:
    """Load built-in suite ``name`` and count its cases and items (cases × languages × prompts × repeats)."""
    from evalkit.suite import load_suite

    path = SUITES_DIR / f"{name}.yaml"
    suite = load_suite(path)
    spec = suite.spec
    cases = sum(1 for _ in suite.iter_cases())
    items = cases * len(spec.languages) * len(spec.prompts) * spec.repeats
    return SuiteInfo(name, path, spec.description, tuple(spec.languages), len(spec.prompts), cases, items)


def data_files(path: Path) -> list[str]:
    """The data files a suite reads, relative to its folder (what ``init --from`` copies with it)."""
    from evalkit.suite import load_suite
    from evalkit.suite._schema import FileCases

    cases = load_suite(path).spec.cases
    return [cases.file] if isinstance(cases, FileCases) else []
