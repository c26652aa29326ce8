"""TER statistics as sacrebleu computes them, with a leaner edit-distance table.

sacrebleu's TER (``sacrebleu.metrics.lib_ter``, Apache-2.0) spends most of its time in
``BeamEditDistance``: every cell of the beam-limited Levenshtein table is a tuple, and three tuples
of candidates are built per cell. ``LeanBeamEditDistance`` is the same algorithm - same beam, same
prefix cache, same preference among equal-cost operations, hence the same trace - over plain lists
of costs and operations; the shift search visits only the pairs of positions that can match.
Results are identical to sacrebleu's (tested against it on random, shuffled and degenerate segments).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

from sacrebleu.metrics.lib_ter import (
    _BEAM_WIDTH,
    _INT_INFINITY,
    _MAX_CACHE_SIZE,
    _MAX_SHIFT_CANDIDATES,
    _MAX_SHIFT_DIST,
    _MAX_SHIFT_SIZE,
    _OP_DEL,
    _OP_INS,
    _OP_NOP,
    _OP_SUB,
    _OP_UNDEF,
    _flip_trace,
    _perform_shift,
    trace_to_alignment,
)

Row = list[int]  # the costs of one row of the table


class LeanBeamEditDistance:
    """``sacrebleu.metrics.lib_ter.BeamEditDistance`` keeping only the costs of the table.

    sacrebleu stores the chosen operation with every cell; here the operations of the cells on the
    trace are worked out again from the costs when a trace is asked for: a cell's operation is the
    last of (no-op/substitution, deletion, insertion) that was strictly cheaper than those before
    it, which the costs of its three neighbours decide. A cell that no operation reached keeps the
    cost "infinity" (sacrebleu's undefined operation) and ends a trace with an error, as there.
    """

    def __init__(self, words_ref: Sequence[str]) -> None:
        self._words_ref = words_ref
        self._n_words_ref = len(words_ref)
        self._initial_row: Row = list(range(self._n_words_ref + 1))
        self.positions: dict[str, list[int]] = {}  # where each reference word occurs, for the shift search
        for r, word in enumerate(words_ref):
            self.positions.setdefault(word, []).append(r)
        self._cache: dict[str, tuple[dict[str, Any], Row]] = {}
        self._cache_size = 0

    def __call__(self, words_hyp: Sequence[str]) -> tuple[int, str]:
        rows = self._rows(words_hyp)
        return rows[-1][-1], self._trace(rows, words_hyp)

    def distance(self, words_hyp: Sequence[str]) -> int:
        """The edit distance alone (what a shift candidate is ranked by): no trace."""
        return self._rows(words_hyp)[-1][-1]

    def _rows(self, words_hyp: Sequence[str]) -> list[Row]:
        start, rows = self._find_cache(words_hyp)
        self._edit_distance(words_hyp, start, rows)
        self._add_cache(words_hyp, rows[start + 1:])
        return rows

    def _edit_distance(self, words_h: Sequence[str], start_h: int, rows: list[Row]) -> None:
        """Append the rows after ``start_h`` to ``rows`` (which holds the rows up to ``start_h``)."""
        n_h, n_r, ref = len(words_h), self._n_words_ref, self._words_ref
        length_ratio = n_r / n_h if words_h else 1
        beam = math.ceil(length_ratio / 2 + _BEAM_WIDTH) if length_ratio / 2 > _BEAM_WIDTH else _BEAM_WIDTH
        inf = _INT_INFINITY
        for i in range(start_h + 1, n_h + 1):
            prev = rows[i - 1]
            cost = [inf] * (n_r + 1)
            diag = math.floor(i * length_ratio)
            lo, hi = max(0, diag - beam), min(n_r + 1, diag + beam)
            if i == n_h:
                hi = n_r + 1
            word = words_h[i - 1]
            if lo == 0 and hi > 0:
                cost[0] = prev[0] + 1  # deletion, whatever the cost above
                lo = 1
            left = cost[lo - 1] if lo > 0 else inf
            new: list[int] = []
            add = new.append
            # three slices of hi - lo elements each
            for ref_word, diagonal, up in zip(ref[lo - 1:hi - 1], prev[lo - 1:hi - 1], prev[lo:hi], strict=False):
                best = diagonal if word == ref_word else diagonal + 1
                if best >= inf:
                    best = inf
                up += 1
                if up < best:
                    best = up
                left += 1
                if left < best:
                    best = left
                left = best
                add(best)
            cost[lo:hi] = new
            rows.append(cost)

    def _trace(self, rows: list[Row], words_h: Sequence[str]) -> str:
        """sacrebleu's trace (its operation codes, from the first cell to the last)."""
        ref, inf = self._words_ref, _INT_INFINITY
        i, j = len(words_h), self._n_words_ref
        trace: list[str] = []
        while i > 0 or j > 0:
            if i == 0:
                op = _OP_INS
            elif rows[i][j] == inf:
                op = _OP_UNDEF
            elif j == 0:
                op = _OP_DEL
            else:
                prev = rows[i - 1]
                match = words_h[i - 1] == ref[j - 1]
                best = prev[j - 1] if match else prev[j - 1] + 1
                op = _OP_NOP if match else _OP_SUB
                if best >= inf:
                    best, op = inf, _OP_UNDEF
                if prev[j] + 1 < best:
                    best, op = prev[j] + 1, _OP_DEL
                if rows[i][j - 1] + 1 < best:
                    op = _OP_INS
            trace.append(op)
            if op in (_OP_SUB, _OP_NOP):
                i -= 1
                j -= 1
            elif op == _OP_INS:
                j -= 1
            elif op == _OP_DEL:
                i -= 1
            else:
                raise ValueError(f"unknown operation {op!r}")
        return "".join(reversed(trace))

    def _add_cache(self, words_hyp: Sequence[str], new_rows: list[Row]) -> None:
        if self._cache_size >= _MAX_CACHE_SIZE:
            return
        node = self._cache
        skip = len(words_hyp) - len(new_rows)
        for i in range(skip):
            node = node[words_hyp[i]][0]
        for word, row in zip(words_hyp[skip:], new_rows, strict=True):
            if word not in node:
                node[word] = ({}, row)
                self._cache_size += 1
            node = node[word][0]

    def _find_cache(self, words_hyp: Sequence[str]) -> tuple[int, list[Row]]:
        node = self._cache
        rows = [self._initial_row]
        for word in words_hyp:
            if word not in node:
                break
            node, row = node[word]
            rows.append(row)
        return len(rows) - 1, rows


def _find_shifted_pairs(words_h: Sequence[str], words_r: Sequence[str],
                        positions: dict[str, list[int]]) -> Iterator[tuple[int, int, int]]:
    """sacrebleu's ``_find_shifted_pairs``, same pairs in the same order, visiting only the reference
    positions (``positions``: word -> its indices in ``words_r``) that start with the hypothesis word
    (the others yield nothing there)."""
    n_h, n_r = len(words_h), len(words_r)
    for start_h in range(n_h):
        for start_r in positions.get(words_h[start_h], ()):
            if abs(start_r - start_h) > _MAX_SHIFT_DIST:
                continue
            length = 0
            while words_h[start_h + length] == words_r[start_r + length] and length < _MAX_SHIFT_SIZE:
                length += 1
                yield start_h, start_r, length
                if n_h == start_h + length or n_r == start_r + length:
                    break


def _shift(words_h: list[str], words_r: list[str], cached_ed: LeanBeamEditDistance,
           checked_candidates: int) -> tuple[int, list[str], int]:
    """sacrebleu's ``_shift`` (Tercom's choice of the best shift), step for step."""
    pre_score, inv_trace = cached_ed(words_h)
    align, ref_err, hyp_err = trace_to_alignment(_flip_trace(inv_trace))
    # running totals of the error flags: "no error in a span" without summing a slice per pair
    hyp_errors, ref_errors = [0, *accumulate(hyp_err)], [0, *accumulate(ref_err)]
    best: tuple[int, int, int, int, list[str]] | None = None
    for start_h, start_r, length in _find_shifted_pairs(words_h, words_r, cached_ed.positions):
        if hyp_errors[start_h + length] == hyp_errors[start_h]:
            continue
        if ref_errors[start_r + length] == ref_errors[start_r]:
            continue
        if start_h <= align[start_r] < start_h + length:
            continue
        prev_idx = -1
        for offset in range(-1, length):
            if start_r + offset == -1:
                idx = 0
            elif start_r + offset in align:
                idx = align[start_r + offset] + 1
            else:
                break
            if idx == prev_idx:
                continue
            prev_idx = idx
            shifted_words = _perform_shift(words_h, start_h, length, idx)
            candidate = (pre_score - cached_ed.distance(shifted_words), length, -start_h, -idx, shifted_words)
            checked_candidates += 1
            if not best or candidate > best:
                best = candidate
        if checked_candidates >= _MAX_SHIFT_CANDIDATES:
            break
    if not best:
        return 0, words_h, checked_candidates
    return best[0], best[4], checked_candidates


def translation_edit_rate(words_hyp: list[str], words_ref: list[str]) -> tuple[int, int]:
    """``sacrebleu.metrics.lib_ter.translation_edit_rate`` over ``LeanBeamEditDistance``."""
    if not words_ref:
        return len(words_hyp), 0
    cached_ed = LeanBeamEditDistance(words_ref)
    shifts, checked = 0, 0
    words = words_hyp
    while True:
        delta, shifted, checked = _shift(words, words_ref, cached_ed, checked)
        if checked >= _MAX_SHIFT_CANDIDATES or delta <= 0:
            break
        shifts += 1
        words = shifted
    distance, _ = cached_ed(words)
    return shifts + distance, len(words_ref)


def ter_statistics(metric: Any, hypothesis: str, references: Sequence[str]) -> list[float]:
    """[fewest edits over the references, mean reference length] as sacrebleu's ``TER`` metric
    extracts them, preprocessing included (references are tokenized twice there, so here too)."""
    words_hyp = metric._preprocess_segment(hypothesis).split()
    best, ref_lengths = int(1e16), 0
    for reference in references:
        words_ref = metric._preprocess_segment(metric._preprocess_segment(reference)).split()
        edits, length = translation_edit_rate(words_hyp, words_ref)
        ref_lengths += length
        best = min(best, edits)
    return [float(best), ref_lengths / len(references)]
