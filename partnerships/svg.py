"""Bar charts as inline SVG, for the printable reports.

The dashboard draws its charts with Chart.js in the browser; a PDF is made on the server,
where no script runs, so the reports draw their bars here. Values are exact 万元 strings, as
on the dashboard; colours are the dashboard's.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import punctuation
from .charts import PALETTE
from .money import to_wan

WIDTH = 640
BAR = 16
GAP = 6
LABEL_WIDTH = 170
TEXT = 11
# The print stylesheet's fonts: SVG text does not inherit the page's, and the system's default
# sans-serif draws Chinese with the Japanese forms of Noto Sans CJK (and digits with DejaVu).
FONTS = (
    "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'Microsoft YaHei', "
    "'PingFang SC', sans-serif"
)


def _n(number) -> str:
    return f"{number:.1f}"


def _scale(values: list[Decimal]) -> Decimal:
    top = max(values, default=Decimal(0))
    return top if top > 0 else Decimal(1)


def _described(title: str, unit: str, labels: list[str], values: list[Decimal]) -> str:
    """The chart in words, for its aria-label: a screen reader heard only "万元, image".
    "各年度帮扶金额（万元）：2022 0.00、2023 105.00"."""
    figures = punctuation.joined(
        f"{label} {value:,.2f}" for label, value in zip(labels, values, strict=True)
    )
    return (
        f"{title}{punctuation.punct('（')}{unit}{punctuation.punct('）')}"
        f"{punctuation.punct('：')}{figures}"
    )


def fitted(label: str, room: float = LABEL_WIDTH - 6) -> str:
    """`label` within `room` units at font size TEXT, its end cut to "…" if longer: right
    aligned, a long name ran off the chart's left edge, and what was left of it
    ("…产业帮扶联农带农重点项目所在地") could pass for another place. The chart's description
    for screen readers keeps the whole name."""

    def width(character: str) -> float:
        return TEXT if unicodedata.east_asian_width(character) in "WF" else TEXT * 0.6

    if sum(map(width, label)) <= room:
        return label
    kept, used = [], TEXT  # the ellipsis's own room
    for character in label:
        used += width(character)
        if used > room:
            break
        kept.append(character)
    return "".join(kept) + "…"


def horizontal_bars(rows: list[tuple[str, Decimal]], *, unit: str, title: str) -> SafeString:
    """One bar per place, longest first as given, with its value in 万元 at the end."""
    if not rows:
        return SafeString("")
    values = [to_wan(amount) for _, amount in rows]
    description = _described(title, unit, [label for label, _ in rows], values)
    top = _scale(values)
    plot = WIDTH - LABEL_WIDTH - 70
    height = len(rows) * (BAR + GAP) + GAP + 18
    bars = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end" font-size="{}">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
        '<text x="{}" y="{}" font-size="{}">{}</text>',
        (
            (
                LABEL_WIDTH - 6,
                GAP + i * (BAR + GAP) + BAR - 4,
                TEXT,
                fitted(label),
                LABEL_WIDTH,
                GAP + i * (BAR + GAP),
                _n(max(Decimal("0.5"), value / top * plot)) if value else "0",
                BAR,
                PALETTE[0],
                _n(LABEL_WIDTH + float(value / top * plot) + 4),
                GAP + i * (BAR + GAP) + BAR - 4,
                TEXT,
                f"{value:,.2f}",
            )
            for i, ((label, _), value) in enumerate(zip(rows, values, strict=True))
        ),
    )
    return format_html(
        '<svg class="bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'width="100%" font-family="{}" role="img" aria-label="{}">{}'
        '<text x="{}" y="{}" font-size="{}" fill="#555">{}</text></svg>',
        WIDTH,
        height,
        FONTS,
        description,
        bars,
        LABEL_WIDTH,
        height - 4,
        TEXT,
        unit,
    )


def vertical_bars(columns: list[tuple[str, Decimal]], *, unit: str, title: str) -> SafeString:
    """One column per year, its value in 万元 above it."""
    if not columns:
        return SafeString("")
    values = [to_wan(amount) for _, amount in columns]
    description = _described(title, unit, [label for label, _ in columns], values)
    top = _scale(values)
    height, base, plot = 200, 170, 140
    step = (WIDTH - 40) / len(columns)
    width = min(48.0, step * 0.6)
    parts = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="{}">{}</text>'
        '<text x="{}" y="{}" text-anchor="middle" font-size="{}">{}</text>',
        (
            (
                _n(30 + i * step + (step - width) / 2),
                _n(base - float(value / top) * plot),
                _n(width),
                _n(float(value / top) * plot),
                PALETTE[0],
                _n(30 + i * step + step / 2),
                _n(base - float(value / top) * plot - 4),
                TEXT,
                f"{value:,.2f}",
                _n(30 + i * step + step / 2),
                base + 16,
                TEXT,
                label,
            )
            for i, ((label, _), value) in enumerate(zip(columns, values, strict=True))
        ),
    )
    return format_html(
        '<svg class="bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'width="100%" font-family="{}" role="img" aria-label="{}">'
        '<line x1="30" y1="{}" x2="{}" y2="{}" stroke="#999"/>{}'
        '<text x="0" y="12" font-size="{}" fill="#555">{}</text></svg>',
        WIDTH,
        height,
        FONTS,
        description,
        base,
        WIDTH - 10,
        base,
        parts,
        TEXT,
        unit,
    )
