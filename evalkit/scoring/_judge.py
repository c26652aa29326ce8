"""The ``judge`` scorer: another model grades each answer against a rubric.

The protocol (docs/scorers.md, "judge"): the judge gets a fixed system message (how to answer, the scale,
the target language), then the rubric rendered in the bounded template sandbox with the question, the
answer, the references and the target language. It must end with exactly one line ``VERDICT: <n>``; anything
else (no verdict, two verdicts, a number off the scale, a refusal) is the item's ``judge_unparsable`` error,
never a score. Verdicts are normalised to [0, 1].

Judge calls are network calls: the runner's scoring stage makes them (``Judges.judge``, asynchronous, with
the run's retry policy and response cache), the synchronous scorers never do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import field_validator

from evalkit.scoring._base import ItemScore, Kind, Options
from evalkit.scoring._custom import mean_corpus_score
from evalkit.templating import Message, TemplateError, compile_template, language_context, render_sandboxed

Scale = Literal["binary", "1-5", "1-10"]
SCALES: dict[str, tuple[int, int]] = {"binary": (0, 1), "1-5": (1, 5), "1-10": (1, 10)}

RUBRICS: dict[str, str] = {
    "correctness": (
        "Is the answer correct? Compare its content with the reference answer(s); wording may differ, "
        "meaning may not.\n\nQuestion:\n{{ question }}\n\nReference answer(s):\n"
        "{% for r in references %}- {{ r }}\n{% endfor %}\nAnswer to judge:\n{{ answer }}"
    ),
    "helpfulness": (
        "How helpful is the answer to the user: does it address the request fully, accurately and "
        "concisely?\n\nQuestion:\n{{ question }}\n\nAnswer to judge:\n{{ answer }}"
    ),
    "instructions": (
        "Does the answer follow every instruction of the system prompt and of the user's request "
        "(format, length, constraints)?\n\nSystem prompt:\n{{ system or '(none)' }}\n\nUser request:\n"
        "{{ question }}\n\nAnswer to judge:\n{{ answer }}"
    ),
    "language": (
        "Is the answer written in {{ target_language.name }} ({{ target_language.native }}), and is it "
        "fluent, natural {{ target_language.name }}? An answer in another language fails, whatever its "
        "content.\n\nQuestion:\n{{ question }}\n\nAnswer to judge:\n{{ answer }}"
    ),
}
NEEDS_REFERENCES = frozenset({"correctness"})

SYSTEM = (
    "You are a strict, impartial evaluator. The answer must be in {name} ({code}); judge it in that language "
    "and do not reward length. Think briefly, then end your reply with exactly one line of the form\n"
    "VERDICT: <n>\nwhere <n> is {scale}. Write nothing after that line."
)
SCALE_TEXT = {
    "binary": "1 if the answer meets the criterion and 0 if it does not",
    "1-5": "an integer from 1 (very poor) to 5 (excellent)",
    "1-10": "an integer from 1 (very poor) to 10 (excellent)",
}

# One verdict line: "VERDICT: 4", "**Verdict:** 4/5", "verdict = 4". Anything else on the line fails it.
_VERDICT_LINE = re.compile(r"^[\s*#_>]*verdict[\s*_]*[:=][\s*_]*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?[\s*_.]*$",
                           re.IGNORECASE)
VERDICT_MENTIONS = re.compile(r"verdict\s*[:=]", re.IGNORECASE)  # every attempt at a verdict, parsable or not


def last_user_message(messages: Sequence[Message]) -> str:
    """The request a judge is shown: the last user turn of the conversation."""
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")


class JudgeUnparsable(ValueError):
    """The judge's reply holds no single verdict on the scale."""


class JudgeOptions(Options):
    model: str  # the judge model's name, or ``local:...`` (endpoint and key: the run's, evalkit.config)
    rubric: str = "correctness"  # a built-in rubric's name
    template: str | None = None  # a custom rubric (jinja2, bounded sandbox); replaces ``rubric``
    scale: Scale = "1-5"
    max_tokens: int = 512
    needs_references: bool | None = None  # a custom rubric: does it need the references (default: no)

    @field_validator("rubric")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in RUBRICS:
            raise ValueError(f"unknown rubric {v!r} (built in: {', '.join(RUBRICS)}; or give a 'template')")
        return v

    @field_validator("template")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                compile_template(v, "template")
                render_sandboxed(v, "template", _context("question", "", "answer", ["reference"], "en", "1-5"))
            except TemplateError as exc:  # a typo in a variable name: bad input now, not every item's error later
                raise ValueError(exc.message) from None
        return v

    @field_validator("model")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the judge model's name is empty")
        return v.strip()


def _context(question: str, system: str, answer: str, references: Sequence[str], language: str,
             scale: str) -> dict[str, Any]:
    """What a rubric template sees."""
    target = language_context(language)
    return {"question": question, "system": system, "answer": answer, "references": list(references),
            "reference": references[0] if references else "", "target_language": target, "language": target,
            "scale": scale}


def parse_verdict(text: str, scale: str) -> int:
    """The verdict of a judge's reply, strictly: exactly one verdict line, an integer on the scale."""
    low, high = SCALES[scale]
    mentions = len(VERDICT_MENTIONS.findall(text))
    found = [m for line in text.splitlines() if (m := _VERDICT_LINE.match(line))]
    if not found:
        raise JudgeUnparsable("no 'VERDICT: <n>' line" if not mentions else "a verdict line with extra text")
    if len(found) > 1 or mentions > 1:
        raise JudgeUnparsable(f"{max(len(found), mentions)} verdicts in one reply")
    number, out_of = found[0].group(1), found[0].group(2)
    if out_of is not None and int(out_of) != high:
        raise JudgeUnparsable(f"verdict {number}/{out_of} is not on the {scale} scale")
    if not re.fullmatch(r"-?\d+", number) or not low <= int(number) <= high:
        raise JudgeUnparsable(f"verdict {number} is not an integer from {low} to {high}")
    return int(number)


def normalise(verdict: int, scale: str) -> float:
    low, high = SCALES[scale]
    return (verdict - low) / (high - low)


def _snippet(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


class JudgeScorer:
    """The ``Scorer`` face of a judge (labels, kind, aggregation); the runner's ``Judges`` does the calls."""

    higher_is_better = True

    def __init__(self, options: JudgeOptions, language: str) -> None:
        self.options = options
        self.language = language
        self.label = options.label or f"judge_{'custom' if options.template else options.rubric}"
        self.kind: Kind = "binary" if options.scale == "binary" else "corpus"
        if options.needs_references is not None:
            self.needs_references = options.needs_references
        else:
            self.needs_references = options.template is None and options.rubric in NEEDS_REFERENCES
        self.aggregate_name = None if self.kind == "binary" else "mean"

    def messages(self, prompt: Sequence[Message], answer: str, references: Sequence[str]) -> tuple[Message, ...]:
        """The judge's request for one answer to ``prompt`` (the model under test's messages)."""
        target = language_context(self.language)
        system = next((m["content"] for m in prompt if m.get("role") == "system"), "")
        question = last_user_message(prompt)
        context = _context(question, system, answer, references, self.language, self.options.scale)
        rubric = render_sandboxed(self.options.template or RUBRICS[self.options.rubric], "template", context)
        head = SYSTEM.format(name=target["name"], code=target["code"], scale=SCALE_TEXT[self.options.scale])
        return ({"role": "system", "content": head}, {"role": "user", "content": rubric})

    def verdict(self, reply: str) -> ItemScore:
        """The item's score from the judge's reply; an unparsable reply is the item's error."""
        try:
            number = parse_verdict(reply, self.options.scale)
        except JudgeUnparsable as exc:
            return ItemScore(None, error=f"judge {self.label!r}: {exc}: {_snippet(reply)!r}")
        value = normalise(number, self.options.scale)
        return ItemScore(value, stats=[value, 1.0] if self.kind == "corpus" else None,
                         details={"verdict": number, "scale": self.options.scale})

    def score(self, output: str, references: Sequence[str]) -> ItemScore:
        raise TypeError(f"scorer {self.label!r} is a judge: the runner's scoring stage calls the judge model")

    def score_many(self, outputs: Sequence[str], references: Sequence[Sequence[str]]) -> list[ItemScore]:
        return [self.score(o, r) for o, r in zip(outputs, references, strict=True)]

    def signature(self, num_refs: int = 1) -> str | None:
        return f"judge:{self.options.model}|rubric:{self.options.rubric if not self.options.template else 'custom'}" \
               f"|scale:{self.options.scale}"

    def corpus_score(self, summed_stats: Sequence[float]) -> float:
        return mean_corpus_score(summed_stats)


@dataclass
class JudgeOutcome:
    """One judge scorer's result for one item: the score, or the classified error (kind, message)."""

    label: str
    score: ItemScore | None = None
    error_kind: str | None = None
    error: str | None = None
    usage: dict[str, int | None] = field(default_factory=dict)
    cached: bool = False

