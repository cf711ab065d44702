"""Summaries for download: CSV (Excel/WPS-safe), XLSX and JSON, with one definition each.

A summary is a list of columns and an iterator of rows, so the three formats always carry the
same figures, and the large ones (the ledger) stream in constant memory: rows come from the
database in chunks and go out as they are written.
"""

from __future__ import annotations

import csv
import heapq
import json
import re
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connection
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from . import punctuation, reports
from .models import (
    REGION_ANCESTORS,
    Category,
    Donation,
    DonationKind,
    DonationLine,
    Funding,
    Meeting,
    MeetingParticipant,
    Organisation,
    Partnership,
    Region,
    Visit,
)
from .money import to_wan

TEXT, MONEY, DATE, NUMBER = "text", "money", "date", "number"
YES_NO = "yes_no"  # True, False or None: 是 / 否 / empty in a sheet, true / false / null in JSON
CHUNK = 2000
# OWASP: a spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True)
class Column:
    key: str  # stable, for JSON and for reading a file back in
    header: Any  # lazily translated, for people
    kind: str = TEXT
    # Whether a total of the column means anything: a handover's total repeated on each of
    # its lines does not add up, nor do subtree totals of nested pairings.
    summable: bool = True


class Yuan(Decimal):
    """An amount in a NUMBER column whose rows mix units (the targets download: yuan beside
    counts of people): an XLSX shows it as the money columns are (#,##0.00)."""


@dataclass
class Summary:
    name: Any  # what it is, in the file name
    columns: list[Column]
    rows: Iterable[list[Any]]
    scope: str = ""  # which pairing/region/donor, in the file name
    extra: dict[str, Any] = field(default_factory=dict)
    # The same rows as one SQL query (sql, params) for PostgreSQL's COPY, when there is one:
    # the CSV then streams from the database without a Python object per cell.
    copy_sql: Callable[[], tuple[str, list[Any]]] | None = None
    # The filters it was made with, in a few words each (reports.Filters.words), named in the
    # file's name so that a filtered download does not pass for the whole.
    filter_words: list[str] = field(default_factory=list)
    # How many rows it has, where that may be more than an XLSX is made of in good time
    # (XLSX_MAX_ROWS); counted before the file is made.
    count: Callable[[], int] | None = None

    def filename(self, extension: str) -> str:
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        parts = [str(self.name), self.scope, *self.filter_words, stamp]
        return safe_filename("-".join(part for part in parts if part) + f".{extension}")


# What Windows refuses in a file's name (and "/" everywhere): a region named
# 示例西县（含开发区/高新区:试验区） gave a download named with them, which a browser
# renames at will or refuses to save under that name.
UNSAFE_IN_FILENAMES = re.compile(r'[\x00-\x1f\\/:*?"<>|]')


def safe_filename(name: str) -> str:
    return UNSAFE_IN_FILENAMES.sub("-", name)


def neutralise(text: str) -> str:
    """Keep a text cell from being run as a formula (a leading apostrophe shows it as text)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(text: str) -> str:
    """Undo `neutralise` when a file of ours is read back in."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def _cell_text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == YES_NO:
        return _yes_no(value)
    if kind == MONEY:
        return f"{value:.2f}"
    if kind == DATE:
        return value.isoformat()
    if kind == NUMBER:
        return str(value)
    return neutralise(str(value))


# Region columns -------------------------------------------------------------------------

REGION_COLUMNS = [
    Column("province", gettext_lazy("Province")),
    Column("city", gettext_lazy("City")),
    Column("county", gettext_lazy("County or district")),
    Column("town", gettext_lazy("Town")),
    Column("village", gettext_lazy("Village or community")),
]


def region_cells(region: Region | None) -> list[str]:
    """A region as five columns, province to village; a level the record skips stays empty."""
    cells = [""] * 5
    for node in region.ancestors_and_self if region else []:
        cells[node.level - 1] = node.name
    return cells


def joined(names: Iterable[str]) -> str:
    """Names in one cell as the page writes them: 甲、乙, and "甲, 乙" in English (the
    imports read either)."""
    return punctuation.joined(names)


# The summaries --------------------------------------------------------------------------


def _in_yuan(label: str) -> str:
    """A column's name with its unit: 资金（元）; 资金及物资（未拆分，元）, not （未拆分）（元）.
    Capitalised as a header, as the others are ("Funds (yuan)", not "funds (yuan)")."""
    label = capfirst(label)
    unit = _("yuan")
    if label.endswith(("）", ")")):
        return f"{label[:-1]}{punctuation.punct('，')}{unit}{label[-1]}"
    return f"{label}{punctuation.punct('（')}{unit}{punctuation.punct('）')}"


def yearly(*, filters: reports.Filters) -> Summary:
    per_kind = reports.yearly_totals_by_kind(filters=filters)
    years = reports.year_span(
        filters=filters,
        data_years=reports.years_covered(reports.totals_by_year(per_kind)),
    )
    kinds = DonationKind.values
    columns = [
        Column("year", _("Year"), NUMBER),
        *(Column(kind, _in_yuan(str(DonationKind(kind).label)), MONEY) for kind in kinds),
        Column("total", _("Total (yuan)"), MONEY),
    ]
    rows = []
    for year in years:
        amounts = [per_kind[kind].get(year, reports.ZERO) for kind in kinds]
        rows.append([year, *amounts, sum(amounts, reports.ZERO)])
    # The CSV and the XLSX sheet end with the page's total row (summed by the writers); the
    # XLSX also gives it in 万元 on its sheet of totals; JSON leaves it out.
    return Summary(_("Aid per year"), columns, rows, extra={"sum_row": _("Total")})


def pairings(*, filters: reports.Filters, within: Partnership | None = None) -> Summary:
    """Every pairing with its total, or with `within` the child pairings a pairing page lists."""
    columns = [
        Column("pairing", _("Pairing")),
        Column("parent", _("Parent pairing")),
        Column("helping_region", _("Helping side")),
        Column("assisted_region", _("Assisted side")),
        Column("established_year", _("Year established"), NUMBER),
        Column("total", _("Aid total (yuan)"), MONEY),
    ]
    totals = reports.pairing_totals(
        filters=filters, within=within, max_depth=1 if within is not None else None
    )
    names = {row.partnership.pk: str(row.partnership) for row in totals}
    if within is not None:
        names[within.pk] = str(within)
    # A parent outside an official's pairings is named all the same, as the pairing's page
    # names it (without a link): the file left it empty.
    parents = {row.partnership.parent_id for row in totals} - {*names, None}
    if parents:
        above = Partnership.objects.select_related("helping_region", "assisted_region")
        names.update((pk, str(parent)) for pk, parent in above.in_bulk(parents).items())
    paths = (
        Partnership.objects.select_related(
            f"helping_region__{REGION_ANCESTORS}", f"assisted_region__{REGION_ANCESTORS}"
        )
        .order_by()
        .in_bulk([row.partnership.pk for row in totals])
    )
    rows = [
        [
            names[row.partnership.pk],
            names.get(row.partnership.parent_id, ""),
            paths[row.partnership.pk].helping_region.full_name,
            paths[row.partnership.pk].assisted_region.full_name,
            row.partnership.established_year,
            row.total,
        ]
        for row in totals
    ]
    # Each pairing's total includes its children's: a column total would count them twice.
    return Summary(
        _("Aid per pairing"), columns, rows, scope=str(within or ""), extra={"no_total": True}
    )


def _year_table(table: reports.YearTable, name: Any, scope: str) -> Summary:
    columns = [
        *REGION_COLUMNS,
        Column("note", _("Note")),
        *(Column(str(year), str(year), MONEY) for year in table.years),
        Column("total", _("Total (yuan)"), MONEY),
    ]
    regions = (
        Region.objects.select_related(REGION_ANCESTORS)
        .order_by()
        .in_bulk([row.region.pk for row in table.rows])
    )
    rows = [
        [*region_cells(regions[row.region.pk]), _unknown_note(row, table.years), *_cells(row)]
        for row in table.rows
    ]
    totals = _share_cells([*table.column_shares, table.total_share])
    if table.rest:
        # A town named itself without its share (reports._mark_own_unknown_share) says so,
        # as its page's 不详 does.
        rest_note = _unknown_note(table.rest, table.years)
        label = table.rest.label + (punctuation.punct("；") + rest_note if rest_note else "")
        # A village's own row is all there is: its unknown shares are the table's.
        cells = totals if not table.rows else _cells(table.rest)
        rows.append([*[""] * 5, label, *cells])
    total_label = _("Total")
    if table.unknown_shares:
        # The page says 不详 for these years: the download must not let 0.00 pass for a figure.
        total_label = ngettext(
            "Total, without the unknown share of %(count)s handover naming this region (%(years)s)",
            "Total, without the unknown share of %(count)s handovers naming this region "
            "(%(years)s)",
            sum(table.unknown_shares.values()),
        ) % {
            "count": sum(table.unknown_shares.values()),
            "years": punctuation.joined(str(year) for year in sorted(table.unknown_shares)),
        }
    rows.append([*[""] * 5, total_label, *totals])
    # The last row already holds the totals: the XLSX 万元 row restates it, not sums again.
    return Summary(name, columns, rows, scope=scope, extra={"total_row": True})


def _cells(row: reports.TableRow) -> list[Decimal | None]:
    """A row's amounts and total; empty, not 0.00, where its share is all unknown."""
    return _share_cells([*row.cell_shares, row.total_share])


def _share_cells(shares: list[reports.Share]) -> list[Decimal | None]:
    """Amounts as the page gives them: empty where the page says 不详 (nothing known, some
    share not given), never 0.00; the known part where the page says "… ＋不详"."""
    return [share.amount if share.amount or not share.unknown else None for share in shares]


def _unknown_note(row: reports.TableRow, years: list[int]) -> str:
    if not any(row.unknown):
        return ""
    count = sum(row.unknown)
    return ngettext(
        "Without its unknown share of %(count)s handover (%(years)s)",
        "Without its unknown share of %(count)s handovers (%(years)s)",
        count,
    ) % {
        "count": count,
        "years": punctuation.joined(
            str(year) for year, n in zip(years, row.unknown, strict=True) if n
        ),
    }


def villages(*, filters: reports.Filters, partnership: Partnership) -> Summary:
    table = reports.village_year_table(filters=filters, partnership=partnership)
    return _year_table(table, _("Aid per village and year"), str(partnership))


def places(*, filters: reports.Filters, region: Region) -> Summary:
    table = reports.region_year_table(filters=filters, region=region)
    return _year_table(table, _("Aid per place and year"), region.name)


def donors(
    *,
    filters: reports.Filters,
    partnership: Partnership | None = None,
    organisation: Organisation | None = None,
    region: Region | None = None,
) -> Summary:
    """Donors × years: what each took part in, with the part given alone and jointly."""
    selected = reports.donations(filters=filters, partnership=partnership)
    if region is not None:
        selected = selected.filter(region__path__startswith=region.path)
    links = reports.DonorLink.objects.filter(donation__in=selected)
    if organisation is not None:
        # One donor's figures as its page shows them: its handovers that the filters select,
        # a donor kind being one of their donors' (another's, in a joint handover).
        links = links.filter(organisation=organisation)
    elif filters.donor_kind:
        # A list of donors under a donor kind lists the donors of that kind, as the pages'
        # top donors do.
        links = links.filter(organisation__kind=filters.donor_kind)
    rows = (
        links.order_by()
        .values("organisation_id", "donation__year")
        .annotate(
            total=Sum("donation__amount"),
            sole=reports._or_zero(Sum("donation__amount", filter=Q(donation__donor_count=1))),
        )
    )
    per_donor: dict[int, dict[int, dict[str, Decimal]]] = defaultdict(dict)
    for row in rows:
        per_donor[row["organisation_id"]][row["donation__year"]] = row
    all_years = {year for years in per_donor.values() for year in years}
    years = reports.year_span(
        filters=filters, data_years=(min(all_years, default=None), max(all_years, default=None))
    )
    organisations = Organisation.objects.select_related(f"region__{REGION_ANCESTORS}").in_bulk(
        list(per_donor)
    )
    columns = [
        Column("donor", _("Donor")),
        Column("kind", _("Kind")),
        Column("region", _("Region")),
        # Each year's figure holds its joint handovers in full, for each of their donors:
        # said in its heading, or a column summed in Excel counts them once a donor.
        *(
            Column(str(year), _("%(year)s, alone and jointly (yuan)") % {"year": year}, MONEY)
            for year in years
        ),
        Column("sole", _("Given alone (yuan)"), MONEY),
        Column("joint", _("Given jointly, split not reported (yuan)"), MONEY),
        Column("total", _("Total (yuan)"), MONEY),
    ]
    out = []
    # In pk order, then by total (a stable sort): ties as the pages list them, by who was
    # entered first (the report's order), not by the names' code points.
    for pk, by_year in sorted(per_donor.items()):
        org = organisations[pk]
        cells = [by_year[y]["total"] if y in by_year else reports.ZERO for y in years]
        sole = sum((row["sole"] for row in by_year.values()), reports.ZERO)
        total = sum(cells, reports.ZERO)
        out.append(
            [
                org.name,
                org.get_kind_display(),
                org.region.full_name if org.region else "",
                *cells,
                sole,
                total - sole,
                total,
            ]
        )
    out.sort(key=lambda row: -row[-1])
    scope = str(partnership or organisation or region or "")
    return Summary(_("Donors by year"), columns, out, scope=scope, extra={"no_total": True})


LEDGER_COLUMNS = [
    Column("handover", gettext_lazy("Handover number")),
    Column("date", gettext_lazy("Date"), DATE),
    Column("year", gettext_lazy("Year"), NUMBER),
    Column("helping_region", gettext_lazy("Helping side")),
    Column("assisted_region", gettext_lazy("Assisted side")),
    Column("visit", gettext_lazy("Visit start date"), DATE),
    Column("donors", gettext_lazy("Donors")),
    Column("recipient_regions", gettext_lazy("Recipient towns and villages")),
    Column("recipient_organisations", gettext_lazy("Recipient organisations")),
    Column("receiving_region", gettext_lazy("Receiving region")),
    Column("kind", gettext_lazy("Funds or materials")),
    Column("materials", gettext_lazy("Materials")),
    Column("category", gettext_lazy("Category")),
    Column("funding", gettext_lazy("Fiscal or social")),
    Column("handover_total", gettext_lazy("Handover total (yuan)"), MONEY, summable=False),
    Column("itemised", gettext_lazy("Line")),
    *REGION_COLUMNS,
    Column("line_organisation", gettext_lazy("Recipient organisation of the line")),
    Column("line_donor", gettext_lazy("Donor of the line")),
    Column("amount", gettext_lazy("Amount (yuan)"), MONEY),
    Column("note", gettext_lazy("Note")),
    Column("source", gettext_lazy("Source")),
]


def ledger_lines(
    *,
    filters: reports.Filters,
    partnership: Partnership | None = None,
    region: Region | None = None,
    organisation: Organisation | None = None,
    visit: Visit | None = None,
    donation_ids: list[int] | None = None,
):
    lines = reports.lines(filters=filters, partnership=partnership)
    if region is not None:
        lines = lines.filter(region__path__startswith=region.path)
    if organisation is not None:
        lines = lines.filter(donation__donors=organisation)
    if visit is not None:
        lines = lines.filter(donation__visit=visit)
    if donation_ids is not None:
        lines = lines.filter(donation_id__in=donation_ids)
    return lines


class RegionNames:
    """Region names by id, loaded a batch at a time with their ancestors, kept for the export.

    The ledger needs each line's region as five columns and two sides as full names; joining
    four levels of ancestors for every row of a million would build a dozen objects per row.
    """

    def __init__(self):
        self.known: dict[int, tuple[str, int, str]] = {}  # id → (name, level, path)

    def load(self, ids: set[int]) -> None:
        missing = {pk for pk in ids if pk is not None and pk not in self.known}
        if not missing:
            return
        rows = list(
            Region.objects.filter(pk__in=missing).values_list("pk", "name", "level", "path")
        )
        ancestors = (
            {int(part) for _, _, _, path in rows for part in path.strip("/").split("/")}
            - self.known.keys()
            - missing
        )
        if ancestors:
            rows += Region.objects.filter(pk__in=ancestors).values_list(
                "pk", "name", "level", "path"
            )
        for pk, name, level, path in rows:
            self.known[pk] = (name, level, path)

    def chain(self, pk: int) -> list[tuple[str, int, str]]:
        path = self.known[pk][2]
        return [self.known[int(part)] for part in path.strip("/").split("/")]

    def full_name(self, pk: int) -> str:
        return " ".join(link[0] for link in self.chain(pk))

    def cells(self, pk: int) -> list[str]:
        cells = [""] * 5
        for name, level, _path in self.chain(pk):
            cells[level - 1] = name
        return cells


def _names_by_donation(through, field: str, donation_ids: set[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    rows = (
        through.objects.filter(donation_id__in=donation_ids)
        .order_by("donation_id", f"{field.split('__')[0]}_id")
        .values_list("donation_id", field)
    )
    for donation_id, name in rows:
        names[donation_id].append(name)
    return names


LEDGER_VALUES = [
    "donation_id",
    "donation__date",
    "donation__year",
    "donation__partnership_id",
    "donation__visit__start_date",
    "donation__region_id",
    "donation__kind",
    "donation__materials_description",
    "donation__category",
    "donation__funding",
    "donation__amount",
    "is_itemised",
    "region_id",
    "recipient_organisation__name",
    "donor__name",
    "amount",
    "note",
    "donation__source",
]


def ledger(**scope) -> Summary:
    """One row per donation line: the handover's facts repeated, then where the line went.

    Flat values in chunks, with names looked up once per chunk (donors, recipients) or once
    per export (regions, pairing sides): a constant number of queries per 2,000 lines and no
    model objects per row, so a million lines stream at a steady pace in constant memory.
    """
    lines = (
        ledger_lines(**scope)
        # Within a year, handovers known only by their visit after the dated ones, on both
        # databases (as COPY's ORDER BY does on PostgreSQL, which sorts NULLs last upwards).
        .order_by(
            "donation__year",
            F("donation__date").asc(nulls_last=True),
            "donation_id",
            "-is_itemised",
            "pk",
        )
        .values_list(*LEDGER_VALUES)
    )
    itemised_label, rest_label = _("itemised"), _("not itemised")
    kinds, categories = dict(DonationKind.choices), dict(Category.choices)
    fundings = dict(Funding.choices)
    cross = Donation.recipient_organisations.through

    def batch_rows(batch, regions: RegionNames, sides) -> Iterator[list[Any]]:
        donation_ids = {row[0] for row in batch}
        donors = _names_by_donation(reports.DonorLink, "organisation__name", donation_ids)
        places = _names_by_donation(reports.RecipientRegionLink, "region__name", donation_ids)
        bodies = _names_by_donation(cross, "organisation__name", donation_ids)
        regions.load({row[12] for row in batch} | {row[5] for row in batch})
        for (
            donation_id, date, year, pairing, visit_start, receiving, kind, materials,
            category, funding, total, itemised, region, line_org, line_donor, amount, note, source,
        ) in batch:  # fmt: skip
            helping, assisted = sides[pairing]
            yield [
                f"D{donation_id}",
                date,
                year,
                regions.full_name(helping),
                regions.full_name(assisted),
                visit_start,
                joined(donors.get(donation_id, [])),
                joined(places.get(donation_id, [])),
                joined(bodies.get(donation_id, [])),
                regions.full_name(receiving),
                kinds.get(kind, kind),
                materials,
                categories.get(category, category),
                fundings.get(funding, funding),
                total,
                itemised_label if itemised else rest_label,
                *regions.cells(region),
                line_org or "",
                line_donor or "",
                amount,
                note,
                source,
            ]

    def rows() -> Iterator[list[Any]]:
        regions = RegionNames()
        sides = {
            pk: (helping, assisted)
            for pk, helping, assisted in Partnership.objects.values_list(
                "pk", "helping_region_id", "assisted_region_id"
            )
        }
        regions.load({region for pair in sides.values() for region in pair})
        batch = []
        for row in lines.iterator(chunk_size=CHUNK):
            batch.append(row)
            if len(batch) >= CHUNK:
                yield from batch_rows(batch, regions, sides)
                batch = []
        if batch:
            yield from batch_rows(batch, regions, sides)

    named = [scope.get(key) for key in ("partnership", "region", "organisation", "visit")]
    scope_name = next((str(obj) for obj in named if obj is not None), "")
    return Summary(
        _("Donation ledger"),
        LEDGER_COLUMNS,
        rows(),
        scope=scope_name,
        copy_sql=lambda: ledger_sql(ledger_lines(**scope)),
        count=lambda: ledger_lines(**scope).count(),
    )


# The ledger as one query, for COPY on PostgreSQL ----------------------------------------


def _q(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _sql_text(column: str) -> str:
    """A text cell as `_cell_text` writes it: neutralised, and NULL when empty, since COPY
    writes NULL as nothing but an empty string as two quotes."""
    triggers = ", ".join(f"chr({ord(c)})" for c in FORMULA_TRIGGERS)
    return (
        f"NULLIF(CASE WHEN left({column}, 1) IN ({triggers}) "
        f"THEN chr(39) || {column} ELSE {column} END, '')"
    )


def _sql_money(column: str) -> str:
    """Fen as yuan with two decimals, as `_cell_text` writes a Decimal: 1050000.00."""
    return f"({column}::numeric / 100)::numeric(20, 2)"


def _sql_label(column: str, choices, params: list[Any]) -> str:
    """A choice's label in the user's language (passed as parameters), else the raw value."""
    whens = []
    for value, label in choices:
        whens.append("WHEN %s THEN %s")
        params += [value, str(label)]
    return f"CASE {column} {' '.join(whens)} ELSE {column} END"


def _sql_names(through, field: str, params: list[Any]) -> str:
    """The names each chosen donation links to, joined as `joined` joins them, in id order.

    Grouped once for all chosen donations and hash-joined: a subquery per row would run
    three index lookups per line, most of the export's time.
    """
    target = through._meta.get_field(field).related_model
    params.append(punctuation.punct("、"))
    return (
        f"SELECT k.donation_id, string_agg(t.name, %s ORDER BY k.{field}_id) AS names "
        f"FROM {_q(through)} k JOIN {_q(target)} t ON t.id = k.{field}_id "
        "WHERE k.donation_id IN (SELECT donation_id FROM chosen) GROUP BY k.donation_id"
    )


def _region_names_sql() -> str:
    """Every region with its full name and its five level columns, from its parent chain (at
    most four ancestors: levels strictly increase from province to village)."""
    chain = ["r", "a1", "a2", "a3", "a4"]
    levels = ", ".join(
        "COALESCE("
        + ", ".join(f"CASE WHEN {a}.level = {level} THEN {a}.name END" for a in chain)
        + f") AS level{level}"
        for level in range(1, 6)
    )
    region = _q(Region)
    return (
        f"SELECT r.id, concat_ws(' ', a4.name, a3.name, a2.name, a1.name, r.name) AS full_name, "
        f"{levels} FROM {region} r "
        f"LEFT JOIN {region} a1 ON a1.id = r.parent_id "
        f"LEFT JOIN {region} a2 ON a2.id = a1.parent_id "
        f"LEFT JOIN {region} a3 ON a3.id = a2.parent_id "
        f"LEFT JOIN {region} a4 ON a4.id = a3.parent_id"
    )


# Where each ledger column comes from in ledger_sql's inner query.
LEDGER_SQL_COLUMNS = {
    "handover": "handover",
    "date": "date",
    "year": "year",
    "helping_region": "helping",
    "assisted_region": "assisted",
    "visit": "visit_start",
    "donors": "donors",
    "recipient_regions": "places",
    "recipient_organisations": "bodies",
    "receiving_region": "receiving",
    "kind": "kind",
    "materials": "materials",
    "category": "category",
    "funding": "funding",
    "handover_total": "total",
    "itemised": "itemised",
    "province": "level1",
    "city": "level2",
    "county": "level3",
    "town": "level4",
    "village": "level5",
    "line_organisation": "line_org",
    "line_donor": "line_donor",
    "amount": "amount",
    "note": "note",
    "source": "source",
}


def ledger_sql(lines) -> tuple[str, list[Any]]:
    """`ledger`'s rows as one SELECT: same columns, order and cell text, so the CSV bytes are
    the same (tested), for the lines of `lines` (a DonationLine queryset with the filters)."""
    # The lines the filters and scope choose, exactly as the Python path chooses them.
    chosen, params = lines.order_by().values("pk", "donation_id").query.sql_with_params()
    params = list(params)
    donors = _sql_names(reports.DonorLink, "organisation", params)
    places = _sql_names(reports.RecipientRegionLink, "region", params)
    bodies = _sql_names(Donation.recipient_organisations.through, "organisation", params)
    kind = _sql_label("d.kind", DonationKind.choices, params)
    category = _sql_label("d.category", Category.choices, params)
    funding = _sql_label("d.funding", Funding.choices, params)
    params += [_("itemised"), _("not itemised")]
    # The raw cells first, neutralised in the outer query (a CASE repeats its operand).
    inner = (
        "SELECT 'D' || d.id AS handover, to_char(d.date, 'YYYY-MM-DD') AS date, d.year, "
        "hr.full_name AS helping, ar.full_name AS assisted, "
        "to_char(v.start_date, 'YYYY-MM-DD') AS visit_start, "
        "dn.names AS donors, pn.names AS places, bn.names AS bodies, "
        f"dr.full_name AS receiving, {kind} AS kind, d.materials_description AS materials, "
        f"{category} AS category, {funding} AS funding, d.amount AS total, "
        "CASE WHEN l.is_itemised THEN %s ELSE %s END AS itemised, "
        "lr.level1, lr.level2, lr.level3, lr.level4, lr.level5, "
        "lo.name AS line_org, ld.name AS line_donor, l.amount, l.note, d.source, "
        "d.date AS sort_date, d.id AS sort_donation, l.is_itemised AS sort_itemised, "
        "l.id AS sort_line "
        "FROM chosen c "
        f"JOIN {_q(DonationLine)} l ON l.id = c.id "
        f"JOIN {_q(Donation)} d ON d.id = l.donation_id "
        f"JOIN {_q(Partnership)} p ON p.id = d.partnership_id "
        "JOIN names hr ON hr.id = p.helping_region_id "
        "JOIN names ar ON ar.id = p.assisted_region_id "
        "JOIN names dr ON dr.id = d.region_id "
        "JOIN names lr ON lr.id = l.region_id "
        "LEFT JOIN donor_names dn ON dn.donation_id = d.id "
        "LEFT JOIN place_names pn ON pn.donation_id = d.id "
        "LEFT JOIN body_names bn ON bn.donation_id = d.id "
        f"LEFT JOIN {_q(Visit)} v ON v.id = d.visit_id "
        f"LEFT JOIN {_q(Organisation)} lo ON lo.id = l.recipient_organisation_id "
        f"LEFT JOIN {_q(Organisation)} ld ON ld.id = l.donor_id"
    )
    cells = []
    for column in LEDGER_COLUMNS:
        name = f"r.{LEDGER_SQL_COLUMNS[column.key]}"
        if column.kind == MONEY:
            cells.append(_sql_money(name))
        elif column.kind == TEXT:
            cells.append(_sql_text(name))
        else:
            cells.append(name)
    sql = (
        f"WITH chosen (id, donation_id) AS MATERIALIZED ({chosen}), "
        f"names AS MATERIALIZED ({_region_names_sql()}), "
        f"donor_names AS ({donors}), place_names AS ({places}), body_names AS ({bodies}) "
        f"SELECT {', '.join(cells)} FROM ({inner}) r "
        # As the Python path: donation__year, donation__date, donation_id, -is_itemised, pk.
        "ORDER BY r.year, r.sort_date, r.sort_donation, r.sort_itemised DESC, r.sort_line"
    )
    return sql, params


def visits(
    *,
    filters: reports.Filters,
    partnership: Partnership | None = None,
    visit_ids: list[int] | None = None,
    scope: str = "",
) -> Summary:
    """Visits with their meetings, chairs and the donations handed over during them, and
    the meetings held during no visit listed, each on a row of its own (those of a child
    pairing during the parent's visit, those of no visit), as the pairing's page lists them;
    `scope` names them in the file name (the pairing's name by default)."""
    selected = Visit.objects.filter(
        filters.year_q("start_date__year"), filters.pairing_q("partnership__")
    )
    if partnership is not None:
        selected = selected.filter(partnership__path__startswith=partnership.path)
    if visit_ids is not None:
        selected = selected.filter(pk__in=visit_ids)
    loose = Meeting.objects.none()
    if visit_ids is None:  # not a list of chosen visits (the admin's) nor one visit's
        loose = Meeting.objects.filter(
            filters.year_q("year"), filters.pairing_q("partnership__")
        ).exclude(visit__in=selected.values("pk"))
        if partnership is not None:
            loose = loose.filter(partnership__path__startswith=partnership.path)
        loose = (
            loose.select_related(
                "visit",
                f"partnership__helping_region__{REGION_ANCESTORS}",
                f"partnership__assisted_region__{REGION_ANCESTORS}",
            )
            .prefetch_related(Prefetch("participants", queryset=chairs_of(), to_attr="chairs"))
            # its own day, or its visit's days: in that order, streamed like the visits
            .annotate(
                first_day=Coalesce("date", "visit__start_date"),
                last_day=Coalesce("date", "visit__end_date"),
            )
            .order_by("first_day", "last_day", "pk")
        )
    donated = (
        Donation.objects.filter(visit=OuterRef("pk"))
        .order_by()
        .values("visit")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    chairs = chairs_of()
    selected = (
        selected.select_related(
            "leader",
            f"partnership__helping_region__{REGION_ANCESTORS}",
            f"partnership__assisted_region__{REGION_ANCESTORS}",
        )
        .prefetch_related(
            Prefetch("places", queryset=Region.objects.order_by("pk")),
            Prefetch(
                "meetings",
                queryset=Meeting.objects.order_by(*Meeting.IN_VISIT_ORDER).prefetch_related(
                    Prefetch("participants", queryset=chairs, to_attr="chairs")
                ),
            ),
        )
        .annotate(donated=reports._or_zero(Subquery(donated)))
        .order_by("start_date", "pk")
    )
    columns = [
        Column("start_date", _("Start date"), DATE),
        Column("end_date", _("End date"), DATE),
        # Said with the dates it qualifies: the reference's year is inferred, not printed.
        Column("date_note", _("Note on the dates")),
        Column("helping_region", _("Helping side")),
        Column("assisted_region", _("Assisted side")),
        Column("direction", _("Direction")),
        Column("leader", _("Leader")),
        Column("delegation_size", _("Delegation size"), NUMBER),
        Column("places", _("Places visited")),
        Column("meetings", _("Meetings")),
        Column("chairs", _("Chairs")),
        Column("donations_total", _("Donations handed over (yuan)"), MONEY),
        # A meeting held during no visit listed has a row of its own: counted apart.
        Column("record", _("Kind of record")),
    ]
    visit_word, meeting_word = (
        pgettext("kind of record", "Visit"),
        pgettext("kind of record", "Meeting"),
    )

    def visit_rows() -> Iterator[list[Any]]:
        for visit in selected.iterator(chunk_size=CHUNK):
            meetings = list(visit.meetings.all())
            yield [
                visit.start_date,
                visit.end_date,
                visit.date_note,
                visit.partnership.helping_region.full_name,
                visit.partnership.assisted_region.full_name,
                visit.get_direction_display(),
                str(visit.leader) if visit.leader else "",
                visit.delegation_size,
                joined(p.name for p in visit.places.all()),
                joined(m.title for m in meetings),
                joined(c.person.name for m in meetings for c in m.chairs),
                visit.donated,
                visit_word,
            ]

    def meeting_rows() -> Iterator[list[Any]]:
        # Its own day, or its visit's days (a visit this file does not list, as on the page).
        for meeting in loose.iterator(chunk_size=CHUNK):
            yield [
                meeting.first_day,
                meeting.last_day,
                meeting.visit.date_note if meeting.date is None and meeting.visit else "",
                meeting.partnership.helping_region.full_name,
                meeting.partnership.assisted_region.full_name,
                None,  # a visit's: its direction, leader, size and places
                None,
                None,
                None,
                meeting.title,
                joined(c.person.name for c in meeting.chairs),
                None,
                meeting_word,
            ]

    def rows() -> Iterator[list[Any]]:
        # Both in order of their first day; a visit before a meeting of the same day.
        return heapq.merge(visit_rows(), meeting_rows(), key=lambda row: row[0])

    return Summary(_("Visits and meetings"), columns, rows(), scope=scope or str(partnership or ""))


def chairs_of() -> QuerySet:
    """Meeting participants who chaired, with their names (prefetched as `chairs`)."""
    return MeetingParticipant.objects.filter(role=MeetingParticipant.Role.CHAIR).select_related(
        "person"
    )


# The formats ----------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def _money_totals(summary: Summary) -> list[str]:
    """Each summable amount column's total as CSV text, the other columns empty."""
    return [
        _cell_text(sum((row[i] for row in summary.rows if row[i] is not None), Decimal(0)), MONEY)
        if column.kind == MONEY and column.summable
        else ""
        for i, column in enumerate(summary.columns)
    ]


def csv_response(summary: Summary) -> StreamingHttpResponse:
    """UTF-8 with a BOM, so Excel and WPS on Chinese Windows read the Chinese correctly."""
    writer = csv.writer(_Echo())
    header = "\ufeff" + writer.writerow([str(c.header) for c in summary.columns])

    def stream() -> Iterator[str]:
        yield header
        kinds = [c.kind for c in summary.columns]
        for row in summary.rows:
            yield writer.writerow([_cell_text(v, k) for v, k in zip(row, kinds, strict=True)])
        label = summary.extra.get("sum_row")
        if label and summary.rows:  # a list of a few rows (yearly), summed once at the end
            yield writer.writerow([str(label), *_money_totals(summary)[1:]])

    body = None
    if summary.copy_sql is not None and copy_available():
        try:
            body = copy_stream(header, *summary.copy_sql())
        except EmptyResultSet:  # nothing can match (no pairing assigned yet): just the header
            body = None
    if body is None:
        body = stream()
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, summary.filename("csv"))
    return response


COPY_BATCH = 2000


def copy_available() -> bool:
    """COPY … TO STDOUT is PostgreSQL's; SQLite takes the Python path."""
    return connection.vendor == "postgresql"


def copy_stream(header: str, sql: str, params: list[Any]) -> Iterator[bytes]:
    """The rows of `sql` as CSV straight from PostgreSQL's COPY, after the header.

    COPY sends one message per row, ending in LF; Python's csv module, and so the other
    path and the golden files, end rows in CRLF. Line breaks inside a quoted cell stay as
    they are on both paths. Rows go out in batches, not one tiny write each.
    """
    yield header.encode()
    # The web process's statement timeout (startup.limit_statement_time) would also count
    # the time a slow client takes to download: the export is one statement, lifted from it.
    limit = getattr(connection, "statement_timeout_ms", 0)
    # Django's cursor wraps psycopg's; COPY binds the parameters on the client side.
    with connection.cursor() as cursor:
        if limit:
            cursor.execute("SET statement_timeout = 0")
        try:
            with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT CSV)", params) as copy:
                batch = []
                for row in copy:
                    batch.append(bytes(row)[:-1])
                    if len(batch) >= COPY_BATCH:
                        yield b"\r\n".join(batch) + b"\r\n"
                        batch = []
                if batch:
                    yield b"\r\n".join(batch) + b"\r\n"
        finally:
            if limit:
                try:
                    cursor.execute(f"SET statement_timeout = {int(limit)}")
                except DatabaseError:
                    # A download cut short can leave the connection unusable: a new one
                    # gets the limit again (startup.apply_statement_timeout).
                    connection.close()


def _marking_the_last(rows: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """Each row, and whether it is the last."""
    previous, started = None, False
    for row in rows:
        if started:
            yield previous, False
        previous, started = row, True
    if started:
        yield previous, True


def json_response(summary: Summary) -> StreamingHttpResponse:
    """A JSON array of objects keyed by the stable column keys; money as exact numbers."""

    def value(v: Any, kind: str) -> str:
        if v is None:
            return "null"
        if kind == MONEY:
            return f"{v:.2f}"
        if kind == NUMBER:
            return str(v)
        if kind == DATE:
            return json.dumps(v.isoformat())
        if kind == YES_NO:
            return "true" if v else "false"
        return json.dumps(str(v), ensure_ascii=False)

    def stream() -> Iterator[str]:
        yield "["
        keys = [json.dumps(c.key) for c in summary.columns]
        kinds = [c.kind for c in summary.columns]
        # A table's total row (villages, places) was an object like the others, told apart
        # only by its translated note, and a script summing "total" counted the money twice:
        # such a table's objects say which one it is ("is_total"). It stays, with what its
        # note says the total leaves out.
        marked = bool(summary.extra.get("total_row"))
        for index, (row, last) in enumerate(_marking_the_last(iter(summary.rows))):
            pairs = ", ".join(
                f"{k}: {value(v, kind)}" for k, v, kind in zip(keys, row, kinds, strict=True)
            )
            if marked:
                pairs += ', "is_total": ' + ("true" if last else "false")
            yield ("," if index else "") + "\n{" + pairs + "}"
        yield "\n]\n"

    response = StreamingHttpResponse(stream(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, summary.filename("json"))
    return response


# An XLSX is made whole before its first byte is sent, at about 0.6 ms a row here (200,000
# ledger lines took 125 s, past a proxy's usual 60 s): more rows than this are refused, in
# words, pointing to the CSV, which streams (a million lines in 18 s) and opens in Excel/WPS.
XLSX_MAX_ROWS = 50_000


def xlsx_too_large(summary: Summary) -> int | None:
    """The number of rows, when it is more than an XLSX of it should be made of."""
    if summary.count is None:
        return None
    rows = summary.count()
    return rows if rows > XLSX_MAX_ROWS else None


# Column widths in Excel's units (about one Latin character; a Chinese one takes two). Excel
# and WPS show "###" for a number or date wider than its column (they never spill into the
# next cell), and the default width, 8.43, holds neither 1,050,000.00 nor 2023-01-10.
MONEY_WIDTH = 16  # up to 9,999,999,999.99
DATE_WIDTH = 12
TEXT_WIDTH, WIDEST = 14, 40
CELL_LIMIT = 32767  # characters in one cell of Excel's


def _excel_length(text: str) -> int:
    """A text's length as Excel counts it, in UTF-16 code units: a rare character (𠀀, in some
    names) is two."""
    return len(text.encode("utf-16-le")) // 2


def _cut_for_excel(text: str) -> str:
    """The text cut to Excel's limit, ending with "…" (not inside a character)."""
    units = text.encode("utf-16-le")[: (CELL_LIMIT - 1) * 2]
    return units.decode("utf-16-le", errors="ignore") + "…"


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _set_column_widths(sheet, columns: list[Column]) -> None:
    """Each column wide enough for its header and its kind of value, before the first row
    (a write-only sheet takes them only then). Text columns are formatted as text as well:
    what a user types into them stays as typed (a region code of 12 digits in an import
    template became 5.20222E+11)."""
    from openpyxl.utils import get_column_letter

    for number, column in enumerate(columns, start=1):
        least = {MONEY: MONEY_WIDTH, DATE: DATE_WIDTH, TEXT: TEXT_WIDTH}.get(column.kind, 8)
        dimension = sheet.column_dimensions[get_column_letter(number)]
        dimension.width = min(max(least, _display_width(str(column.header)) + 2), WIDEST)
        if column.kind == TEXT:
            dimension.number_format = "@"


def xlsx_response(summary: Summary) -> FileResponse:
    """The rows on one sheet, header frozen, amounts as numbers; the money columns' totals,
    in yuan and 万元, on a second."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=str(summary.name)[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def header_cell(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        return cell

    _set_column_widths(sheet, summary.columns)
    sheet.append([header_cell(str(c.header)) for c in summary.columns])
    kinds = [c.kind for c in summary.columns]
    money = [i for i, c in enumerate(summary.columns) if c.kind == MONEY and c.summable]
    totals = [Decimal(0)] * len(kinds)
    row: list[Any] = []
    for row in summary.rows:
        cells = []
        for i, (v, kind) in enumerate(zip(row, kinds, strict=True)):
            if v is None or v == "":
                cells.append(None)
            elif kind == MONEY:
                totals[i] += v
                cell = WriteOnlyCell(sheet, value=v)
                cell.number_format = "#,##0.00"
                cells.append(cell)
            elif kind == NUMBER and isinstance(v, Yuan):
                # An amount in a column of mixed units (a target in yuan beside counts of
                # people): shown as the money columns are, not 1016577.71.
                cell = WriteOnlyCell(sheet, value=v)
                cell.number_format = "#,##0.00"
                cells.append(cell)
            elif kind in (DATE, NUMBER):
                cells.append(v)
            elif kind == YES_NO:
                cells.append(_yes_no(v))
            else:
                # Text stays text: openpyxl would store "=…" as a formula. A control character
                # (saved before forms refused them) would make the whole workbook fail. A text
                # that starts as a formula would is marked with Excel's own quote prefix
                # (a style: the cell stays text when edited), not a visible apostrophe as in
                # CSV, where no such style exists: "-2+3" read "'-2+3" in Excel and WPS.
                text = ILLEGAL_CHARACTERS_RE.sub("", str(v))
                if len(text) > CELL_LIMIT // 2 and _excel_length(text) > CELL_LIMIT:
                    # A whole report pasted as a source: Excel holds no more in a cell, and
                    # offered to "repair" the file. The CSV and JSON keep every character.
                    text = _cut_for_excel(text)
                cell = WriteOnlyCell(sheet, value=text)
                cell.data_type = "s"
                if text.startswith(FORMULA_TRIGGERS):
                    cell.quotePrefix = True
                cells.append(cell)
        sheet.append(cells)
    if summary.extra.get("sum_row") and row:  # the page's total row, as the CSV ends
        cells = [header_cell(str(summary.extra["sum_row"]))]
        for i in range(1, len(kinds)):
            cell = None
            if i in money:
                cell = header_cell(totals[i])
                cell.number_format = "#,##0.00"
            cells.append(cell)
        sheet.append(cells)
    # The totals go on a sheet of their own: under the rows, a 万元 figure in a column of
    # yuan was summed with them by Excel's status bar and pivot tables, and a ledger sheet
    # could not be imported again (its last row was no handover).
    label = _("Total")
    if summary.extra.get("total_row") and row:
        # The last row already holds the totals (and says what they leave out): restated.
        label = next((v for v, kind in zip(row, kinds, strict=True) if kind == TEXT and v), label)
        totals = [v if kind == MONEY else None for v, kind in zip(row, kinds, strict=True)]
    if money and not summary.extra.get("no_total"):
        sheet_of_totals = workbook.create_sheet(title=str(_("Totals"))[:31])
        for letter, width in (("A", 30), ("B", MONEY_WIDTH), ("C", MONEY_WIDTH)):
            sheet_of_totals.column_dimensions[letter].width = width
        sheet_of_totals.append([header_cell(str(label))])
        sheet_of_totals.append(
            [
                header_cell(str(_("Column"))),
                header_cell(str(_("Yuan"))),
                header_cell(str(_("10,000 yuan"))),
            ]
        )
        for i in money:
            cells: list[Any] = [str(summary.columns[i].header)]
            if totals[i] is None:  # the total row's 不详: no figure in 万元 either
                cells.append(str(_("unknown")))
            else:
                for amount in (totals[i], to_wan(totals[i])):
                    cell = WriteOnlyCell(sheet_of_totals, value=amount)
                    cell.number_format = "#,##0.00"
                    cells.append(cell)
            sheet_of_totals.append(cells)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it when sent
    workbook.save(spool)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=summary.filename("xlsx"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


FORMATS: dict[str, Callable[[Summary], Any]] = {
    "csv": csv_response,
    "xlsx": xlsx_response,
    "json": json_response,
}
