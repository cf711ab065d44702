"""Chart.js payloads: {"type", "labels", "datasets", "unit"}, passed to the page by json_script.

Values are strings of exact 万元 with two decimals ("105.00"), never floats: Chart.js parses
numeric strings for drawing, and what a reader sees in tooltips comes from the same string.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable
from decimal import Decimal

from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from . import punctuation
from .models import DonationKind
from .money import to_wan
from .reports import YearTable

# Colour-blind-safe palette (Okabe–Ito plus two); a series keeps its colour across pages.
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#999999",
    "#332288",
    "#882255",
]
REST_COLOUR = "#BBBBBB"
KIND_COLOURS = {
    DonationKind.FUNDS: PALETTE[0],
    DonationKind.MATERIALS: PALETTE[1],
    DonationKind.BOTH: PALETTE[2],
}


def _words() -> dict:
    """What the page's script writes around the figures, in the page's language: the colon
    after a series' name in a tooltip, the unit after its figure ("92.47 万元"; in English
    "92.47 (10,000 yuan)", not "92.47 10,000 yuan", two numbers) and the mark of a share not
    given ("＋不详")."""
    return {
        "colon": punctuation.punct("："),
        "figure_unit": pgettext("after a figure", "(10,000 yuan)"),
        "plus_unknown": _("+ unknown"),
    }


def wan(amount: Decimal) -> str:
    return f"{to_wan(amount):.2f}"


def _extension_colour(i: int) -> str:
    """The i-th colour after PALETTE: hues a golden angle apart, at three lightnesses in
    turn, so neighbours differ in both; every one differs from the others and from PALETTE
    (tests/test_dashboard.py checks 60)."""
    hue = (i * 137.508 + 15) % 360 / 360
    lightness = (0.38, 0.55, 0.7)[i % 3]
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, 0.6)
    return "#{:02X}{:02X}{:02X}".format(*(round(part * 255) for part in (red, green, blue)))


def year_colours(years: Iterable[int]) -> dict[int, str]:
    """A distinct colour for each year one chart shows (`year % 10` gave 1997, 2007 and 2017
    one colour). Counted from the latest year, so the recent years, where the figures are,
    get the colour-blind-safe PALETTE, and widening the range to earlier years leaves their
    colours as they were."""
    return {
        year: PALETTE[i] if i < len(PALETTE) else _extension_colour(i - len(PALETTE))
        for i, year in enumerate(sorted(set(years), reverse=True))
    }


def yearly_by_kind(*, years: list[int], per_kind: dict[str, dict[int, Decimal]]) -> dict:
    return {
        **_words(),
        "type": "bar",
        "stacked": True,
        "unit": _("10,000 yuan"),
        "labels": [str(year) for year in years],
        "datasets": [
            {
                # "Funds", as the table's header says (the choice's own label is "funds")
                "label": capfirst(DonationKind(kind).label),
                "data": [wan(per_kind[kind].get(year, Decimal(0))) for year in years],
                "color": KIND_COLOURS[kind],
            }
            for kind in DonationKind.values
            if any(per_kind[kind].values())
        ],
    }


def _known_wan(row, i: int) -> str | None:
    """A row's amount in year `i`, or None where its share is all unknown."""
    if row.unknown and row.unknown[i] and not row.cells[i]:
        return None
    return wan(row.cells[i])


# A pairing's chart compares this many villages, those with the most aid.
PLACES_CHARTED = 20


def places_by_year(*, table: YearTable) -> dict:
    """One bar per place, split by year: places compare by length, years by colour.

    Only the PLACES_CHARTED places with the most aid, and none whose share is all unknown:
    beside them a row of what was not itemised, or of a hundred other villages summed, would
    make their bars slivers. The table below the chart lists all of them."""
    rows = [row for row in table.rows[:PLACES_CHARTED] if row.total]
    # Whether a village with aid is left off the chart: only then is it "the N villages with
    # the most aid" (the rest have no amount known, or none).
    left_out = any(row.total for row in table.rows[PLACES_CHARTED:]) or bool(
        table.others and table.others.total
    )
    colours = year_colours(table.years)
    return {
        **_words(),
        "type": "bar",
        "horizontal": True,
        "stacked": True,
        "unit": _("10,000 yuan"),
        "labels": [row.label for row in rows],
        "top_only": left_out,
        "datasets": [
            {
                "label": str(year),
                # no bar where nothing is known of a place's share (not a bar of 0)
                "data": [_known_wan(row, i) for row in rows],
                # "＋不详" in the tooltip where part of the share is not given
                "unknown": [bool(row.unknown and row.unknown[i]) for row in rows],
                "color": colours[year],
            }
            for i, year in enumerate(table.years)
        ],
    }


def yearly(
    *, years: list[int], totals: dict[int, Decimal], label: str, unknown: Iterable[int] = ()
) -> dict:
    """`unknown`: years whose figure is not known (a share the report does not give): no bar
    rather than a bar of 0, where nothing else is known of them."""
    unknown = set(unknown)
    data = [
        None if year in unknown and not totals.get(year) else wan(totals.get(year, Decimal(0)))
        for year in years
    ]
    return {
        **_words(),
        "type": "bar",
        "unit": _("10,000 yuan"),
        # a year of which nothing is known says so under its empty slot, which would
        # otherwise look like a year of nothing: "2026（不详）"
        "labels": [
            f"{year}{punctuation.punct('（')}{_('unknown')}{punctuation.punct('）')}"
            if value is None
            else str(year)
            for year, value in zip(years, data, strict=True)
        ],
        "datasets": [
            {
                "label": label,
                "data": data,
                "unknown": [year in unknown for year in years],
                "color": PALETTE[0],
            }
        ],
        # False when every year is unknown: the page shows no chart then, not empty axes.
        "known": any(value is not None for value in data),
    }


def donor_by_year(*, rows: list[dict]) -> dict:
    return {
        **_words(),
        "type": "bar",
        "stacked": True,
        "unit": _("10,000 yuan"),
        "labels": [str(row["year"]) for row in rows],
        "datasets": [
            {
                "label": _("Given alone"),
                "data": [wan(row["sole"]) for row in rows],
                "color": PALETTE[0],
            },
            {
                "label": _("Given jointly (split not reported)"),
                "data": [wan(row["joint"]) for row in rows],
                "color": PALETTE[1],
            },
        ],
    }
