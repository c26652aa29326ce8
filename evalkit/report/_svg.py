"""Inline SVG charts built as strings (no JS chart library, nothing to fetch).

Every label that comes from data goes through :func:`markupsafe.escape`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from evalkit.report._colors import BAD, GOOD, NEUTRAL
from evalkit.report._format import interval, num, signed

FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif"


@dataclass(frozen=True)
class Bar:
    """One bar: a score with its 95% interval."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0


@dataclass(frozen=True)
class Series:
    name: str
    colour: str


@dataclass(frozen=True)
class Effect:
    """One row of a forest plot: a delta with its 95% interval."""

    label: str
    delta: float
    low: float
    high: float
    direction: str  # "regression", "improvement" or "none"


_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


def axis(values: Sequence[float], ticks: int = 4) -> tuple[float, float]:
    """The top of a bar chart's y axis and its tick step, chosen from the data (not a fixed 0–100: BLEU
    around 20 would be slivers): the smallest round step that fits the highest value in ``ticks`` steps.
    Scores that stay within 0–100 never get an axis beyond 100."""
    high = max([0.0, *values])
    if high <= 0:
        return 1.0, 0.25
    raw = high / ticks
    scale = 10 ** math.floor(math.log10(raw))
    step = next(m * scale for m in _STEPS if m * scale >= raw - 1e-9)
    top = math.ceil(high / step - 1e-9) * step
    if top > 100.0 and high <= 100.0 + 1e-6:  # sacrebleu's 100.00000000000004
        top, step = 100.0, 25.0
    return top, step


def _f(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def bar_chart(title: str, groups: Sequence[tuple[str, str]], series: Sequence[Series],
              bars: dict[tuple[str, str], Bar], *, lower_is_better: bool = False) -> Markup:
    """Grouped bars (one group per language, one bar per series) with interval whiskers.

    ``groups`` are ``(key, label)`` pairs; ``bars`` is keyed by ``(series name, group key)``. The y axis
    follows the data and its range is stated in the top right corner. The chart is drawn about as wide as
    the card that holds it (the CSS scales it to the card's width), with the groups spread over it."""
    n_s = max(1, len(series))
    left, right, top_m, bottom = 40, 12, 44, 36  # the top margin holds the legend and value labels above 100
    plot_h = 170
    width = max(600, left + right + len(groups) * (n_s * 14 + 22))
    slot = (width - left - right) / max(1, len(groups))
    bw = max(8, min(28, int((slot - 18) / n_s) - 3))
    group_w = n_s * (bw + 3) - 3
    height = top_m + plot_h + bottom
    tops = [b.high for b in bars.values() if b.high is not None and not math.isnan(b.high)]
    tops += [b.value for b in bars.values() if b.value is not None and not math.isnan(b.value)]
    ymax, step = axis(tops)

    def y(v: float) -> float:
        return top_m + plot_h - plot_h * max(0.0, min(v, ymax)) / ymax

    out = [f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" style="font:{FONT}">',
           f"<title>{escape(title)}</title>"]
    for i in range(round(ymax / step) + 1):
        v = step * i
        yy = y(v)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#6b7280">{_f(v)}</text>')
    # legend
    lx = left
    for s in series:
        out.append(f'<rect x="{lx}" y="8" width="10" height="10" rx="2" fill="{s.colour}"/>')
        out.append(f'<text x="{lx + 14}" y="17" fill="#374151">{escape(s.name)}</text>')
        lx += 24 + 7 * len(s.name)
    note = f"axis 0–{_f(ymax)}" + (" · lower is better" if lower_is_better else "")
    out.append(f'<text class="axis-range" x="{width - right}" y="17" text-anchor="end" fill="#6b7280">'
               f"{note}</text>")
    show_values = len(groups) * n_s <= 24
    for gi, (key, label) in enumerate(groups):
        gx = left + gi * slot + (slot - group_w) / 2
        for si, s in enumerate(series):
            bar = bars.get((s.name, key))
            x = gx + si * (bw + 3)
            if bar is None or bar.value is None or math.isnan(bar.value):
                out.append(f'<text x="{x + bw / 2:.1f}" y="{y(0) - 3:.1f}" text-anchor="middle" '
                           f'fill="#9ca3af">–</text>')
                continue
            tip = f"{s.name} · {label}: {num(bar.value)} {interval(bar.low, bar.high)} n={bar.n}"
            yt = y(bar.value)
            out.append(f'<rect class="bar" x="{x:.1f}" y="{yt:.1f}" width="{bw}" height="{y(0) - yt:.1f}" '
                       f'fill="{s.colour}"><title>{escape(tip)}</title></rect>')
            top_y = yt
            if bar.low is not None and bar.high is not None and not math.isnan(bar.low + bar.high):
                cx, y1, y2 = x + bw / 2, y(bar.low), y(bar.high)
                top_y = min(top_y, y2)
                out.append(f'<path class="whisker" d="M{cx:.1f} {y1:.1f}V{y2:.1f}M{cx - 3:.1f} {y1:.1f}h6'
                           f'M{cx - 3:.1f} {y2:.1f}h6" stroke="#111827" stroke-width="1.2" fill="none"/>')
            if show_values:
                out.append(f'<text x="{x + bw / 2:.1f}" y="{top_y - 3:.1f}" text-anchor="middle" font-size="9" '
                           f'fill="#374151">{num(bar.value, 0)}</text>')
        out.append(f'<text x="{gx + group_w / 2:.1f}" y="{top_m + plot_h + 16}" text-anchor="middle" '
                   f'fill="#111827">{escape(key)}</text>')
        out.append(f'<text x="{gx + group_w / 2:.1f}" y="{top_m + plot_h + 29}" text-anchor="middle" '
                   f'fill="#6b7280" font-size="10">{escape(label)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#9ca3af"/>')
    out.append("</svg>")
    return Markup("".join(out))


def forest_plot(title: str, effects: Sequence[Effect], *, unit: str = "points") -> Markup:
    """Deltas (candidate − baseline) with their paired 95% intervals, one row per language."""
    row_h, left, right, top_m, bottom = 22, 90, 90, 26, 26
    width = 600  # about the width of its card, so the CSS scaling it to the card keeps the text size
    height = top_m + bottom + row_h * max(1, len(effects))
    finite = [abs(v) for e in effects for v in (e.low, e.high, e.delta) if not math.isnan(v)]
    span = max([1.0, *finite]) * 1.1
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + plot_w * (max(-span, min(span, v)) + span) / (2 * span)

    out = [f'<svg class="chart forest" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" style="font:{FONT}">',
           f"<title>{escape(title)}</title>",
           f'<text x="{left}" y="14" fill="#374151">Δ {escape(unit)} (candidate − baseline), 95% CI</text>']
    for tick in (-span / 1.1, 0.0, span / 1.1):
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top_m - 4}" y2="{height - bottom + 4}" '
                   f'stroke="{"#9ca3af" if tick == 0 else "#e5e7eb"}"/>')
        out.append(f'<text x="{tx:.1f}" y="{height - 8}" text-anchor="middle" fill="#6b7280">{signed(tick)}</text>')
    for i, e in enumerate(effects):
        cy = top_m + row_h * i + row_h / 2
        colour = {"regression": BAD, "improvement": GOOD}.get(e.direction, NEUTRAL)
        out.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" text-anchor="end" fill="#111827">{escape(e.label)}</text>')
        if math.isnan(e.delta):
            continue
        if not math.isnan(e.low + e.high):
            out.append(f'<line x1="{x(e.low):.1f}" x2="{x(e.high):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" '
                       f'stroke="{colour}" stroke-width="2"/>')
        shape = "M0 -5L5 0L0 5L-5 0Z" if e.direction != "none" else "M-3.5 -3.5h7v7h-7Z"
        tip = f"{e.label}: {signed(e.delta)} {interval(e.low, e.high, sign=True)}"
        out.append(f'<path transform="translate({x(e.delta):.1f} {cy:.1f})" d="{shape}" fill="{colour}">'
                   f"<title>{escape(tip)}</title></path>")
        mark = {"regression": " ▼", "improvement": " ▲"}.get(e.direction, "")
        out.append(f'<text x="{width - right + 8}" y="{cy + 4:.1f}" fill="{colour}">'
                   f"{escape(signed(e.delta) + mark)}</text>")
    out.append("</svg>")
    return Markup("".join(out))
