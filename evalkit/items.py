"""Plan the work: cases × languages × prompt variants × repeats → rendered ``Item``s.

An item's id depends only on (case id, language, variant name, repeat), never on the prompt
text, so a run with an edited prompt lines up with the run before it.

A suite with ``case_language`` (long-format data) names the case field holding each case's language(s):
such a case becomes items in those languages only. Case ids are then unique per language.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import Location, SuiteError, UsageError
from evalkit.languages import broader_codes, canonical_code, is_known, same_language, unknown_hint
from evalkit.scoring import build_scorer
from evalkit.suite import LoadedSuite
from evalkit.suite._cases import Case
from evalkit.suite._schema import PromptVariant
from evalkit.templating import Message, RenderContext, TemplateError, lookup_path, render


@dataclass(frozen=True)
class Item:
    item_id: str
    case_id: str
    language: str
    variant: str
    repeat: int
    target_language: str
    messages: tuple[Message, ...]
    references: tuple[str, ...]
    seed: int | None = None  # sent with the request: ``repeat_seed(suite seed, repeat)``
    fields: dict[str, Any] = field(default_factory=dict)  # only the case fields custom scorers declare

    @property
    def scored_inputs(self) -> object:
        """What the score cache keys on besides the output: the references, and any case fields scorers read."""
        return [list(self.references), self.fields] if self.fields else self.references


def repeat_seed(seed: int | None, repeat: int) -> int | None:
    """The seed of one repeat: the suite's own for repeat 0 (a run without repeats sends what the suite says),
    for repeat r > 0 the first 31 bits of sha256("evalkit-repeat:{seed}:{r}"), so repeats sample differently
    yet every run of the suite sends the same seeds. None stays None (no seed is sent)."""
    if seed is None or repeat == 0:
        return seed
    digest = hashlib.sha256(f"evalkit-repeat:{seed}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def item_id_for(case_id: str, language: str, variant: str, repeat: int) -> str:
    key = "\x1f".join([case_id, language, variant, str(repeat)])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class CaseError(SuiteError):
    """A problem a case has with a template or its references. ``problem`` is worded the same for every case
    that has it, ``group_at`` is where it is (the template, or the reference field without a case's line):
    ``evalkit validate`` reports one error per (problem, place), naming the cases."""

    def __init__(self, message: str, location: Location, *, case_id: str, problem: str,
                 group_at: Location) -> None:
        super().__init__(message, location)
        self.case_id = case_id
        self.problem = problem
        self.group_at = group_at


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            k, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise UsageError(f"--shard must look like K/N (got {text!r})") from None
        if not 1 <= k <= n:
            raise UsageError(f"--shard {text}: K must be between 1 and N")
        return cls(k, n)

    def contains(self, item_id: str) -> bool:
        return int(item_id[:12], 16) % self.count == self.index - 1


@dataclass(frozen=True)
class Selection:
    languages: Sequence[str] | None = None
    prompts: Sequence[str] | None = None
    limit: int | None = None  # cases per language (the first N cases of each language)
    repeats: int | None = None
    shard: Shard | None = None


def _references(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | int | float):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value) and value:
        return tuple(str(v) for v in value)
    return None


def _render_messages(variant: PromptVariant, name: str, ctx: dict[str, object]) -> tuple[Message, ...]:
    messages: list[Message] = []
    base = f"prompts.{name}"
    if variant.system:
        messages.append({"role": "system", "content": render(variant.system, f"{base}.system", ctx)})
    for i, turn in enumerate(variant.few_shot):
        messages.append({"role": "user", "content": render(turn.user, f"{base}.few_shot[{i}].user", ctx)})
        messages.append(
            {"role": "assistant", "content": render(turn.assistant, f"{base}.few_shot[{i}].assistant", ctx)}
        )
    messages.append({"role": "user", "content": render(variant.user, f"{base}.user", ctx)})
    return tuple(messages)


def skipped_note(skipped: Mapping[str, int]) -> str | None:
    """One line on the long-format cases left out for their language (None when none were)."""
    if not skipped:
        return None
    total = sum(skipped.values())
    shown = ", ".join(f"{code}: {n}" for code, n in sorted(skipped.items()))
    return f"{total} case{'s' if total != 1 else ''} skipped, in a language the suite does not run ({shown})"


_CODE_SEPARATORS = re.compile(r"[,;\s]+")


class Planner:
    """Turns a loaded suite and a selection into items; raises ``SuiteError`` on the first problem."""

    def __init__(self, suite: LoadedSuite, selection: Selection = Selection()) -> None:
        self.suite = suite
        spec = suite.spec
        self.languages = list(selection.languages or spec.languages)
        self.variants = list(selection.prompts or spec.prompts)
        for code in self.languages:
            if code not in spec.languages:
                raise UsageError(f"--languages: {code!r} is not in the suite (has {', '.join(spec.languages)})")
        for name in self.variants:
            if name not in spec.prompts:
                raise UsageError(f"--prompts: {name!r} is not in the suite (has {', '.join(spec.prompts)})")
        self.repeats = selection.repeats or spec.repeats
        self.seeds = [repeat_seed(spec.model.params.seed, r) for r in range(self.repeats)]
        self.limit = selection.limit
        self.shard = selection.shard
        scorers = [build_scorer(s.name, s.options, "en") for s in spec.scorers]
        self.needs_references = any(s.needs_references for s in scorers)
        self.scorer_fields = sorted({f for s in scorers for f in getattr(s, "fields", ())})
        self._suite_codes = {canonical_code(code): code for code in spec.languages}
        # Long format: cases whose languages are all outside the suite, by their language field's value.
        self.skipped_languages: Counter[str] = Counter()

    def case_languages(self, case: Case) -> list[str]:
        """The selected languages a case becomes items in, in the selection's order: all of them, or with
        ``case_language`` those its field names (a code, a list of codes, or codes separated by commas).
        A case in none of the suite's languages is counted in ``skipped_languages``; a missing or unknown
        code is a ``SuiteError`` at the case's file:line and the field."""
        name = self.suite.spec.case_language
        if name is None:
            return self.languages
        at = self.suite.locate_case_field(case, name)
        value = case.fields.get(name)
        codes: list[str]
        if value is None:
            codes = []
        elif isinstance(value, str):
            codes = [c for c in _CODE_SEPARATORS.split(value) if c]
        elif isinstance(value, list) and all(isinstance(c, str) for c in value):
            codes = [c.strip() for c in value if c.strip()]
        else:
            raise SuiteError(f"case {case.id!r}: a language must be a code or a list of codes "
                             f"(got {type(value).__name__})", at)
        if not codes:
            raise SuiteError(f"case {case.id!r} has no language; give its language code (such as de) in "
                             f"field {name!r}", at)
        chosen: set[str] = set()
        for code in codes:
            # The suite's spelling of the code, else of its language and script, else of its language alone (a
            # de-AT row in a suite of de; deu_Latn and de are one spelling: ``evalkit.languages.canonical_code``).
            # zho_Hant is not in a suite of zho_Hans, but is in one of zh.
            # A code naming no script: the suite's only code of that language (zh in a suite of zho_Hans).
            suite_code = next((self._suite_codes[k] for k in broader_codes(code) if k in self._suite_codes), None)
            if suite_code is None:
                same = [c for c in self._suite_codes.values() if same_language(code, c)]
                suite_code = same[0] if len(same) == 1 else None
            if suite_code is not None:
                chosen.add(suite_code)
            elif not is_known(code):
                shown = code if len(code) <= 40 else code[:40] + "..."
                hint = unknown_hint(code) if len(code) <= 40 else ""
                raise SuiteError(f"unknown language code {shown!r} (case {case.id!r})"
                                 + (hint or "; use a code such as de, pt-BR or deu_Latn"), at)
        if not chosen:
            self.skipped_languages[", ".join(codes)] += 1
        return [code for code in self.languages if code in chosen]

    def duplicate(self, case: Case, languages: Sequence[str], seen: dict[tuple[str, str], str]) -> SuiteError | None:
        """A case whose id an earlier case has (in one of its languages, for long-format data), else None;
        records the case in ``seen``."""
        long_format = self.suite.spec.case_language is not None
        keys = [(case.id, code) for code in languages] if long_format else [(case.id, "")]
        where = Location(case.where.file, case.where.line, case.where.column, "id")
        for key in keys:
            if key in seen:
                in_language = f" in {key[1]}" if long_format else ""
                return SuiteError(f"duplicate case id {case.id!r}{in_language} (first at {seen[key]})", where)
        for key in keys:
            seen[key] = case.where.format()
        return None

    def target_language(self, variant: PromptVariant, name: str, ctx: dict[str, object], where: Location) -> str:
        if not variant.target_language:
            return str(ctx["language"]["code"])  # type: ignore[index]
        field = f"prompts.{name}.target_language"
        code = render(variant.target_language, field, ctx)
        if not is_known(code):
            at = self.suite.locate("prompts", name, "target_language")
            raise SuiteError(f"unknown target language {code!r} (case at {where.format()}){unknown_hint(code)}",
                             Location(at.file, at.line, at.column, field))
        return code

    def items_for_case(self, case: Case, languages: Sequence[str] | None = None) -> Iterator[Item]:
        """The case's items in ``languages`` (default: ``case_languages(case)``)."""
        spec = self.suite.spec
        if languages is None:
            languages = self.case_languages(case)
        for variant_name in self.variants:
            variant = spec.prompts[variant_name]
            for language in languages:
                ctx = RenderContext(case.fields, language, language).as_dict()
                try:
                    target = self.target_language(variant, variant_name, ctx, case.where)
                    if target != language:
                        ctx = RenderContext(case.fields, language, target).as_dict()
                    messages = _render_messages(variant, variant_name, ctx)
                except TemplateError as exc:
                    loc = self.suite.locate(*[p for p in exc.field.replace("[", ".").replace("]", "").split(".")])
                    at = Location(loc.file, loc.line, loc.column, exc.field)
                    raise CaseError(
                        f"{exc.message} (case {case.id!r} at {case.where.format()}, language {language})", at,
                        case_id=case.id, problem=exc.message, group_at=at,
                    ) from None
                ref_path = variant.reference or spec.reference
                refs = _references(lookup_path(case.fields, ref_path, target))
                if refs is None and self.needs_references:
                    problem = f"no reference {ref_path!r} for language {target!r}"
                    raise CaseError(
                        f"case {case.id!r} has {problem}",
                        Location(case.where.file, case.where.line, case.where.column, ref_path),
                        case_id=case.id, problem=problem, group_at=Location(case.where.file, field=ref_path),
                    )
                fields = {k: case.fields[k] for k in self.scorer_fields if k in case.fields}
                for repeat in range(self.repeats):
                    item_id = item_id_for(case.id, language, variant_name, repeat)
                    if self.shard is None or self.shard.contains(item_id):
                        yield Item(item_id, case.id, language, variant_name, repeat, target, messages, refs or (),
                                   self.seeds[repeat], fields)

    def iter_items(self) -> Iterator[Item]:
        """Every item in plan order. ``limit``: the first N cases of each language (for wide-format data,
        where every case is in every language, the first N cases)."""
        seen: dict[tuple[str, str], str] = {}
        taken: Counter[str] = Counter()
        self.skipped_languages.clear()  # counted again on each pass (complete when no limit stops it early)
        for case in self.suite.iter_cases():
            if self.limit is not None and all(taken[code] >= self.limit for code in self.languages):
                return
            languages = self.case_languages(case)
            if self.limit is not None:
                languages = [code for code in languages if taken[code] < self.limit]
                if not languages:
                    continue
            error = self.duplicate(case, languages, seen)
            if error is not None:
                raise error
            taken.update(languages)
            yield from self.items_for_case(case, languages)
