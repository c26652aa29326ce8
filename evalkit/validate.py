"""Everything that can be checked without calling a model (``evalkit validate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import EvalkitError, Location, MissingDependency, SuiteError, SuiteErrors
from evalkit.items import Planner, Selection
from evalkit.languages import is_known
from evalkit.scoring import ScorerOptionsError, build_scorer
from evalkit.suite import LoadedSuite, load_suite
from evalkit.templating import TemplateError, compile_template

MAX_REPORTED = 50


@dataclass
class ValidationReport:
    suite: LoadedSuite | None
    cases: int = 0
    items: int = 0
    errors: list[SuiteError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_static(suite: LoadedSuite) -> list[SuiteError]:
    """Language codes, scorer options and template syntax."""
    errors: list[SuiteError] = []
    spec = suite.spec
    for i, code in enumerate(spec.languages):
        if not is_known(code):
            errors.append(SuiteError(f"unknown language code {code!r}", suite.locate("languages", i)))
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
    if spec.gates is not None:
        from evalkit.gate._spec import parse_gates

        try:
            parse_gates(spec.gates, suite.positioned, ("gates",))
        except SuiteErrors as exc:
            errors.extend(exc.errors)
        except SuiteError as exc:
            errors.append(exc)
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


def check_cases(suite: LoadedSuite) -> tuple[int, int, list[SuiteError]]:
    """Render every template for every case and language; check references exist."""
    planner = Planner(suite, Selection())
    errors: list[SuiteError] = []
    cases = items = 0
    seen: dict[str, str] = {}
    try:
        for case in suite.iter_cases():
            cases += 1
            if case.id in seen:
                errors.append(
                    SuiteError(
                        f"duplicate case id {case.id!r} (first at {seen[case.id]})",
                        Location(case.where.file, case.where.line, case.where.column, "id"),
                    )
                )
                continue
            seen[case.id] = case.where.format()
            try:
                items += sum(1 for _ in planner.items_for_case(case))
            except SuiteError as exc:
                errors.append(exc)
            if len(errors) >= MAX_REPORTED:
                break
    except SuiteError as exc:
        errors.append(exc)
    return cases, items, errors


def validate_suite(path: str | Path, *, allow_outside_paths: bool = False) -> ValidationReport:
    """Every check that needs no model. ``path`` is a suite file or a built-in suite's name."""
    from evalkit.suites import find_suite

    try:
        suite = load_suite(find_suite(path), allow_outside_paths=allow_outside_paths)
    except SuiteErrors as exc:
        return ValidationReport(None, errors=exc.errors)
    except SuiteError as exc:
        return ValidationReport(None, errors=[exc])
    report = ValidationReport(suite)
    report.errors = check_static(suite)
    if report.errors:
        return report
    try:
        report.cases, report.items, report.errors = check_cases(suite)
    except EvalkitError as exc:
        report.errors.append(exc if isinstance(exc, SuiteError) else SuiteError(exc.message, Location(suite.display)))
    return report
