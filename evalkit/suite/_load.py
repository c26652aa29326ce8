"""Load a suite file: YAML → schema → cases, with every problem located as file:line:col."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from evalkit._hints import did_you_mean
from evalkit.errors import Location, SuiteError, SuiteErrors
from evalkit.languages import canonical_code
from evalkit.suite import _limits, _schema
from evalkit.suite._cases import (
    Case,
    check_case_id,
    count_cases,
    file_format,
    iter_dataset_cases,
    iter_file_cases,
    not_utf8,
    resolve_data_path,
)
from evalkit.suite._schema import DatasetCases, FileCases, Suite
from evalkit.suite._yaml import PositionedYaml, format_path, load_positioned


def _all_field_names() -> list[str]:
    names: set[str] = set()
    for obj in vars(_schema).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            names.update(obj.model_fields)
    return sorted(names)


@dataclass
class LoadedSuite:
    """A validated suite file, ready to plan items from."""

    spec: Suite
    path: Path
    text: str
    positioned: PositionedYaml
    allow_outside_paths: bool = False
    _cases: list[Case] | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def display(self) -> str:
        return self.positioned.file

    def locate(self, *path: str | int) -> Location:
        return self.positioned.locate(path, format_path(path))

    def locate_case_field(self, case: Case, name: str) -> Location:
        """Where a field of a case is: its own line for an inline case, else the case's file:line."""
        where = case.where
        inline = re.fullmatch(r"cases\[(\d+)\]", where.field or "")
        if inline and isinstance(self.spec.cases, list) and where.file == self.display:
            index = int(inline.group(1))
            at = self.locate("cases", index, name)
            return Location(at.file, at.line, at.column, f"cases[{index}].{name}")
        return Location(where.file, where.line, where.column, f"{where.field}.{name}" if where.field else name)

    def iter_cases(self) -> Iterator[Case]:
        """Cases in file order, streamed from disk for file and dataset sources; a plan of more than
        ``MAX_ITEMS`` items is refused (before reading for inline lists and JSONL files)."""
        if self._cases is not None:
            yield from self._cases
            return
        spec = self.spec
        # Long-format data: a case is (mostly) in one language; one in several is counted once.
        long_format = spec.case_language is not None
        per_case = (1 if long_format else len(spec.languages)) * len(spec.prompts) * spec.repeats
        languages = "1 language each" if long_format else f"{len(spec.languages)} languages"
        shape = f"{languages} x {len(spec.prompts)} prompt variants x {spec.repeats} repeats"
        cases = spec.cases
        suite_dir = self.path.parent
        source: Iterator[Case]
        if isinstance(cases, list):
            _limits.check_items(len(cases), per_case, self.locate("cases"), shape)
            source = self._inline_cases(cases)
        elif isinstance(cases, FileCases):
            where = self.locate("cases", "file")
            path = resolve_data_path(suite_dir, cases.file, where, self.allow_outside_paths)
            display = _display_path(path)
            if file_format(cases, path) == "jsonl" and path.is_file():
                total = count_cases(path, display)
                _limits.check_items(min(total, cases.limit or total), per_case, where, shape)
            source = iter_file_cases(cases, path, display, where)
        elif isinstance(cases, DatasetCases):
            source = iter_dataset_cases(cases, suite_dir, self.locate("cases", "dataset"), self.allow_outside_paths)
        for count, case in enumerate(source, start=1):
            _limits.check_items(count, per_case, case.where, shape)  # CSV and datasets: counted as they stream
            yield case

    def _inline_cases(self, cases: list[dict[str, Any]]) -> Iterator[Case]:
        for index, row in enumerate(cases):
            where = self.locate("cases", index)
            if not isinstance(row, dict):
                raise SuiteError("each inline case must be a mapping", where)
            raw_id = row.get("id")
            case_id = str(raw_id) if raw_id not in (None, "") else f"case-{index + 1}"
            at = self.locate("cases", index, "id")
            check_case_id(case_id, Location(at.file, at.line, at.column, "id"))
            yield Case(case_id, row, where)


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_CASE_BRANCHES = {"list[dict[str,any]]": "list", "FileCases": "file", "DatasetCases": "dataset"}


def _case_branch(data: dict[str, Any]) -> str:
    """Which shape of ``cases`` the user meant: errors from the other union branches are noise."""
    cases = data.get("cases")
    if isinstance(cases, dict):
        return "dataset" if "dataset" in cases else "file"
    return "list"


def _did_you_mean(value: object, choices: list[str]) -> str:
    if not isinstance(value, str):
        return ""
    return did_you_mean(value, choices, " (did you mean {!r}?)")


def _schema_errors(exc: ValidationError, positioned: PositionedYaml) -> list[SuiteError]:
    errors: list[SuiteError] = []
    known = _all_field_names()
    branch = _case_branch(positioned.data)
    raw = exc.errors()
    # A typo'd key ("langauges") also makes the real one missing: report the typo only.
    suggested: set[tuple[Any, ...]] = set()
    for err in raw:
        if err["type"] == "extra_forbidden" and err["loc"]:
            for close in difflib.get_close_matches(str(err["loc"][-1]), known, n=1):
                suggested.add((*err["loc"][:-1], close))
    for err in raw:
        loc = tuple(err["loc"])
        if loc[:1] == ("cases",) and len(loc) > 1 and loc[1] in _CASE_BRANCHES:
            if _CASE_BRANCHES[str(loc[1])] != branch:
                continue
            loc = (loc[0], *loc[2:])
        path = loc
        kind = err["type"]
        if kind == "missing" and path in suggested:
            continue
        if kind == "extra_forbidden":
            key = str(path[-1]) if path else "?"
            message = f"unknown key {key!r}" + _did_you_mean(key, known)
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "too_short" and isinstance(err.get("input"), list | dict) and not err["input"]:
            message = "is empty; give at least one entry"  # not pydantic's "List should have at least 1 item ..."
        else:
            message = err["msg"].removeprefix("Value error, ")
            if "input" in err and kind.startswith(("literal", "enum")):
                expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
                message += f" (got {err['input']!r})" + _did_you_mean(err["input"], expected)
        errors.append(SuiteError(message, positioned.locate(path, format_path(path) or "suite")))
    # A union (inline list | file | dataset) reports one error per branch; keep the most specific.
    return _dedupe(errors)


def _dedupe(errors: list[SuiteError]) -> list[SuiteError]:
    seen: set[str] = set()
    out = []
    for e in errors:
        if e.message not in seen:
            seen.add(e.message)
            out.append(e)
    return out


def load_suite(path: str | Path, *, allow_outside_paths: bool = False) -> LoadedSuite:
    """Parse and schema-check a suite: a file, or a built-in suite's name (``"translation"``; a file of that
    name in the working directory comes first). Raises ``SuiteError`` (or ``SuiteErrors``) with locations."""
    from evalkit.suites import find_suite, hint

    given = path
    path = find_suite(path)
    display = _display_path(path)
    cap = _limits.limit("MAX_SUITE_BYTES")
    try:
        with path.open("rb") as handle:
            raw = handle.read(cap + 1)  # never more: the file may be huge, or a device that never ends
            size = max(len(raw), os.fstat(handle.fileno()).st_size)
    except FileNotFoundError:
        # A bare name may have meant a built-in suite: say which ones there are.
        names = hint(str(given)) if Path(given).parent == Path(".") else ""
        raise SuiteError("suite file not found" + names, Location(display)) from None
    except IsADirectoryError:
        raise SuiteError("is a directory, not a suite file", Location(display)) from None
    if len(raw) > cap:
        raise SuiteError(
            f"the suite file is {size:,} bytes, more than the limit of {cap:,} bytes; put cases in a JSONL or "
            f"CSV file (cases: {{file: ...}}), or raise the limit with {_limits.env_name('MAX_SUITE_BYTES')}",
            Location(display, 1),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(*not_utf8(raw, exc.start, display)) from None
    positioned = load_positioned(text, display)
    if not isinstance(positioned.data, dict):
        raise SuiteError("a suite must be a YAML mapping", Location(display, 1, 1))
    data: dict[str, Any] = positioned.data
    try:
        spec = Suite.model_validate(data)
    except ValidationError as exc:
        errors = _schema_errors(exc, positioned)
        raise (errors[0] if len(errors) == 1 else SuiteErrors(errors)) from None
    _check_names(spec, positioned)
    return LoadedSuite(spec, path, text, positioned, allow_outside_paths)


def _check_names(spec: Suite, positioned: PositionedYaml) -> None:
    """Languages listed once (``de``, ``DE`` and ``deu_Latn`` are one language), no control characters in language
    codes or prompt variant names (they are parts of item ids, joined with "\\x1f")."""
    first: dict[str, int] = {}
    for index, code in enumerate(spec.languages):
        where = positioned.locate(("languages", index), "languages")
        bad = _limits.control_character(code)
        if bad:
            raise SuiteError(f"language code {code!r} contains a control character ({bad})", where)
        key = canonical_code(code)
        if key in first:
            other = first[key]
            line = positioned.locate(("languages", other)).line
            same = spec.languages[other]
            as_ = f" (as {same!r} on line {line})" if same != code else ""
            raise SuiteError(f"language {code!r} listed twice{as_}", where)
        first[key] = index
    _check_models(spec, positioned)
    for name in spec.prompts:
        bad = _limits.control_character(name)
        if bad:
            raise SuiteError(f"prompt variant name {name!r} contains a control character ({bad})",
                             positioned.locate(("prompts", name), format_path(("prompts", name))))


def _check_models(spec: Suite, positioned: PositionedYaml) -> None:
    """A ``models:`` list names each model once, by a non-empty name, and replaces ``model.name`` (not both)."""
    if spec.models is None:
        return
    model = positioned.data.get("model")
    if isinstance(model, dict) and "name" in model:
        raise SuiteError(f"give the model in model.name or in models, not both (models: {', '.join(spec.models)})",
                         positioned.locate(("model", "name"), "model.name"))
    first: dict[str, int] = {}
    for index, name in enumerate(spec.models):
        where = positioned.locate(("models", index), f"models[{index}]")
        if not name.strip():
            raise SuiteError("a model name cannot be empty", where)
        if name in first:
            line = positioned.locate(("models", first[name])).line
            raise SuiteError(f"model {name!r} is listed twice (first on line {line}); name each model once", where)
        first[name] = index

