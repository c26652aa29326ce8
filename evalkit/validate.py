"""Everything that can be checked without calling a model (``evalkit validate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import EvalkitError, Location, MissingDependency, SuiteError, SuiteErrors
from evalkit.items import CaseError, Planner, Selection
from evalkit.languages import is_known, unknown_hint
from evalkit.scoring import ScorerOptionsError, build_scorer
from evalkit.suite import LoadedSuite, load_suite
from evalkit.suite._yaml import load_positioned
from evalkit.suites import find_suite
from evalkit.templating import TemplateError, compile_template

if TYPE_CHECKING:
    from evalkit.gate import LoadedGates


@dataclass
class ValidationReport:
    suite: LoadedSuite | None
    cases: int = 0
    items: int = 0
    errors: list[SuiteError] = field(default_factory=list)
    # Long-format data: cases in none of the suite's languages (not planned), by their language field's value.
    skipped_languages: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_static(suite: LoadedSuite) -> list[SuiteError]:
    """Language codes, scorer options and template syntax."""
    errors: list[SuiteError] = []
    spec = suite.spec
    for i, code in enumerate(spec.languages):
        if not is_known(code):
            errors.append(SuiteError(f"unknown language code {code!r}{unknown_hint(code)}",
                                     suite.locate("languages", i)))
    targets = {c for c in spec.languages if is_known(c)} | {
        v.target_language for v in spec.prompts.values() if v.target_language and is_known(v.target_language)
    }
    for i, scorer in enumerate(spec.scorers):
        for lang in sorted(targets) or ["en"]:
            try:
                build_scorer(scorer.name, scorer.options, lang)
            except ScorerOptionsError as exc:
                errors.append(SuiteError(exc.message, suite.locate("scorers", i, scorer.name, *exc.field.split("."))))
                break
            except MissingDependency as exc:
                errors.append(SuiteError(f"{exc.message} (needed for {lang})", suite.locate("scorers", i)))
                break
    if not errors:  # the judges' options are valid: their models are known
        errors.extend(_judge_model_errors(suite))
    if spec.gates is not None:
        from evalkit.gate._spec import parse_gates

        try:
            gates = parse_gates(spec.gates, suite.positioned, ("gates",))
        except SuiteErrors as exc:
            errors.extend(exc.errors)
        except SuiteError as exc:
            errors.append(exc)
        else:
            if not errors:  # the scorers are valid: their labels are known
                errors.extend(_gate_metric_errors(suite, gates))
    for name, variant in spec.prompts.items():
        sources = {"user": variant.user, "system": variant.system, "target_language": variant.target_language}
        for j, turn in enumerate(variant.few_shot):
            sources[f"few_shot[{j}].user"] = turn.user
            sources[f"few_shot[{j}].assistant"] = turn.assistant
        for key, source in sources.items():
            if source is None:
                continue
            try:
                compile_template(source, f"prompts.{name}.{key}")
            except TemplateError as exc:
                loc = suite.locate("prompts", name, key.split("[")[0])
                line = (loc.line or 0) + (exc.line or 1) - 1 if loc.line else None
                errors.append(SuiteError(exc.message, Location(loc.file, line, loc.column, exc.field)))
    return errors


def _judge_model_errors(suite: LoadedSuite) -> list[SuiteError]:
    """A ``local:PATH`` judge model that leaves the suite's folder: the line the run would refuse it with."""
    from evalkit.local_paths import confined_judge_models

    try:
        confined_judge_models(suite)
    except SuiteError as exc:
        return [exc]
    return []


def _gate_metric_errors(suite: LoadedSuite, gates: LoadedGates) -> list[SuiteError]:
    """Metric names in the suite's gates: the check ``evalkit gate`` makes (scorer labels, error_rate and the
    usage thresholds), against the suite's scorers."""
    from evalkit.gate import check_names

    labels = [build_scorer(s.name, s.options, suite.spec.languages[0]).label for s in suite.spec.scorers]
    try:
        check_names(gates, suite.spec.languages, labels, [], owner="suite")
    except SuiteErrors as exc:
        return list(exc.errors)
    except SuiteError as exc:
        return [exc]
    return []


def _check_cases(suite: LoadedSuite) -> tuple[int, int, list[SuiteError], dict[str, int]]:
    """Render every template for every case and language; check references exist and, for long-format
    data, each case's language. The same template or reference problem in many cases is one error naming
    the cases. Returns the cases, the items, the errors and the long-format cases skipped by language."""
    planner = Planner(suite, Selection())
    errors = _Grouped()
    cases = items = 0
    seen: dict[tuple[str, str], str] = {}
    covered: set[str] = set()
    try:
        for case in suite.iter_cases():
            cases += 1
            try:
                languages = planner.case_languages(case)
                covered.update(languages)
                duplicate = planner.duplicate(case, languages, seen)
                if duplicate is not None:
                    errors.add(duplicate)
                    continue
                items += sum(1 for _ in planner.items_for_case(case, languages))
            except SuiteError as exc:
                errors.add(exc)
    except SuiteError as exc:
        errors.add(exc)
    result = errors.result()
    name = suite.spec.case_language
    if name is not None and not result:  # long format: a language no case is in would have no items
        for i, code in enumerate(suite.spec.languages):
            if code not in covered:
                result.append(SuiteError(f"no case is in language {code!r} (field {name!r}); add cases in it or "
                                         "remove it", suite.locate("languages", i)))
    return cases, items, result, dict(planner.skipped_languages)


_IDS_SHOWN = 5
_Key = tuple[str, Location | None]


class _Grouped:
    """Errors in first-seen order; one per template or reference problem (a ``CaseError``'s problem and
    place), with the cases it occurs in."""

    def __init__(self) -> None:
        self.entries: list[SuiteError | _Key] = []
        self.first: dict[_Key, SuiteError] = {}
        self.cases: dict[_Key, list[str]] = {}

    def add(self, error: SuiteError) -> None:
        if not isinstance(error, CaseError):  # a problem of its own (a bad language code, a duplicate id...)
            self.entries.append(error)
            return
        key, case_id = (error.problem, error.group_at), error.case_id
        if key not in self.cases:
            self.entries.append(key)
            self.first[key] = error
            self.cases[key] = []
        self.cases[key].append(case_id)

    def result(self) -> list[SuiteError]:
        out: list[SuiteError] = []
        for entry in self.entries:
            if isinstance(entry, SuiteError):
                out.append(entry)
                continue
            ids, first = self.cases[entry], self.first[entry]
            if len(ids) == 1:
                out.append(first)
                continue
            shown = ", ".join(ids[:_IDS_SHOWN])
            if len(ids) > _IDS_SHOWN:
                shown += f" and {len(ids) - _IDS_SHOWN} more"
            out.append(SuiteError(f"{entry[0]} (in {len(ids)} cases: {shown})", first.location))
        return out


def _language_codes(path: Path, reported: list[SuiteError]) -> list[SuiteError]:
    """Unknown language codes in a suite that failed its schema check, so that a typo in one key
    does not hide them (they are otherwise checked only once the schema passes)."""
    if not reported or reported[0].location is None or reported[0].location.line is None:
        return []  # not a schema error (an unreadable file, invalid YAML): nothing to look at
    try:
        positioned = load_positioned(path.read_text(encoding="utf-8"), reported[0].location.file)
    except (OSError, UnicodeError, EvalkitError):
        return []
    data = positioned.data
    languages = data.get("languages") if isinstance(data, dict) else None
    if not isinstance(languages, list):
        return []
    already = {e.message for e in reported}
    errors = []
    for i, code in enumerate(languages):
        if isinstance(code, str) and not is_known(code):
            where = positioned.locate(("languages", i), f"languages[{i}]")
            error = SuiteError(f"unknown language code {code!r}{unknown_hint(code)}", where)
            if error.message not in already:
                errors.append(error)
    return errors


def validate_suite(path: str | Path, *, allow_outside_paths: bool = False) -> ValidationReport:
    """Every check that needs no model. ``path`` is a suite file or a built-in suite's name."""
    path = find_suite(path)
    try:
        suite = load_suite(path, allow_outside_paths=allow_outside_paths)
    except SuiteError as exc:
        errors = exc.errors if isinstance(exc, SuiteErrors) else [exc]
        return ValidationReport(None, errors=errors + _language_codes(path, errors))
    report = ValidationReport(suite)
    report.errors = check_static(suite)
    if report.errors:
        return report
    try:
        report.cases, report.items, report.errors, report.skipped_languages = _check_cases(suite)
    except EvalkitError as exc:
        report.errors.append(exc if isinstance(exc, SuiteError) else SuiteError(exc.message, Location(suite.display)))
    return report
