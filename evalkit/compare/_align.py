"""Stage 1 of a comparison: align the items of two runs into pairs, and say why two runs should not be compared.

Without variants items align by ``item_id``; comparing two prompt variants they align by
case, language and repeat.  Pairs are then grouped per (variant, language) and, with repeats
aggregated, clustered per item.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol, TypeVar

from evalkit.compare._model import ItemPair, RunData
from evalkit.errors import UsageError
from evalkit.results import ItemResult, ScorerRecord

GroupKey = tuple[str | None, str]  # (variant or None, language)
Clustered = dict[GroupKey, list[list[ItemPair]]]  # per group, the pairs of each item (see cluster_items)


class _OfCase(Protocol):
    @property
    def case_id(self) -> str: ...


T = TypeVar("T", bound=_OfCase)


def align_items(base: RunData, cand: RunData, variants: tuple[str, str] | None) -> tuple[list[ItemPair], int, int]:
    if variants is None:
        b_index = {r.item_id: r for r in base.results}
        c_index = {r.item_id: r for r in cand.results}
    else:
        b_index = {_variant_key(r): r for r in base.results if r.variant == variants[0]}
        c_index = {_variant_key(r): r for r in cand.results if r.variant == variants[1]}
    pairs = [
        ItemPair(key, b.language, b.case_id, b.repeat, b, c_index[key], b.variant if variants is None else None)
        for key, b in b_index.items()
        if key in c_index
    ]
    matched = len(pairs)
    return pairs, len(b_index) - matched, len(c_index) - matched


def _variant_key(r: ItemResult) -> str:
    return f"{r.case_id}|{r.language}|{r.repeat}"


def check_variants(run: RunData, variant: str) -> None:
    if variant not in run.manifest.variants:
        have = ", ".join(run.manifest.variants)
        raise UsageError(f"{run.path}: no prompt variant {variant!r} (the run has: {have})")


# --- compatibility ---------------------------------------------------------------------------------


def common_scorers(base: RunData, cand: RunData) -> list[ScorerRecord]:
    cand_labels = {r.label for r in cand.manifest.scorers}
    return [r for r in base.manifest.scorers if r.label in cand_labels]


def find_incompatibilities(base: RunData, cand: RunData, pairs: list[ItemPair]) -> list[str]:
    reasons = []
    bm, cm = base.manifest, cand.manifest
    if bm.suite.name != cm.suite.name:
        reasons.append(f"the suites differ: {bm.suite.name!r} vs {cm.suite.name!r}")
    cand_records = {r.label: r for r in cm.scorers}
    for rec in bm.scorers:
        other = cand_records.get(rec.label)
        if other is not None and (rec.name, rec.options) != (other.name, other.options):
            reasons.append(
                f"scorer {rec.label!r} is configured differently: "
                f"{rec.name} {rec.options} vs {other.name} {other.options}"
            )
    for label in sorted(set(bm.signatures) & set(cm.signatures)):
        for lang in sorted(set(bm.signatures[label]) & set(cm.signatures[label])):
            a, b = bm.signatures[label][lang], cm.signatures[label][lang]
            if a != b:
                reasons.append(f"{lang} {label}: sacrebleu signatures differ ({a} vs {b})")
    if not common_scorers(base, cand):
        reasons.append("the runs have no metric in common")
    if not pairs:
        reasons.append(f"no items align ({len(base.results)} base items, {len(cand.results)} candidate items)")
    return reasons


# --- groups ----------------------------------------------------------------------------------------


def split_errors(pairs: list[ItemPair]) -> tuple[list[ItemPair], int, int]:
    ok = [p for p in pairs if p.base.ok and p.cand.ok]
    return ok, sum(1 for p in pairs if not p.base.ok), sum(1 for p in pairs if not p.cand.ok)


def group_pairs(pairs: list[ItemPair]) -> dict[GroupKey, list[ItemPair]]:
    groups: dict[GroupKey, list[ItemPair]] = defaultdict(list)
    for p in pairs:
        groups[(p.variant, p.language)].append(p)
    return dict(groups)


def cluster_items(pairs: Iterable[T], aggregate: bool) -> list[list[T]]:
    """Pairs (or results) grouped per item (all repeats of one case) when aggregating, else one each."""
    if not aggregate:
        return [[p] for p in pairs]
    groups: dict[str, list[T]] = defaultdict(list)
    for p in pairs:
        groups[p.case_id].append(p)
    return list(groups.values())
