"""Aggregation of repeated runs of the same item (sampling at temperature > 0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._intervals import wilson_interval

__all__ = ["RepeatAggregate", "aggregate_repeats"]


@dataclass(frozen=True)
class RepeatAggregate:
    """Pass statistics of one item over its repeats.

    ``rate`` is ``passes / n`` (a proportion in [0, 1]); ``ci_low``/``ci_high``
    its 95 % Wilson interval; ``unstable`` is True when the item passed in some
    repeats and failed in others.
    """

    item_key: str
    passes: int
    n: int
    rate: float
    ci_low: float
    ci_high: float
    unstable: bool


def aggregate_repeats(keys: Sequence[str], passed: Sequence[bool], confidence: float = 0.95) -> list[RepeatAggregate]:
    """Group per-repeat outcomes by item key, in order of first appearance.

    ``keys[i]`` is the item a repeat belongs to and ``passed[i]`` its outcome.
    """
    if len(keys) != len(passed):
        raise ValueError(f"keys and passed differ in length: {len(keys)} and {len(passed)}")
    counts: dict[str, list[int]] = {}
    for key, ok in zip(keys, passed, strict=True):
        entry = counts.setdefault(key, [0, 0])
        entry[0] += 1 if bool(ok) else 0
        entry[1] += 1
    out = []
    for key, (passes, n) in counts.items():
        lo, hi = wilson_interval(passes, n, confidence)
        out.append(RepeatAggregate(key, passes, n, passes / n, lo, hi, 0 < passes < n))
    return out
