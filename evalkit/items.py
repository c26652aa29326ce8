"""Plan the work: cases × languages × prompt variants × repeats → rendered ``Item``s.

An item's id depends only on (case id, language, variant name, repeat), never on the prompt
text, so a run with an edited prompt lines up with the run before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import Location, SuiteError, UsageError
from evalkit.languages import is_known
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
    limit: int | None = None  # cases
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

    def target_language(self, variant: PromptVariant, name: str, ctx: dict[str, object], where: Location) -> str:
        if not variant.target_language:
            return str(ctx["language"]["code"])  # type: ignore[index]
        field = f"prompts.{name}.target_language"
        code = render(variant.target_language, field, ctx)
        if not is_known(code):
            at = self.suite.locate("prompts", name, "target_language")
            raise SuiteError(f"unknown target language {code!r} (case at {where.format()})",
                             Location(at.file, at.line, at.column, field))
        return code

    def items_for_case(self, case: Case) -> Iterator[Item]:
        spec = self.suite.spec
        for variant_name in self.variants:
            variant = spec.prompts[variant_name]
            for language in self.languages:
                ctx = RenderContext(case.fields, language, language).as_dict()
                try:
                    target = self.target_language(variant, variant_name, ctx, case.where)
                    if target != language:
                        ctx = RenderContext(case.fields, language, target).as_dict()
                    messages = _render_messages(variant, variant_name, ctx)
                except TemplateError as exc:
                    loc = self.suite.locate(*[p for p in exc.field.replace("[", ".").replace("]", "").split(".")])
                    raise SuiteError(
                        f"{exc.message} (case {case.id!r} at {case.where.format()}, language {language})",
                        Location(loc.file, loc.line, loc.column, exc.field),
                    ) from None
                ref_path = variant.reference or spec.reference
                refs = _references(lookup_path(case.fields, ref_path, target))
                if refs is None and self.needs_references:
                    raise SuiteError(
                        f"case {case.id!r} has no reference {ref_path!r} for language {target!r}",
                        Location(case.where.file, case.where.line, case.where.column, ref_path),
                    )
                fields = {k: case.fields[k] for k in self.scorer_fields if k in case.fields}
                for repeat in range(self.repeats):
                    item_id = item_id_for(case.id, language, variant_name, repeat)
                    if self.shard is None or self.shard.contains(item_id):
                        yield Item(item_id, case.id, language, variant_name, repeat, target, messages, refs or (),
                                   self.seeds[repeat], fields)

    def iter_items(self) -> Iterator[Item]:
        seen: dict[str, str] = {}
        for n, case in enumerate(self.suite.iter_cases()):
            if self.limit is not None and n >= self.limit:
                return
            if case.id in seen:
                raise SuiteError(
                    f"duplicate case id {case.id!r} (first at {seen[case.id]})",
                    Location(case.where.file, case.where.line, case.where.column, "id"),
                )
            seen[case.id] = case.where.format()
            yield from self.items_for_case(case)
