"""Downloads of the assessment: a pairing's indicators against targets, and the ranking."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from django.utils.translation import gettext as _

from . import indicators
from .access import ALL, Scope
from .exports import NUMBER, YES_NO, Column, Summary, Yuan
from .models import Partnership


def _percent(share: Decimal | None) -> Decimal | None:
    """A share in per cent to a tenth, rounded down, as the pages show it (never 100.0 for a
    target not met)."""
    return None if share is None else (share * 100).quantize(Decimal("0.1"), ROUND_FLOOR)


def targets(*, partnership: Partnership, year: int) -> Summary:
    """One row per indicator: target, achieved, share, records; money in yuan to the fen."""
    assessment = indicators.pairing_years(partnership=partnership, years=[year])[year]
    columns = [
        Column("indicator", _("Indicator")),
        Column("unit", _("Unit")),
        Column("target", _("Target"), NUMBER, summable=False),
        Column("achieved", _("Achieved"), NUMBER, summable=False),
        Column("share_percent", _("Share done (%)"), NUMBER, summable=False),
        Column("met", _("Met"), YES_NO),
        Column("records", _("Records"), NUMBER, summable=False),
        Column("without_number", _("Records without a number"), NUMBER, summable=False),
        Column("no_record", _("No record yet"), YES_NO),
    ]
    rows = []
    for row in assessment.rows:
        # Empty, not 0, when no record gives a number (the records columns say how many).
        achieved = None if row.achieved.missing or row.achieved.all_unknown else row.achieved.value
        if row.money:  # shown as money in an XLSX, beside the counts of the other rows
            achieved = None if achieved is None else Yuan(achieved)
        target = Yuan(row.target) if row.money and row.target is not None else row.target
        rows.append(
            [
                row.label,
                _("yuan") if row.money else row.count_unit,
                target,
                achieved,
                _percent(row.share),
                row.met,
                row.achieved.records,
                row.achieved.unknown,
                row.achieved.missing,
            ]
        )
    return Summary(
        _("Targets and results %(year)d") % {"year": year},
        columns,
        rows,
        scope=str(partnership),
        extra={"no_total": True},
    )


def ranking(*, year: int, scope: Scope = ALL) -> Summary:
    columns = [
        Column("rank", _("Rank"), NUMBER, summable=False),
        Column("pairing", _("Pairing")),
        Column("helping_region", _("Helping side")),
        Column("assisted_region", _("Assisted side")),
        Column("targets", _("Targets"), NUMBER, summable=False),
        # Counts, named apart from the targets download's yes/no "met" and "no_record".
        Column("targets_met", _("Targets met"), NUMBER, summable=False),
        Column("share_met_percent", _("Share met (%)"), NUMBER, summable=False),
        Column("average_progress_percent", _("Average progress (%)"), NUMBER, summable=False),
        Column(
            "indicators_without_record", _("Indicators without a record"), NUMBER, summable=False
        ),
    ]
    rows = []
    for rank, item in enumerate(indicators.ranking(year=year, scope=scope), start=1):
        assessment, pairing = item.assessment, item.partnership
        rows.append(
            [
                rank,
                str(pairing),
                pairing.helping_region.name,
                pairing.assisted_region.name,
                len(assessment.with_targets),
                assessment.met,
                _percent(assessment.share_met),
                _percent(assessment.mean_completion),
                len(assessment.missing),
            ]
        )
    return Summary(
        _("Targets met by pairing %(year)d") % {"year": year},
        columns,
        rows,
        extra={"no_total": True},
    )
