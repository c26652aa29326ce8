"""Where custom scorers come from. Code runs only when the person running evalkit asked for it:

* a module or path named with ``--plugin`` (run, validate) or in ``EVALKIT_PLUGINS``
  (``os.pathsep``-separated, like ``PYTHONPATH``), imported before the suite is read;
* an installed package listing the scorer under the ``evalkit.scorers`` entry point group,
  imported when a suite names that scorer (installing the package was the opt-in).

A suite alone never imports anything: a name that is neither built in nor registered this way is
a suite error saying how to enable it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel

from evalkit._hints import did_you_mean
from evalkit.errors import UsageError
from evalkit.scoring._custom import ScorerDefinition, define

ENTRY_POINT_GROUP = "evalkit.scorers"
ENV_VAR = "EVALKIT_PLUGINS"
# The suite schema's built-in scorer names (tests/test_plugin_protocol.py ties the two).
BUILTIN_NAMES = ("bleu", "chrf", "ter", "exact_match", "contains", "regex", "language", "judge")
_MARK = "__evalkit_scorer__"

_registered: dict[str, ScorerDefinition] = {}
_loaded: list[str] = []  # --plugin / EVALKIT_PLUGINS specs imported, in order (worker processes import them too)
_env_seen: str | None = None

T = TypeVar("T")


def register(definition: ScorerDefinition) -> None:
    name = definition.name
    if name in BUILTIN_NAMES:
        raise UsageError(f"plugin scorer {name!r} ({definition.identity}) has the name of a built-in scorer; rename it")
    old = _registered.get(name)
    if old is not None and old.identity != definition.identity:
        raise UsageError(f"two plugins define the scorer {name!r} ({old.identity}; {definition.identity}); "
                         "enable only one, or rename one")
    _registered[name] = definition


def scorer(name: str | Callable[..., Any] | None = None, *, binary: bool = False, higher_is_better: bool = True,
           references: bool = False, fields: Sequence[str] = (), options: type[BaseModel] | None = None,
           version: str | None = None, aggregate: Callable[[Sequence[float]], float] | None = None) -> Any:
    """Register a custom scorer (``@evalkit.scorer(...)`` on a function or a ``CustomScorer`` subclass).

    ``binary``: values are 0/1 (a pass rate: Wilson intervals, McNemar in compare); otherwise values
    in [0, 1] averaged over items (shown 0-100) unless ``aggregate`` turns summed ``Score.stats`` into
    the corpus value. ``references``: items without references are skipped. ``fields``: case fields
    the scorer reads (only these are handed over, and they are part of the score cache key).
    ``options``: a pydantic model for the suite's options. ``version``: bump it when the scores change.
    """

    def decorate(target: T) -> T:
        definition = define(target, name if isinstance(name, str) else None, binary=binary,
                            higher_is_better=higher_is_better, needs_references=references, fields=tuple(fields),
                            options=options, version=version, aggregate=aggregate)
        register(definition)
        setattr(target, _MARK, definition)
        return target

    if callable(name) and not isinstance(name, str):  # bare @evalkit.scorer
        target, name = name, None
        return decorate(target)
    return decorate


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or os.sep in spec or Path(spec).is_dir()


def _import_path(spec: str) -> ModuleType:
    path = Path(spec).expanduser().resolve()
    package = path.is_dir()
    source = path / "__init__.py" if package else path
    if not source.is_file():
        raise UsageError(f"--plugin {spec}: no such {'package (no __init__.py)' if package else 'file'}")
    module_name = path.name if package else path.stem
    if not module_name.isidentifier():
        raise UsageError(f"--plugin {spec}: {module_name!r} is not a valid module name")
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__file__", None) == str(source):
        return existing
    if existing is not None:
        raise UsageError(f"--plugin {spec}: a different module named {module_name!r} is already imported; rename it")
    spec_obj = importlib.util.spec_from_file_location(module_name, source,
                                                      submodule_search_locations=[str(path)] if package else None)
    assert spec_obj is not None and spec_obj.loader is not None
    module = importlib.util.module_from_spec(spec_obj)
    sys.modules[module_name] = module
    try:
        spec_obj.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load_plugin(spec: str) -> list[str]:
    """Import a plugin module (dotted name) or file/package path; the names of the scorers it registers."""
    spec = spec.strip()
    if not spec:
        raise UsageError("--plugin needs a module name or a path")
    try:
        module = _import_path(spec) if _is_path(spec) else importlib.import_module(spec)
    except UsageError:
        raise
    except Exception as exc:  # the plugin's own import failed: one line, never a traceback
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise UsageError(f"--plugin {spec}: could not import it ({detail})") from None
    names = sorted(d.name for obj in vars(module).values()
                   if isinstance(d := getattr(obj, _MARK, None), ScorerDefinition))
    if not names:
        raise UsageError(f"--plugin {spec}: defines no scorer (decorate a function with @evalkit.scorer)")
    if spec not in _loaded:
        _loaded.append(spec)
    return names


def load_plugins(specs: Sequence[str]) -> None:
    for spec in specs:
        load_plugin(spec)


def load_env_plugins() -> None:
    """The plugins named in ``EVALKIT_PLUGINS`` (once per value of the variable)."""
    global _env_seen
    value = os.environ.get(ENV_VAR, "")
    if value == _env_seen:
        return
    _env_seen = value
    load_plugins([s for s in value.split(os.pathsep) if s.strip()])


def _from_entry_point(name: str) -> ScorerDefinition | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        where = f"{ep.value}" + (f" from {ep.dist.name} {ep.dist.version}" if ep.dist is not None else "")
        try:
            target = ep.load()
            definition = getattr(target, _MARK, None)
            if not isinstance(definition, ScorerDefinition):
                definition = define(target, name)
                register(definition)
        except UsageError:
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise UsageError(f"scorer {name!r}: the installed plugin {where} could not be loaded ({detail})") from None
        if definition.name != name:
            raise UsageError(f"scorer {name!r}: the entry point {where} names a scorer called {definition.name!r}")
        return definition
    return None


def lookup(name: str) -> ScorerDefinition | None:
    """The custom scorer ``name``: registered already, in ``EVALKIT_PLUGINS``, or an installed entry point."""
    definition = _registered.get(name)
    if definition is None:
        load_env_plugins()
        definition = _registered.get(name) or _from_entry_point(name)
    return definition


def loaded_plugins() -> list[str]:
    return list(_loaded)


def not_registered(name: str) -> str:
    """The one line for a suite naming a scorer that no enabled plugin provides."""
    hint = did_you_mean(name, [*BUILTIN_NAMES, *_registered], " (did you mean {!r}?)")
    return (f"unknown scorer (got {name!r}){hint}; built in: {', '.join(BUILTIN_NAMES)}; a plugin's scorer must be "
            f"enabled with --plugin MODULE_OR_PATH, {ENV_VAR}, or an installed package listing it under the "
            f"{ENTRY_POINT_GROUP!r} entry point (a suite never imports code)")
