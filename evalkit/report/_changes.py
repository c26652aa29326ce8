"""What changed between a baseline and a candidate: the cause next to the effect in comparison reports.

* :func:`run_changes` — the model, endpoint and generation parameters that differ, and each prompt variant's
  templates (system, few-shot turns, user, target language, as ``manifest.json`` records them) as a line diff;
  runs written before manifests recorded templates say so instead.
* :func:`item_messages_diff` — one item's rendered messages, baseline against candidate, as a line diff.

Lines are plain strings here; the templates escape them (HTML) or fence them (Markdown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any, Literal

from evalkit.report._diff import Segment, diff, sides
from evalkit.results import PromptRecord, RunManifest

if TYPE_CHECKING:
    from evalkit.compare import Comparison

NOT_RECORDED = "prompt templates not recorded in this run"
MAX_PAIRED_LINE = 2_000  # longer replaced lines are marked whole, not word by word

LineOp = Literal["equal", "delete", "insert"]


@dataclass(frozen=True)
class DiffLine:
    """One line of a line diff: in both texts, only in the baseline, or only in the candidate. ``segments``:
    the words that changed within a replaced line (equal + delete for the baseline's, equal + insert for the
    candidate's); the whole line as one ``equal`` segment otherwise."""

    op: LineOp
    text: str
    segments: tuple[Segment, ...]

    @property
    def sign(self) -> str:
        return {"equal": " ", "delete": "-", "insert": "+"}[self.op]


def _whole(op: LineOp, text: str) -> DiffLine:
    return DiffLine(op, text, (Segment("equal", text),))  # the line's colour marks it; no word is singled out


def line_diff(base: str, cand: str) -> list[DiffLine]:
    """Every line of both texts in order (full context: templates are short), with changed words marked
    inside a line that was replaced by one other line."""
    a, b = base.splitlines(), cand.splitlines()
    out: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [_whole("equal", line) for line in a[i1:i2]]
            continue
        old, new = a[i1:i2], b[j1:j2]
        if len(old) == len(new):
            removed, added = [], []
            for x, y in zip(old, new, strict=True):
                if len(x) + len(y) > MAX_PAIRED_LINE:
                    removed.append(_whole("delete", x))
                    added.append(_whole("insert", y))
                    continue
                left, right = sides(diff(x, y, "en"))
                removed.append(DiffLine("delete", x, tuple(left)))
                added.append(DiffLine("insert", y, tuple(right)))
            out += removed + added
        else:
            out += [_whole("delete", line) for line in old] + [_whole("insert", line) for line in new]
    return out


def prompt_text(record: PromptRecord) -> str:
    """A variant's templates as one text, a ``[part]`` header line before each part."""
    parts: list[tuple[str, str]] = []
    if record.system is not None:
        parts.append(("system", record.system))
    for i, turn in enumerate(record.few_shot, 1):
        parts += [(f"few-shot {i} · user", turn.user), (f"few-shot {i} · assistant", turn.assistant)]
    parts.append(("user", record.user))
    if record.target_language is not None:
        parts.append(("target language", record.target_language))
    return "\n".join(f"[{name}]\n{text}" for name, text in parts)


def messages_text(messages: Sequence[Mapping[str, str]]) -> str:
    """Rendered chat messages as one text, a ``[role]`` header line before each message."""
    return "\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in messages)


def _lines(lines: list[DiffLine]) -> dict[str, Any]:
    return {"lines": lines, "removed": sum(1 for x in lines if x.op == "delete"),
            "added": sum(1 for x in lines if x.op == "insert")}


def _param(value: Any) -> str:
    return "(not set)" if value is None else str(value)


def setting_changes(base: RunManifest, cand: RunManifest) -> list[dict[str, str]]:
    """The model, endpoint and generation parameters that differ (a parameter set in one run only included)."""
    rows = []
    for name, a, b in (("Model", base.model.name, cand.model.name),
                       ("Provider", base.model.provider, cand.model.provider),
                       ("Endpoint", base.model.base_url, cand.model.base_url)):
        if a != b:
            rows.append({"name": name, "base": a, "cand": b})
    bp, cp = base.model.params, cand.model.params
    for key in sorted(set(bp) | set(cp)):
        if bp.get(key) != cp.get(key) or (key in bp) != (key in cp):
            rows.append({"name": key, "base": _param(bp.get(key)), "cand": _param(cp.get(key))})
    return rows


def _missing(base: RunManifest, cand: RunManifest) -> str:
    sides_missing = [name for name, m in (("baseline", base), ("candidate", cand)) if m.prompts is None]
    if not sides_missing:
        return ""
    which = " and ".join(sides_missing)
    return (f"{NOT_RECORDED} ({which}: written by an evalkit that did not record them); "
            "run it again to see its templates here")


def prompt_changes(comparison: Comparison) -> list[dict[str, Any]]:
    """One entry per variant compared (``plain`` or ``plain → polite``): its status and the templates' diff.
    Empty when either run did not record its templates."""
    bp, cp = comparison.base.manifest.prompts, comparison.cand.manifest.prompts
    if bp is None or cp is None:
        return []
    if comparison.base_variant is not None and comparison.cand_variant is not None:
        pairs = [(f"{comparison.base_variant} → {comparison.cand_variant}",
                  bp.get(comparison.base_variant), cp.get(comparison.cand_variant))]
    else:
        names = list(dict.fromkeys([*comparison.base.manifest.variants, *comparison.cand.manifest.variants]))
        pairs = [(name, bp.get(name), cp.get(name)) for name in names]
    out = []
    for name, a, b in pairs:
        if a is None and b is None:
            continue
        base_text = prompt_text(a) if a is not None else ""
        cand_text = prompt_text(b) if b is not None else ""
        if a is None:
            status = "only in the candidate"
        elif b is None:
            status = "only in the baseline"
        else:
            status = "same" if base_text == cand_text else "changed"
        lines = line_diff(base_text, cand_text) if status != "same" else []
        out.append({"variant": name, "status": status, **_lines(lines)})
    return out


def run_changes(comparison: Comparison) -> dict[str, Any]:
    """Everything the "What changed" block shows for one candidate."""
    base, cand = comparison.base.manifest, comparison.cand.manifest
    prompts = prompt_changes(comparison)
    return {
        "settings": setting_changes(base, cand),
        "prompts": [p for p in prompts if p["status"] != "same"],
        "same": [p["variant"] for p in prompts if p["status"] == "same"],
        "not_recorded": _missing(base, cand),
    }


def item_messages_diff(base: Sequence[Mapping[str, str]], cand: Sequence[Mapping[str, str]]) -> dict[str, Any] | None:
    """A flip card's rendered-messages diff, line by line (None when the messages are the same)."""
    if list(base) == list(cand):
        return None
    return _lines(line_diff(messages_text(base), messages_text(cand)))
