"""Seeded simulations of paired runs, for calibration tests and power analysis.

Not used at evaluation time.  Two generators:

* :func:`simulate_binary` — pass/fail items with latent difficulty: item ``i``
  passes with probability ``p_i ~ Beta(κμ, κ(1-μ))`` (mean ``μ``, default 0.7,
  concentration ``κ``, default 2), independently in each run.  A planted drop
  of ``d`` points scales every ``p_i`` by ``1 - d / (100 μ)`` in the candidate.
  With ``κ = 2`` about 28 % of items flip between two runs of the *same*
  system, a pessimistic amount of churn.
* :class:`ChrfPool` — real sacrebleu chrF statistics of synthetic translations.
  Each item has a synthetic reference sentence and hypotheses at ``levels``
  nested corruption levels (a word corrupted at one level stays corrupted at
  the higher ones; corruption substitutes, drops or misspells a word).  A run
  picks, per item, level ``difficulty_i + shift + N(0, noise²)`` (randomly
  rounded), so two runs of the same system differ item by item but are
  identically distributed; ``shift > 0`` plants a regression.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._scores import FloatArray

__all__ = ["ChrfPool", "simulate_binary"]

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyzäéöü"))


def simulate_binary(
    rng: np.random.Generator,
    n: int,
    *,
    base_rate: float = 0.7,
    concentration: float = 2.0,
    drop: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned (base, cand) boolean outcomes for ``n`` items; ``drop`` in percentage points."""
    if not 0.0 < base_rate < 1.0:
        raise ValueError("base_rate must be in (0, 1)")
    if not 0.0 <= drop <= 100.0 * base_rate:
        raise ValueError("drop must be between 0 and 100 * base_rate points")
    p = rng.beta(concentration * base_rate, concentration * (1.0 - base_rate), size=n)
    base = rng.random(n) < p
    cand = rng.random(n) < p * (1.0 - drop / (100.0 * base_rate))
    return base, cand


def _word(rng: np.random.Generator) -> str:
    return "".join(rng.choice(_LETTERS, size=int(rng.integers(2, 10))))


class ChrfPool:
    """Pre-computed chrF statistics for ``n_items`` synthetic items × ``levels`` corruption levels.

    Building the pool runs sacrebleu once per (item, level); drawing runs is
    then just indexing, so thousands of simulated comparisons are cheap.
    """

    def __init__(
        self,
        n_items: int,
        *,
        levels: int = 8,
        step: float = 0.08,
        max_difficulty: float = 4.0,
        noise: float = 1.0,
        seed: int = 0,
        metric: Any = None,
    ) -> None:
        import sacrebleu  # runtime dependency of evalkit, imported lazily

        rng = np.random.default_rng(seed)
        self.metric = metric if metric is not None else sacrebleu.CHRF()
        self.levels = levels
        self.noise = noise
        vocab = [_word(rng) for _ in range(2000)]
        zipf = 1.0 / np.arange(1, len(vocab) + 1)
        zipf /= zipf.sum()
        refs: list[str] = []
        hyps: list[list[str]] = [[] for _ in range(levels)]
        for _ in range(n_items):
            words = [vocab[j] for j in rng.choice(len(vocab), size=int(rng.integers(6, 16)), p=zipf)]
            refs.append(" ".join(words))
            u = rng.random(len(words))  # corruption threshold per word (nested levels)
            kind = rng.random(len(words))
            subst = [vocab[j] for j in rng.choice(len(vocab), size=len(words), p=zipf)]
            typo_at = [int(rng.integers(0, len(w))) for w in words]
            typo_ch = rng.choice(_LETTERS, size=len(words))
            for lvl in range(levels):
                q = lvl * step
                out = []
                for w, ui, ki, sw, ti, tc in zip(words, u, kind, subst, typo_at, typo_ch, strict=True):
                    if ui >= q:
                        out.append(w)
                    elif ki < 0.5:
                        out.append(sw)
                    elif ki < 0.75:
                        continue
                    else:
                        out.append(w[:ti] + str(tc) + w[ti + 1 :])
                hyps[lvl].append(" ".join(out))
        per_level = [np.asarray(self.metric._extract_corpus_statistics(h, [refs]), dtype=np.float64) for h in hyps]
        self.stats: FloatArray = np.stack(per_level, axis=1)  # (items, levels, k)
        self.difficulty: FloatArray = rng.uniform(0.0, max_difficulty, size=n_items)

    @property
    def n_items(self) -> int:
        """Number of items in the pool."""
        return int(self.stats.shape[0])

    def draw(self, rng: np.random.Generator, items: np.ndarray, shift: float = 0.0) -> FloatArray:
        """Per-item chrF statistics of one simulated run on ``items`` (indices into the pool)."""
        x = self.difficulty[items] + shift + rng.normal(0.0, self.noise, size=items.size)
        level = np.clip(np.floor(x + rng.random(items.size)), 0, self.levels - 1).astype(np.intp)
        return self.stats[items, level]

    def pair(self, rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[FloatArray, FloatArray]:
        """Aligned (base, cand) statistics for ``n`` items sampled from the pool; ``cand`` shifted."""
        if n > self.n_items:
            raise ValueError(f"the pool has {self.n_items} items, {n} requested")
        items = rng.choice(self.n_items, size=n, replace=False)
        return self.draw(rng, items), self.draw(rng, items, shift)

    def expected_drop(self, shift: float, *, n_runs: int = 20, seed: int = 1) -> float:
        """Monte-Carlo estimate of ``score(base) - score(cand)`` in chrF points on the whole pool."""
        rng = np.random.default_rng(seed)
        items = np.arange(self.n_items)
        diffs = []
        for _ in range(n_runs):
            b = self.draw(rng, items).sum(axis=0)
            c = self.draw(rng, items, shift).sum(axis=0)
            score = self.metric._compute_score_from_stats
            diffs.append(score(b.tolist()).score - score(c.tolist()).score)
        return float(np.mean(diffs)) if diffs else math.nan
