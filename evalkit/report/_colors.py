"""Colour-blind-safe colours for heatmap cells and charts (viridis, blue–orange diverging, Okabe–Ito)."""

from __future__ import annotations

import math

# viridis sampled at 9 evenly spaced points (matplotlib); perceptually uniform, monotonic lightness.
_VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
SERIES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
GOOD = "#2166ac"  # blue: better than the baseline
BAD = "#d95f02"  # orange: worse than the baseline
NEUTRAL = "#6b7280"


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def _mix(a: tuple[float, float, float], b: tuple[float, float, float], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _luminance(rgb: tuple[float, float, float]) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _text_for(rgb: tuple[float, float, float]) -> str:
    return "#111827" if _luminance(rgb) > 0.22 else "#ffffff"


def viridis(t: float) -> tuple[float, float, float]:
    """The viridis colour at ``t`` in [0, 1]."""
    t = max(0.0, min(1.0, t))
    pos = t * (len(_VIRIDIS) - 1)
    i = min(int(pos), len(_VIRIDIS) - 2)
    return _mix(_rgb(_VIRIDIS[i]), _rgb(_VIRIDIS[i + 1]), pos - i)


def heat(value: float | None, *, higher_is_better: bool, top: float = 100.0) -> tuple[str, str]:
    """Background and text colour for a score cell: brighter is better, whatever the metric's direction.

    The colour is softened towards white so that the printed number stays the main signal.
    """
    if value is None or math.isnan(value):
        return "#f3f4f6", "#6b7280"
    t = max(0.0, min(1.0, value / top)) if top > 0 else 0.0
    if not higher_is_better:
        t = 1.0 - t
    rgb = _mix(viridis(t), (1.0, 1.0, 1.0), 0.18)
    return _hex(rgb), _text_for(rgb)


def diverging(delta: float | None, *, higher_is_better: bool, scale: float = 10.0) -> tuple[str, str]:
    """Background and text colour for a delta: blue when better, orange when worse, white when unchanged."""
    if delta is None or math.isnan(delta) or delta == 0:
        return "#ffffff", "#111827"
    better = (delta > 0) == higher_is_better
    t = min(1.0, abs(delta) / scale) * 0.85 + 0.08
    rgb = _mix((1.0, 1.0, 1.0), _rgb(GOOD if better else BAD), t)
    return _hex(rgb), _text_for(rgb)


def series(index: int) -> str:
    """The colour of the ``index``-th data series (prompt variant, run)."""
    return SERIES[index % len(SERIES)]
