"""Reporting queries ("selectors"): keyword-only functions returning plain data.

Every figure is aggregated in the database, and each function runs a fixed number of queries
whatever the number of villages, years or donations. Two tables carry money:
- Donation.amount: one handover's total. Pairing, donor and yearly totals sum these.
- DonationLine.amount: where each part of that total went (see models.py). Village and region
  totals sum these. Lines of a donation always add up to its amount, so both agree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, StrIndex, Substr
from django.utils.translation import gettext as _

from .access import ALL, Scope
from .models import (
    DONOR_FACETS,
    LIST_ORDER,
    TOTAL_SPLITS,
    AreaYearTotal,
    Category,
    Donation,
    DonationKind,
    DonationLine,
    DonationSummary,
    DonorFacetYearTotal,
    DonorKindSummary,
    DonorYearTotal,
    Facet,
    Funding,
    Meeting,
    Organisation,
    PairingYearTotal,
    Partnership,
    PlaceFacetYearTotal,
    PlaceYearTotal,
    Region,
    Visit,
    donor_kind_q,
    path_prefixes,
)
from .money import MoneyField, from_fen

ZERO = Decimal("0.00")
MANY_IDS = 5000
DonorLink = Donation.donors.through
RecipientRegionLink = Donation.recipient_regions.through
RecipientOrganisationLink = Donation.recipient_organisations.through


def _or_zero(expression) -> Coalesce:
    return Coalesce(expression, Value(ZERO, output_field=MoneyField()), output_field=MoneyField())


@dataclass(frozen=True)
class Filters:
    """Validated dashboard filters; built from a DashboardFilterForm's cleaned_data."""

    year_from: int | None = None
    year_to: int | None = None
    category: str = ""
    donor_kind: str = ""
    kind: str = ""
    funding: str = ""
    helping_province: Region | None = None
    assisted_province: Region | None = None
    # Whose figures these are: the pairings the user may see (access.scope_for).
    scope: Scope = ALL

    @classmethod
    def from_cleaned_data(cls, data: dict[str, Any], *, scope: Scope = ALL) -> Filters:
        fields = [name for name in cls.__dataclass_fields__ if name != "scope"]
        return cls(
            **{name: data.get(name) or cls.__dataclass_fields__[name].default for name in fields},
            scope=scope,
        )

    def words(self, *, of_donations: bool = True) -> list[str]:
        """The filters chosen, in a few words each (for a download's file name): a file
        saved from a filtered page must not pass for the whole programme's figures. Without
        `of_donations`, only the years and provinces (what narrows visits and meetings): a
        whole file must not pass for a filtered one either."""
        first, last = self.year_from, self.year_to
        words = []
        if first and last:
            words.append(
                _("in %(year)s") % {"year": first}
                if first == last
                else _("%(first)s to %(last)s") % {"first": first, "last": last}
            )
        elif first:
            words.append(_("from %(year)s") % {"year": first})
        elif last:
            words.append(_("to %(year)s") % {"year": last})
        for value, choices in (
            (self.category, Category),
            (self.donor_kind, Organisation.Kind),
            (self.kind, DonationKind),
            (self.funding, Funding),
        ):
            if value and of_donations:
                words.append(str(choices(value).label))
        if self.helping_province:
            words.append(_("helping %(name)s") % {"name": self.helping_province.name})
        if self.assisted_province:
            words.append(_("assisted %(name)s") % {"name": self.assisted_province.name})
        return words

    def _columns_q(self, prefix: str) -> Q:
        """Year, category, kind and funding: columns of Donation and of DonationSummary alike."""
        q = self.year_q(f"{prefix}year")
        for name in ("category", "kind", "funding"):
            if getattr(self, name):
                q &= Q(**{f"{prefix}{name}": getattr(self, name)})
        return q

    @property
    def summarised(self) -> bool:
        """Whether DonationSummary, or under a donor kind DonorKindSummary, can answer: they
        always can (a test turns this off to compare them with the donations)."""
        return True

    @property
    def totals_only(self) -> bool:
        """Whether PairingYearTotal can answer: no filter on what the donations are.

        Its kind and funding columns hold positive sums only (a donation's amount is over
        zero), so a zero there means no donation of that kind, as a missing summary row does.
        """
        return self.summarised and not (
            self.donor_kind or self.category or self.kind or self.funding
        )

    def donor_totals(self) -> QuerySet | None:
        """The stored donor figures these filters select, per pairing, year and donor:
        DonorYearTotal with no filter on the donations' category, kind or funding,
        DonorFacetYearTotal with one (a donor kind is the donor's own column in both). None
        with two or more (the donor links answer)."""
        chosen = [(facet, getattr(self, facet)) for facet in DONOR_FACETS if getattr(self, facet)]
        where = self.year_q("year") & self.pairing_q("partnership__")
        if not chosen:
            return DonorYearTotal.objects.filter(where)
        if len(chosen) > 1:
            return None
        ((facet, value),) = chosen
        return DonorFacetYearTotal.objects.filter(where, facet=facet, value=value)

    @property
    def facet(self) -> tuple[str, str] | None:
        """The one filter on what the donations are (category, kind, funding or donor kind),
        as (name, value), when only one is chosen: PlaceFacetYearTotal then answers for
        places. None for none, or for two or more."""
        chosen = [(name, getattr(self, name)) for name in Facet.values if getattr(self, name)]
        return chosen[0] if len(chosen) == 1 else None

    def place_totals(self) -> QuerySet | None:
        """The stored place figures these filters select, per pairing, year and region:
        PlaceYearTotal with no filter on what the donations are, PlaceFacetYearTotal with
        one. None when neither answers (two such filters: the lines do)."""
        if self.totals_only:
            return PlaceYearTotal.objects.filter(self.summary_q())
        if self.facet is None:
            return None
        facet, value = self.facet
        return PlaceFacetYearTotal.objects.filter(
            self.year_q("year"), self.pairing_q("partnership__"), facet=facet, value=value
        )

    def area_totals(self) -> QuerySet | None:
        """The stored figures of regions with the places under them these filters select, per
        pairing, year and region (AreaYearTotal): only with no filter on what the donations
        are, None otherwise."""
        if self.totals_only:
            return AreaYearTotal.objects.filter(self.summary_q())
        return None

    def summary_q(self) -> Q:
        """The filters as a condition on DonationSummary or PairingYearTotal (only when
        `summarised`, and for the latter `totals_only`)."""
        return self._columns_q("") & self.pairing_q("partnership__")

    def donation_q(self, prefix: str = "") -> Q:
        """The filters as a condition on Donation, reached from another model through `prefix`."""
        q = self._columns_q(prefix)
        if self.donor_kind:  # a column of the donation: a join would repeat it per donor
            q &= donor_kind_q(self.donor_kind, prefix)
        return q & self.pairing_q(f"{prefix}partnership__")

    def year_q(self, field_name: str) -> Q:
        q = Q()
        if self.year_from:
            q &= Q(**{f"{field_name}__gte": self.year_from})
        if self.year_to:
            q &= Q(**{f"{field_name}__lte": self.year_to})
        return q

    def pairing_q(self, prefix: str) -> Q:
        """Pairings (reached through `prefix`) the user may see, in the chosen provinces."""
        q = self.scope.q(prefix)
        if self.helping_province:
            q &= Q(**{f"{prefix}helping_region__path__startswith": self.helping_province.path})
        if self.assisted_province:
            q &= Q(**{f"{prefix}assisted_region__path__startswith": self.assisted_province.path})
        return q


def donations(*, filters: Filters, partnership: Partnership | None = None) -> QuerySet[Donation]:
    qs = Donation.objects.filter(filters.donation_q())
    if partnership is not None:
        qs = qs.filter(partnership__path__startswith=partnership.path)
    return qs


def lines(*, filters: Filters, partnership: Partnership | None = None) -> QuerySet[DonationLine]:
    qs = DonationLine.objects.filter(filters.donation_q("donation__"))
    if partnership is not None:
        qs = qs.filter(donation__partnership__path__startswith=partnership.path)
    return qs


def amounts(
    *, filters: Filters, partnership: Partnership | None = None, split: bool = False
) -> QuerySet:
    """Rows to sum `amount` over by year or pairing, and with `split` by kind and funding too:
    the smallest table the filters allow. PairingYearTotal (one row per pairing and year)
    when nothing filters what the donations are and no split is asked for, DonationSummary
    (a few rows per pairing and year), or under a donor kind DonorKindSummary."""
    if not filters.summarised:
        return donations(filters=filters, partnership=partnership)
    if filters.totals_only and not split:
        qs = PairingYearTotal.objects.filter(filters.summary_q())
    elif filters.donor_kind:
        qs = DonorKindSummary.objects.filter(filters.summary_q(), donor_kind=filters.donor_kind)
    else:
        qs = DonationSummary.objects.filter(filters.summary_q())
    if partnership is not None:
        qs = qs.filter(partnership__path__startswith=partnership.path)
    return qs


def _split_rows(
    *, filters: Filters, partnership: Partnership | None = None
) -> list[tuple[str, str, int, Decimal]]:
    """(dimension, value, year, total) for every kind and every funding with a total, from
    one grouping of PairingYearTotal's columns by year (only when `filters.totals_only`)."""
    rows = (
        amounts(filters=filters, partnership=partnership)
        .order_by()
        .values("year")
        .annotate(**{column: Sum(column) for *_, column in TOTAL_SPLITS})
    )
    return [
        (dimension, value, row["year"], row[column])
        for row in rows
        for dimension, value, column in TOTAL_SPLITS
        if row[column]
    ]


def year_span(*, filters: Filters, data_years: tuple[int | None, int | None]) -> list[int]:
    """The years a table shows: the chosen range, or the years the data covers."""
    low = filters.year_from or data_years[0]
    high = filters.year_to or data_years[1]
    if low is None or high is None:
        return []
    return list(range(low, high + 1))


def data_years(scope: Scope = ALL) -> tuple[int | None, int | None]:
    """The first and last years of the donations in `scope`: a town's official was offered,
    and shown as columns, the years of every other pairing's records."""
    bounds = Donation.objects.filter(scope.q("partnership__")).aggregate(
        low=Min("year"), high=Max("year")
    )
    return bounds["low"], bounds["high"]


def yearly_totals(
    *, filters: Filters, partnership: Partnership | None = None
) -> dict[int, Decimal]:
    rows = (
        amounts(filters=filters, partnership=partnership)
        .order_by()
        .values("year")
        .annotate(total=Sum("amount"))
    )
    return {row["year"]: row["total"] for row in rows}


def yearly_totals_by_kind(*, filters: Filters) -> dict[str, dict[int, Decimal]]:
    return kind_and_funding_totals(filters=filters)[0]


def kind_and_funding_totals(
    *, filters: Filters
) -> tuple[dict[str, dict[int, Decimal]], dict[str, Decimal]]:
    """The overview's two splits from one pass: kind × year, and fiscal / social / not stated."""
    per_kind: dict[str, dict[int, Decimal]] = {kind: {} for kind in DonationKind.values}
    per_funding = dict.fromkeys(Funding.values, ZERO)
    if filters.totals_only:
        for dimension, value, year, total in _split_rows(filters=filters):
            if dimension == "kind":
                per_kind[value][year] = total
            else:
                per_funding[value] += total
        return per_kind, per_funding
    for kind, year, funding, total in (
        amounts(filters=filters, split=True)
        .order_by()
        .values_list("kind", "year", "funding")
        .annotate(total=Sum("amount"))
    ):
        per_kind[kind][year] = per_kind[kind].get(year, ZERO) + total
        per_funding[funding] += total
    return per_kind, per_funding


def totals_by_funding(
    *, filters: Filters, partnership: Partnership | None = None
) -> dict[str, Decimal]:
    """Fiscal assistance, social donations and what the source does not split, in that order."""
    totals = dict.fromkeys(Funding.values, ZERO)
    if filters.totals_only:
        for dimension, value, _year, total in _split_rows(filters=filters, partnership=partnership):
            if dimension == "funding":
                totals[value] += total
        return totals
    for funding, total in (
        amounts(filters=filters, partnership=partnership, split=True)
        .order_by()
        .values_list("funding")
        .annotate(total=Sum("amount"))
    ):
        totals[funding] = total
    return totals


@dataclass
class Headline:
    total: Decimal
    by_kind: dict[str, Decimal]
    visits: int
    meetings: int


def headline(
    *, filters: Filters, by_kind_and_year: dict[str, dict[int, Decimal]] | None = None
) -> Headline:
    """The overview's headline figures; pass the kind × year totals if already fetched."""
    per_kind = by_kind_and_year or yearly_totals_by_kind(filters=filters)
    by_kind = {kind: sum(per_kind[kind].values(), ZERO) for kind in DonationKind.values}
    visits = Visit.objects.filter(
        filters.year_q("start_date__year"), filters.pairing_q("partnership__")
    ).count()
    meetings = Meeting.objects.filter(
        filters.year_q("year"), filters.pairing_q("partnership__")
    ).count()
    return Headline(
        total=sum(by_kind.values(), ZERO),
        by_kind=by_kind,
        visits=visits,
        meetings=meetings,
    )


@dataclass
class Reach:
    villages: int
    donors: int


def reach(*, filters: Filters) -> Reach:
    """How many villages and donors the selected donations reached.

    Each is one index probe per village or organisation (about 50 ms together at national
    scale, whatever the filters), so the overview loads them apart from its page.
    """
    # The filters go straight onto the link and line rows (joined only when a filter needs a
    # donation column), so with no filter nothing compares a million ids with themselves.
    on_donation = filters.donation_q("donation__")
    # Villages reached: named as a recipient of, or given an itemised part of, a selected donation.
    villages = (
        Region.objects.filter(level=Region.Level.VILLAGE)
        .filter(
            Exists(RecipientRegionLink.objects.filter(on_donation, region_id=OuterRef("pk")))
            | Exists(DonationLine.objects.filter(on_donation, region_id=OuterRef("pk")))
        )
        .count()
    )
    donors = Organisation.objects.filter(
        Exists(DonorLink.objects.filter(on_donation, organisation_id=OuterRef("pk")))
    )
    if filters.donor_kind:
        # Under a donor-kind filter the handovers are those with such a donor; the donors
        # counted are those of that kind, not their co-donors.
        donors = donors.filter(kind=filters.donor_kind)
    return Reach(villages=villages, donors=donors.count())


@dataclass
class PairingTotal:
    partnership: Partnership
    depth: int
    total: Decimal
    own: Decimal
    # Pairings below this one (under the same filters) that the list leaves out.
    not_listed_below: int = 0


def pairing_totals(
    *,
    filters: Filters,
    within: Partnership | None = None,
    max_depth: int | None = None,
    max_rows: int | None = None,
) -> list[PairingTotal]:
    """Pairings (or those under `within`) with the total of each one's whole subtree, in tree
    order; `depth` counts the listed pairing's ancestors that the same filters show.

    `max_depth` keeps the pairings less deep than that. `max_rows` keeps as many whole levels
    as fit in that many rows, and at least the first: a national programme's overview lists
    its provincial and city pairings, a county's the county and its towns. A row at the cut
    says how many pairings below it are left out; each is one click away, on its parent's page.

    Three queries whatever the number of pairings or levels: the visible pairings' paths, one
    grouping of the amounts by pairing (the roll-up to parents happens here over the paths),
    and the listed pairings with their regions.
    """
    visible = Partnership.objects.filter(filters.pairing_q(""))
    if within is not None:
        visible = visible.filter(path__startswith=within.path).exclude(pk=within.pk)
    ids_by_path = {path: pk for pk, path in visible.order_by("path").values_list("id", "path")}
    own_totals = dict(
        amounts(filters=filters, partnership=within)
        .order_by()
        .values_list("partnership_id")
        .annotate(total=Sum("amount"))
    )
    path_of = {pk: path for path, pk in ids_by_path.items()}
    subtree: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for pk, total in own_totals.items():
        if pk in path_of:  # not `within` itself, which is not listed
            # Credit the pairing and every ancestor: "/1/5/9/" → "/1/", "/1/5/", "/1/5/9/".
            for prefix in path_prefixes(path_of[pk]):
                subtree[prefix] += total
    # Depth 0: no ancestor that these filters show (a top-level pairing, a child of `within`,
    # or the first pairing a scope or province filter shows on its branch).
    depth = {
        path: sum(prefix in ids_by_path for prefix in path_prefixes(path)[:-1])
        for path in ids_by_path
    }
    if max_rows is not None:
        per_depth = Counter(depth.values())
        cut = 1
        while cut in per_depth and sum(per_depth[d] for d in range(cut + 1)) <= max_rows:
            cut += 1
        max_depth = cut if max_depth is None else min(max_depth, cut)
    listed = [path for path in ids_by_path if max_depth is None or depth[path] < max_depth]
    listed_paths = set(listed)
    not_listed_below: Counter[str] = Counter()
    for path in ids_by_path:
        if path not in listed_paths:  # credit the nearest listed ancestor
            ancestor = next(p for p in reversed(path_prefixes(path)) if p in listed_paths)
            not_listed_below[ancestor] += 1
    pairings = visible.select_related("helping_region", "assisted_region")
    if len(listed) < len(ids_by_path) and len(listed) <= MANY_IDS:
        pairings = pairings.filter(pk__in=[ids_by_path[path] for path in listed])
    return [
        PairingTotal(
            partnership=pairing,
            depth=depth[pairing.path],
            total=subtree[pairing.path],
            own=own_totals.get(pairing.pk, ZERO),
            not_listed_below=not_listed_below[pairing.path],
        )
        for pairing in pairings.order_by("path")
        if pairing.path in listed_paths  # not one added since the paths were read
    ]


@dataclass(frozen=True)
class PlaceName:
    """A place as a table's row names and links it."""

    pk: int
    name: str
    parent_name: str | None


def place_names(ids) -> dict[int, PlaceName]:
    """The places of these ids by id, named from plain values: a province pairing's 8,000
    villages as model instances with their parents took three times as long.

    On PostgreSQL the ids go as one array (`= ANY(%s)`): as `IN (%s, …)` the 8,000
    placeholders took psycopg 50 ms to parse per page. SQLite, which has no arrays, takes them
    in batches its limit on parameters allows."""
    ids = sorted(ids)
    places = Region.objects.order_by()
    if connection.vendor == "postgresql":
        column = (
            f"{connection.ops.quote_name(Region._meta.db_table)}.{connection.ops.quote_name('id')}"
        )
        batches = [places.filter(RawSQL(f"{column} = ANY(%s)", [ids], BooleanField()))]
    else:
        size = connection.features.max_query_params or len(ids) or 1
        batches = [places.filter(pk__in=ids[i : i + size]) for i in range(0, len(ids), size)]
    return {
        pk: PlaceName(pk, name, parent_name)
        for batch in batches
        for pk, name, parent_name in batch.values_list("pk", "name", "parent__name")
    }


@dataclass
class TableRow:
    label: str
    region: PlaceName | None
    cells: list[Decimal]
    total: Decimal
    # Per year, the handovers naming this place without saying its share (empty: none).
    unknown: list[int] = field(default_factory=list)
    # Says what `unknown` counts when the row is not one place (YearTable.shortened).
    unknown_note: str = ""

    @property
    def cell_shares(self) -> list[Share]:
        unknown = self.unknown or [0] * len(self.cells)
        return [
            Share(amount, n, self.unknown_note)
            for amount, n in zip(self.cells, unknown, strict=True)
        ]

    @property
    def total_share(self) -> Share:
        return Share(self.total, sum(self.unknown), self.unknown_note)


@dataclass(frozen=True)
class Share:
    """A total that may leave out parts the report does not give: `unknown` handovers name
    the place as a recipient without saying how much of their total it received."""

    amount: Decimal
    unknown: int = 0
    note: str = ""  # what the unknown part is, when not handovers naming one place


@dataclass
class YearTable:
    """Places × years, with row totals, column totals and a grand total.

    `unknown_shares` counts, per year, the handovers that name the region (or a place in it)
    as a recipient but itemise nothing to it: its totals leave out their unknown part.
    """

    years: list[int]
    rows: list[TableRow]
    rest: TableRow | None
    column_totals: list[Decimal]
    total: Decimal
    unknown_shares: dict[int, int] = field(default_factory=dict)
    # The rows left off a page, summed (shortened): between `rows` and `rest`.
    others: TableRow | None = None

    @property
    def column_shares(self) -> list[Share]:
        return [
            Share(amount, self.unknown_shares.get(year, 0))
            for year, amount in zip(self.years, self.column_totals, strict=True)
        ]

    @property
    def total_share(self) -> Share:
        return Share(self.total, sum(self.unknown_shares.get(year, 0) for year in self.years))


def column_sums(rows: list[list[Decimal]], width: int) -> list[Decimal]:
    """Each column's sum (zeros for no rows): transposed by zip, summed by sum(), both in C,
    where a generator per column indexed 8,000 rows of a province's villages in Python."""
    return [sum(column, ZERO) for column in zip(*rows, strict=True)] if rows else [ZERO] * width


@dataclass(frozen=True)
class Shortening:
    """How a page shortens a table of thousands of places: the `count` largest rows, the
    others summed in one row named `label(how many)`; where some of them have a share not
    given, that row says so (`unknown_note`) and counts, per year, the places that have."""

    count: int
    label: Callable[[int], str]
    unknown_note: str


def _table(
    *,
    years: list[int],
    by_place: dict[int, dict[int, Any]],
    places: dict[int, PlaceName],
    year_totals: dict[int, Decimal],
    rest_label: str,
    unknown_by_place: dict[int, dict[int, int]] | None = None,
    in_fen: bool = False,
    shortening: Shortening | None = None,
) -> YearTable:
    """`unknown_by_place`: per place and year, the handovers naming it without its share; a
    place only named so still gets its row, reading "unknown" rather than nothing.

    `in_fen`: `by_place` holds whole fen (ints), turned into yuan only for the rows shown.
    `shortening`: only the largest rows are built; the others are summed per year straight
    from `by_place` (a province's 8,000 villages as rows of Decimals were a third of its
    page's time, for the 100 it shows)."""
    unknown_by_place = unknown_by_place or {}
    amount = from_fen if in_fen else (lambda value: value)
    zero = 0 if in_fen else ZERO
    year_set = set(years)
    keys = list(by_place) + [pk for pk in unknown_by_place if pk not in by_place]
    names = Counter(places[pk].name for pk in keys)
    ranked = []  # (total, label, pk)
    for pk in keys:
        if pk not in by_place and not year_set.intersection(unknown_by_place[pk]):
            continue  # named only without its share, in years outside the table
        per_year = by_place.get(pk, {})
        if per_year.keys() <= year_set:
            total = sum(per_year.values(), zero)
        else:
            total = sum((per_year.get(year, zero) for year in years), zero)
        ranked.append((total, _row_label(places[pk], names[places[pk].name]), pk))
    # Villages of one name in towns of one name share a label: then by id, as ranked in SQL.
    ranked.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
    shown, hidden = ranked, []
    if shortening and len(ranked) > shortening.count:
        shown, hidden = ranked[: shortening.count], ranked[shortening.count :]
    rows = []
    for total, label, pk in shown:
        per_year = by_place.get(pk, {})
        cells = [amount(per_year.get(year, zero)) for year in years]
        row = TableRow(label, places[pk], cells, amount(total))
        unknown = unknown_by_place.get(pk)
        if unknown and year_set.intersection(unknown):
            row.unknown = [unknown.get(year, 0) for year in years]
        rows.append(row)
    others = None
    if hidden:
        sums = dict.fromkeys(years, zero)
        counts = dict.fromkeys(years, 0)
        for _total, _label, pk in hidden:
            for year, value in by_place.get(pk, {}).items():
                if year in sums:
                    sums[year] += value
            for year, count in unknown_by_place.get(pk, {}).items():
                if count and year in counts:
                    counts[year] += 1
        others = _others_row(
            shortening,
            len(hidden),
            [amount(sums[year]) for year in years],
            [counts[year] for year in years],
        )
    return _finished_table(
        years=years, rows=rows, others=others, year_totals=year_totals, rest_label=rest_label
    )


def _row_label(place: PlaceName, namesakes: int) -> str:
    """A place's row label: two villages may share a name (新村 is common), so when `namesakes`
    (the table's places of its name, itself included) are more than one, its parent's name
    tells them apart."""
    if namesakes > 1 and place.parent_name:
        return f"{place.parent_name} {place.name}"
    return place.name


def _others_row(
    shortening: Shortening, hidden: int, cells: list[Decimal], unknown: list[int]
) -> TableRow:
    """The row summing the `hidden` places a shortened table leaves off."""
    return TableRow(
        shortening.label(hidden),
        None,
        cells,
        sum(cells, ZERO),
        unknown if any(unknown) else [],
        shortening.unknown_note,
    )


def _finished_table(
    *,
    years: list[int],
    rows: list[TableRow],
    others: TableRow | None,
    year_totals: dict[int, Decimal],
    rest_label: str,
) -> YearTable:
    """The table of these rows, with the year totals and what no row was given."""
    column_totals = [year_totals.get(year, ZERO) for year in years]
    placed = column_sums([row.cells for row in [*rows, *([others] if others else [])]], len(years))
    rest_cells = [column_totals[i] - placed[i] for i in range(len(years))]
    rest = (
        TableRow(rest_label, None, rest_cells, sum(rest_cells, ZERO)) if any(rest_cells) else None
    )
    return YearTable(
        years=years,
        rows=rows,
        rest=rest,
        column_totals=column_totals,
        total=sum(column_totals, ZERO),
        others=others,
    )


def village_year_table(
    *, filters: Filters, partnership: Partnership, shortening: Shortening | None = None
) -> YearTable:
    """Yearly aid per village of the pairing's assisted side, plus what no village was given:
    every village, or as `shortening` says (the largest, and the others in one row)."""
    year_totals = yearly_totals(filters=filters, partnership=partnership)
    years = year_span(filters=filters, data_years=years_covered(year_totals))
    if shortening is not None:
        return _ranked_village_table(
            figures=_village_figure_queries(filters=filters, partnership=partnership, years=years),
            years=years,
            year_totals=year_totals,
            shortening=shortening,
            # A pairing helping a province or a city has many stored figures (a province's
            # 80,000): read them again (see _ranked_village_table). Not those by filter, a
            # fraction of them: stored, a province's under a category took 35 ms, not 44.
            reread=filters.totals_only and partnership.assisted_region.level <= Region.Level.CITY,
        )
    stored = filters.place_totals() is not None
    if stored:
        by_village, unknown = _village_figures_stored(filters=filters, partnership=partnership)
    else:
        by_village, unknown = _village_figures(filters=filters, partnership=partnership)
    villages = place_names({*by_village, *unknown})
    return _table(
        years=years,
        by_place=by_village,
        places=villages,
        year_totals=year_totals,
        rest_label=_("Not itemised to a village"),
        unknown_by_place=unknown,
        in_fen=stored,
        shortening=shortening,
    )


def _village_figures(
    *, filters: Filters, partnership: Partnership
) -> tuple[dict[int, dict[int, Decimal]], dict[int, dict[int, int]]]:
    """Per village and year, the lines' amount and the handovers naming it without its
    share, summed from the lines and recipient links (under any filter)."""
    village_rows = (
        lines(filters=filters, partnership=partnership)
        .filter(region__level=Region.Level.VILLAGE)
        .order_by()
        .values("region_id", "donation__year")
        .annotate(total=Sum("amount"))
    )
    by_village: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for row in village_rows:
        by_village[row["region_id"]][row["donation__year"]] = row["total"]
    unknown = unknown_place_shares(
        named=_village_links(filters=filters, partnership=partnership), villages_only=True
    )
    return by_village, unknown


def _village_links(*, filters: Filters, partnership: Partnership) -> QuerySet:
    """The recipient links naming a village on the pairing's donations `filters` select.

    Joined, not `donation__in` a subquery: PostgreSQL then reads a pairing's links from its
    donations' index instead of testing every link (a province's table took twice as long)."""
    return RecipientRegionLink.objects.filter(
        filters.donation_q("donation__"),
        donation__partnership__path__startswith=partnership.path,
        region__level=Region.Level.VILLAGE,
    )


def _village_figures_stored(
    *, filters: Filters, partnership: Partnership
) -> tuple[dict[int, dict[int, int]], dict[int, dict[int, int]]]:
    """The same figures from the stored place totals, in one query (only when
    `filters.place_totals()` answers), the amounts in whole fen: a province pairing's table
    read 176,000 lines and their donations at a million lines.

    Its 57,000 rows are read through the cursor, as the database gives them (the sums cast to
    bigint, which PostgreSQL would give as numeric): Django's converters and a Decimal per
    row were most of the query's time in Python."""
    rows = (
        filters.place_totals()
        .filter(
            partnership__path__startswith=partnership.path,
            region__level=Region.Level.VILLAGE,
        )
        .order_by()
        .values_list("region_id", "year")
        .annotate(
            fen=Cast(Sum("amount"), BigIntegerField()),
            lines=Cast(Sum("lines"), BigIntegerField()),
            unknown=Cast(Sum("unknown"), BigIntegerField()),
        )
    )
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # a scope of no pairings: the ORM would return no rows
        found = []
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
    by_village: dict[int, dict[int, int]] = defaultdict(dict)
    unknown: dict[int, dict[int, int]] = defaultdict(dict)
    for village, year, fen, line_count, unknown_count in found:
        if line_count:
            by_village[village][year] = fen
        if unknown_count:
            unknown[village][year] = unknown_count
    return by_village, dict(unknown)


def _village_figure_queries(
    *, filters: Filters, partnership: Partnership, years: list[int]
) -> list[QuerySet]:
    """Queries whose rows, together, give the pairing's figures of places in `years`: region,
    year, amount, lines and handovers naming the place without its share, in any number of
    rows per place and year (for _ranked_village_table, which sums them).

    From the stored figures when nothing, or one filter, says what the donations are
    (Filters.place_totals): every place's rows, which of them are villages being looked up
    once they are summed (for a province's 9,400 places, not for each of its 80,000 rows).
    Else from the lines and recipient links."""
    if not years:
        return []
    stored = filters.place_totals()
    if stored is not None:
        return [
            stored.filter(
                partnership__path__startswith=partnership.path,
                year__gte=years[0],
                year__lte=years[-1],
            ).values_list("region_id", "year", "amount", "lines", "unknown")
        ]
    in_years = Q(donation__year__gte=years[0], donation__year__lte=years[-1])
    return [
        lines(filters=filters, partnership=partnership)
        .filter(in_years, region__level=Region.Level.VILLAGE)
        .values_list("region_id", "donation__year")
        .annotate(fen=Sum("amount"), lines=Count("pk"), unknown=Value(0)),
        _named_without_share(
            named=_village_links(filters=filters, partnership=partnership).filter(in_years),
            villages_only=True,
        )
        .values_list("region_id", "donation__year")
        .annotate(fen=Value(0), lines=Value(0), unknown=Count("donation_id")),
    ]


def _ranked_village_table(
    *,
    figures: list[QuerySet],
    years: list[int],
    year_totals: dict[int, Decimal],
    shortening: Shortening,
    reread: bool = False,
) -> YearTable:
    """`village_year_table` shortened, ranked in the database: one query returns the largest
    villages' figures per year, and what the other villages got and how many of them are
    named without their share. A province pairing's 8,800 villages and 57,000 stored figures
    were read, named and ranked in Python for the 100 rows the page shows: 210 ms of a 250 ms
    page at a million lines, 95 ms as one query, now about 75 ms.

    The same table as `_table` builds from the figures: a village is ranked by its total
    over `years` (one only named without its share counts, at zero), ties by label, and a
    label names the parent when another village of the table has the same name. The
    database ranks by total alone (its collation need not sort as Python does), so it returns
    every village tied with the last one shown, and Python breaks the ties: those it leaves
    off join the others. A figure with no lines has no amount (it only names the place), so
    amounts are summed over all rows.

    The figures are read twice, to rank the places and then to sum them per year (each
    village the database returns and the others: 101 groups a year unless villages tie at
    the cut), and once more for the others named without their share. `reread`: each read
    runs their query again, which is cheaper than storing them in between when it reads many
    rows from an index alone (a province pairing's 80,000 stored totals: 105 → 75 ms; a
    city pairing's, 22 ms either way). Else they are read once and stored: the lines and
    links cost more to read again, and for a county pairing's figures, stored, PostgreSQL
    looks its 171 places up by id, where reading them again it expected 800 and hashed all
    50,000 villages (4 → 9 ms).

    SQLite builds no index on a subquery with window functions: joined to the ranking, it
    compared every figure with every village, 50 ms of the largest pairing's 105 ms page at
    a county's size. There the figures are joined to the villages (9 ms), and a village is
    shown when its total reaches the smallest total shown, which is the same as its rank
    being within the count, ties included. PostgreSQL hashes the ranking, and joined so it
    is 10 ms faster than reading the villages once more at a million lines."""
    rest_label = _("Not itemised to a village")
    try:
        compiled = [query.order_by().query.sql_with_params() for query in figures]
    except EmptyResultSet:  # a scope of no pairings
        compiled = []
    if not compiled:
        found = []
    else:
        rows_sql = " UNION ALL ".join(sql for sql, _params in compiled)
        params = tuple(param for _sql, query_params in compiled for param in query_params)
        region = connection.ops.quote_name(Region._meta.db_table)
        materialized = ""  # SQLite before 3.35 knows no such hint, and has no need of it
        if connection.vendor == "postgresql":
            materialized = "NOT MATERIALIZED" if reread else "MATERIALIZED"
        count = shortening.count
        # The places that are villages: ranked, and on SQLite also joined to their figures.
        village_places = f"""
                FROM places JOIN {region} place ON place.id = places.region_id
                WHERE place.level = {Region.Level.VILLAGE:d}"""
        if connection.vendor == "sqlite":  # see above: joined to the villages
            members = f"""
            villages AS (
                SELECT places.region_id, places.total{village_places}
            ),
            cut AS (SELECT MIN(total) AS total FROM ranked WHERE position <= {count:d}),"""
            member = "JOIN villages member ON member.region_id = figures.region_id CROSS JOIN cut"
            is_shown = "member.total >= cut.total"
            is_other = "(cut.total IS NULL OR member.total < cut.total)"  # none shown: NULL
        else:
            members = ""
            member = "JOIN ranked member ON member.region_id = figures.region_id"
            is_shown = f"member.position <= {count:d}"
            is_other = f"member.position > {count:d}"
        # The parent's name is a subquery, looked up for the rows shown only: as a join
        # PostgreSQL, misjudging how many rows are shown, hashed all 55,000 regions.
        sql = f"""
            WITH figures (region_id, year, fen, lines, unknown) AS {materialized} ({rows_sql}),
            places AS (
                SELECT region_id, SUM(fen) AS total FROM figures GROUP BY region_id
                HAVING SUM(lines) > 0 OR SUM(unknown) > 0
            ),
            ranked AS (
                SELECT places.region_id, places.total, place.name, place.parent_id,
                    COUNT(*) OVER (PARTITION BY place.name) AS namesakes,
                    RANK() OVER (ORDER BY places.total DESC) AS position{village_places}
            ),{members}
            cells AS (
                SELECT CASE WHEN {is_shown} THEN member.region_id END AS shown,
                    figures.year, SUM(figures.fen) AS fen, SUM(figures.lines) AS lines,
                    SUM(figures.unknown) AS unknown
                FROM figures {member}
                GROUP BY 1, 2
            ),
            shown AS (
                SELECT ranked.region_id, ranked.total, ranked.namesakes, ranked.name,
                    (SELECT parent.name FROM {region} parent WHERE parent.id = ranked.parent_id)
                        AS parent_name
                FROM ranked WHERE ranked.position <= {count:d}
            )
            SELECT shown.region_id, CAST(shown.total AS bigint), shown.namesakes, shown.name,
                shown.parent_name, cells.year, CAST(cells.fen AS bigint),
                CAST(cells.lines AS bigint), CAST(cells.unknown AS bigint)
            FROM cells LEFT JOIN shown ON shown.region_id = cells.shown
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, NULL, year, NULL, NULL, COUNT(*)
            FROM (
                SELECT DISTINCT figures.region_id, figures.year
                FROM figures {member}
                WHERE figures.unknown > 0 AND {is_other}
            ) named
            GROUP BY year
            UNION ALL
            SELECT NULL, NULL, COUNT(*), NULL, NULL, NULL, NULL, NULL, NULL FROM ranked
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
    others_fen: dict[int, int] = dict.fromkeys(years, 0)  # per year, the villages not shown
    others_unknown: dict[int, int] = dict.fromkeys(years, 0)  # how many of them are named
    village_count = 0
    candidates: dict[int, tuple[int, str, PlaceName]] = {}  # pk: (total, label, place)
    fen: dict[int, dict[int, int]] = defaultdict(dict)
    unknown: dict[int, dict[int, int]] = defaultdict(dict)
    for pk, total, namesakes, name, parent_name, year, amount, line_count, unknown_count in found:
        if pk is not None:
            if pk not in candidates:
                place = PlaceName(pk, name, parent_name)
                candidates[pk] = (total, _row_label(place, namesakes), place)
            if line_count:
                fen[pk][year] = amount
            if unknown_count:
                unknown[pk][year] = unknown_count
        elif amount is not None:  # the others' amount in the year
            others_fen[year] = amount
        elif year is not None:  # how many of the others are named without their share
            others_unknown[year] = unknown_count
        else:
            village_count = namesakes
    ranked = sorted(candidates.values(), key=lambda entry: (-entry[0], entry[1], entry[2].pk))
    shown, left_off = ranked[: shortening.count], ranked[shortening.count :]
    rows = []
    for total, label, place in shown:
        row = TableRow(
            label, place, [from_fen(fen[place.pk].get(year, 0)) for year in years], from_fen(total)
        )
        if unknown[place.pk]:  # in `years`, as all the figures read
            row.unknown = [unknown[place.pk].get(year, 0) for year in years]
        rows.append(row)
    for _total, _label, place in left_off:  # tied with the last one shown, and after it
        for year, amount in fen[place.pk].items():
            others_fen[year] += amount
        for year in unknown[place.pk]:
            others_unknown[year] += 1
    others = None
    hidden = village_count - len(shown)
    if hidden:
        others = _others_row(
            shortening,
            hidden,
            [from_fen(others_fen[year]) for year in years],
            [others_unknown[year] for year in years],
        )
    return _finished_table(
        years=years, rows=rows, others=others, year_totals=year_totals, rest_label=rest_label
    )


def _named_without_share(*, named: QuerySet, villages_only: bool) -> QuerySet:
    """The recipient links of `named` that name a place without its share (see
    unknown_place_shares)."""
    if villages_only:  # a village has no places within it: plain equality, on the indexes
        within = DonationLine.objects.filter(
            donation_id=OuterRef("donation_id"), region_id=OuterRef("region_id")
        )
        named = named.exclude(donation__region_id=F("region_id"))
    else:
        within = DonationLine.objects.filter(
            donation_id=OuterRef("donation_id"),
            region__path__startswith=OuterRef("region__path"),
        )
        named = named.exclude(donation__region__path__startswith=F("region__path"))
    return named.filter(~Exists(within))


def unknown_place_shares(
    *, named: QuerySet, villages_only: bool = False
) -> dict[int, dict[int, int]]:
    """Per place and year, how many of the handovers in `named` (recipient links) name the
    place without saying what it received (FACTS.md: the 105万 to six villages and a town):
    handed over to a region around it, with no line to it or a place within it. One received
    by the place or a place within it keeps its rest there (the rule unknown_shares follows
    for a region's own total)."""
    rows = (
        _named_without_share(named=named, villages_only=villages_only)
        .order_by()
        .values_list("region_id", "donation__year")
        .annotate(count=Count("donation_id"))
    )
    unknown: dict[int, dict[int, int]] = defaultdict(dict)
    for place, year, count in rows:
        unknown[place][year] = count
    return dict(unknown)


def totals_by_year(per_kind: dict[str, dict[int, Decimal]]) -> dict[int, Decimal]:
    """Kind × year totals added up per year."""
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for per_year in per_kind.values():
        for year, amount in per_year.items():
            totals[year] += amount
    return dict(totals)


def years_covered(per_year: dict[int, Any]) -> tuple[int | None, int | None]:
    """The first and last year with data, or (None, None)."""
    if not per_year:
        return None, None
    return min(per_year), max(per_year)


def region_year_table(*, filters: Filters, region: Region) -> YearTable:
    """A region's yearly aid, broken down by its child regions (for towns, counties, ...)."""
    by_child: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    year_totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    areas = filters.area_totals()
    if areas is not None:
        # The region's and each child's figures already summed over the places under them
        # (AreaYearTotal): a province's 9,400 places' 80,000 totals took 90 ms at a million
        # lines.
        rows = (
            areas.filter(
                region__in=Region.objects.filter(Q(pk=region.pk) | Q(parent=region)).values("pk"),
                lines__gt=0,
            )
            .order_by()
            .values("region_id", "year")
            .annotate(total=Sum("amount"))
        )
        for row in rows:
            if row["region_id"] == region.pk:
                year_totals[row["year"]] += row["total"]
            else:
                by_child[row["region_id"]][row["year"]] += row["total"]
    else:
        # Summed per child region in the database: a line's path below this region starts
        # with the child's id ("<child>/..."; "" for the region's own lines). A province's
        # thousands of places come back as a few dozen children, not one row per place.
        below = Substr("region__path", len(region.path) + 1)
        stored = filters.place_totals()
        if stored is not None:
            # The lines already summed per pairing, year and place (PlaceFacetYearTotal
            # under one filter on what the donations are).
            received = stored.filter(lines__gt=0)
            year_field = "year"
        else:
            received = lines(filters=filters)
            year_field = "donation__year"
        rows = (
            received.filter(region__path__startswith=region.path)
            .order_by()
            .annotate(child=Substr(below, 1, StrIndex(below, Value("/"))))
            .values("child", year_field)
            .annotate(total=Sum("amount"))
        )
        for row in rows:
            year = row[year_field]
            year_totals[year] += row["total"]
            if row["child"]:  # below the region itself: credit the child on the way
                by_child[int(row["child"].rstrip("/"))][year] += row["total"]
    by_place = {}
    if region.level != Region.Level.VILLAGE:  # a village has no places under it
        by_place = _children_named_without_share(filters=filters, region=region)
    children = place_names({*by_child, *by_place})
    unknown = unknown_shares(filters=filters, region=region)
    years = year_span(filters=filters, data_years=years_covered({**unknown, **year_totals}))
    rest_label = _("Not itemised below %(region)s") % {"region": region.name}
    table = _table(
        years=years,
        by_place=by_child,
        places=children,
        year_totals=year_totals,
        rest_label=rest_label,
        unknown_by_place=by_place,
    )
    table.unknown_shares = unknown
    if unknown and region.level != Region.Level.VILLAGE:
        _mark_own_unknown_share(table, filters=filters, region=region, rest_label=rest_label)
    return table


def _mark_own_unknown_share(
    table: YearTable, *, filters: Filters, region: Region, rest_label: str
) -> None:
    """The handovers naming the region itself without its share (_links_without_share) mark
    its own row, what was not itemised below it, as "unknown": a town named so (闵孝镇, FACTS.md)
    had a table of no row above a total of "unknown"."""
    own = dict(
        _links_without_share(
            filters=filters, region=region, received_in=[*region.ancestor_ids(), region.pk]
        )
        .filter(region=region)
        .order_by()
        .values_list("donation__year")
        .annotate(count=Count("donation_id", distinct=True))
    )
    if not set(table.years).intersection(own):
        return
    if table.rest is None:
        table.rest = TableRow(rest_label, None, [ZERO] * len(table.years), ZERO)
    table.rest.unknown = [own.get(year, 0) for year in table.years]


def _links_without_share(
    *, filters: Filters, region: Region, received_in: list[int], below_only: bool = False
) -> QuerySet:
    """The recipient links naming `region` or a place within it on handovers received by a
    region of `received_in`, whose named place's share is not known to `region`'s figures
    (FACTS.md: the 105万 to six villages and a town): no line went to the place or a place
    within it, nor to a place around it within `region` (strictly below it, `below_only`,
    for a child's row), whose figure holds the place's share (30万 to 坝盘镇 itself, naming
    坝盘镇 and its 甲村: the town's figure is known, 甲村's is not).

    A handover received within the named place keeps its rest there, and recipients lie
    within the receiving region: only one received around the place can leave its share
    unknown, which keeps a county's or province's page from testing every handover in it."""
    around = Q(named_path__startswith=F("region__path"), region__path__startswith=region.path)
    if below_only:
        around &= ~Q(region_id=region.pk)
    itemised = (
        DonationLine.objects.filter(donation_id=OuterRef("donation_id"))
        .annotate(named_path=ExpressionWrapper(OuterRef("region__path"), output_field=CharField()))
        .filter(Q(region__path__startswith=OuterRef("region__path")) | around)
    )
    return RecipientRegionLink.objects.filter(
        filters.donation_q("donation__"),
        donation__region__in=received_in,
        region__path__startswith=region.path,
    ).filter(~Exists(itemised))


def _children_named_without_share(*, filters: Filters, region: Region) -> dict[int, dict[int, int]]:
    """Per child place of `region` and year, the handovers naming it or a place within it
    without its share (_links_without_share), as the child's own page counts them
    (unknown_shares). Only a child named itself used to count: a town whose village was
    named showed its figure without "＋不详" on the county's page, and a town named only
    through its villages was left out of the county's table."""
    below = Substr("region__path", len(region.path) + 1)
    rows = (
        _links_without_share(
            filters=filters,
            region=region,
            received_in=[*region.ancestor_ids(), region.pk],
            below_only=True,
        )
        .exclude(region=region)
        .annotate(child=Substr(below, 1, StrIndex(below, Value("/"))))
        .order_by()
        .values_list("child", "donation__year")
        .annotate(count=Count("donation_id", distinct=True))
    )
    unknown: dict[int, dict[int, int]] = defaultdict(dict)
    for place, year, count in rows:
        unknown[int(place.rstrip("/"))][year] = count
    return dict(unknown)


def unknown_shares(*, filters: Filters, region: Region) -> dict[int, int]:
    """Per year, the handovers naming the region or a place in it as a recipient without
    that place's share (_links_without_share), received above the region: what this region
    received of them is not known. A handover that itemised a line to one village of a
    town and not to another it names left the town's total unmarked, as if known."""
    return dict(
        _links_without_share(filters=filters, region=region, received_in=region.ancestor_ids())
        .order_by()
        .values_list("donation__year")
        .annotate(count=Count("donation_id", distinct=True))
    )


def _first(rows: QuerySet, limit: int) -> QuerySet:
    """The first `limit` of `rows` in their order, their related rows joined for those only."""
    return rows.filter(pk__in=rows.values("pk")[:limit])


def timeline(*, filters: Filters, partnership: Partnership, limit: int = 50) -> dict[str, Any]:
    """Visits and meetings of a pairing (its child pairings included), newest first."""
    # Only the columns the list shows: a county's timeline is a hundred rows of five models.
    pairing_name = [
        "partnership__name",
        "partnership__helping_region__name",
        "partnership__assisted_region__name",
    ]
    visits = (
        Visit.objects.filter(filters.year_q("start_date__year"))
        .filter(partnership__path__startswith=partnership.path)
        .select_related("leader", "partnership__helping_region", "partnership__assisted_region")
        .only("start_date", "end_date", "direction", "partnership", "leader__name", *pairing_name)
        .order_by("-start_date", "-pk")
    )
    meetings = (
        Meeting.objects.filter(filters.year_q("year"))
        .filter(partnership__path__startswith=partnership.path)
        .select_related("visit", "partnership__helping_region", "partnership__assisted_region")
        .annotate(visit_path=F("visit__partnership__path"))  # see templatetags links_visit
        .only(
            "date",
            "year",
            "title",
            "partnership",
            "visit__start_date",
            "visit__end_date",
            *pairing_name,
        )
        .order_by(*LIST_ORDER)
    )
    visit_count = visits.count()
    meeting_count = meetings.count()
    # The newest rows are chosen first and only they are joined to their pairing's regions:
    # joined before the choice, a province pairing's 3,700 visits had their pairings' names
    # looked up, by hashing all 55,000 regions twice (visits 15 → 6 ms at a million lines).
    entries = [("visit", v.start_date, v) for v in _first(visits, limit)] + [
        ("meeting", m.effective_date, m) for m in _first(meetings, limit)
    ]
    entries.sort(key=lambda entry: (entry[1], entry[0] == "visit"), reverse=True)
    return {
        "entries": [
            {"kind": kind, "date": day, "item": item} for kind, day, item in entries[:limit]
        ],
        "visit_count": visit_count,
        "meeting_count": meeting_count,
        "truncated": visit_count + meeting_count > limit,
    }


@dataclass
class DonorTotal:
    organisation: Organisation
    total: Decimal
    sole: Decimal
    joint: Decimal
    donations: int


def top_donors(
    *, filters: Filters, partnership: Partnership | None = None, limit: int = 10
) -> list[DonorTotal]:
    """Donors ranked by the handovers they took part in.

    A joint handover (several donors, one total) counts in full for each of its donors, since
    the split is not known; `sole` and `joint` keep the two apart so nothing is misread.
    """
    stored = filters.donor_totals()
    if stored is not None:
        # One row per pairing, year and donor (a donor kind is the donor's).
        given = stored
        prefix = ""
        figures = {"total": Sum("amount"), "sole": Sum("sole"), "donations": Sum("count")}
    else:
        # The filters go onto the links' donations directly (a join, not `IN (SELECT …)`),
        # so PostgreSQL reads each donation once, from the pairing's index scan.
        given = DonorLink.objects.filter(filters.donation_q("donation__"))
        prefix = "donation__"
        figures = {
            "total": Sum("donation__amount"),
            "sole": _or_zero(Sum("donation__amount", filter=Q(donation__donor_count=1))),
            "donations": Count("donation_id"),
        }
    if partnership is not None:
        given = given.filter(**{f"{prefix}partnership__path__startswith": partnership.path})
    if filters.donor_kind:
        given = given.filter(organisation__kind=filters.donor_kind)
    rows = list(
        given.order_by()
        .values("organisation_id")
        .annotate(**figures)
        .order_by("-total", "organisation_id")[:limit]
    )
    # Named as the admin's pickers name them: two 县人民政府 of two counties are told apart.
    organisations = Organisation.with_namesakes(Organisation.objects).in_bulk(
        [row["organisation_id"] for row in rows]
    )
    return [
        DonorTotal(
            organisation=organisations[row["organisation_id"]],
            total=row["total"],
            sole=row["sole"],
            joint=row["total"] - row["sole"],
            donations=row["donations"],
        )
        for row in rows
    ]


def donor_yearly(*, filters: Filters, organisation: Organisation) -> dict[str, Any]:
    """What one organisation gave, per year: alone, and jointly with others (split unknown)."""
    rows = (
        DonorLink.objects.filter(filters.donation_q("donation__"), organisation=organisation)
        .order_by()
        .values("donation__year")
        .annotate(
            total=Sum("donation__amount"),
            sole=_or_zero(Sum("donation__amount", filter=Q(donation__donor_count=1))),
        )
    )
    per_year = {row["donation__year"]: row for row in rows}
    years = year_span(filters=filters, data_years=years_covered(per_year))
    table = []
    for year in years:
        row = per_year.get(year)
        total = row["total"] if row else ZERO
        sole = row["sole"] if row else ZERO
        table.append({"year": year, "total": total, "sole": sole, "joint": total - sole})
    return {
        "years": table,
        "total": sum((r["total"] for r in table), ZERO),
        "sole": sum((r["sole"] for r in table), ZERO),
        "joint": sum((r["joint"] for r in table), ZERO),
    }


def in_recorded_order(name: str, model, to_attr: str | None = None) -> Prefetch:
    """A donation's donors or recipients in the order those organisations and places were
    entered (for the reference handover, the report's order), as the downloads list them, not
    by the code points of their names, which read to no one as an order. (A handover keeps no
    order of its own among them: Django adds a save's links in id order anyway.)"""
    return Prefetch(name, queryset=model.objects.order_by("pk"), to_attr=to_attr)


def donation_list(qs: QuerySet[Donation]) -> QuerySet[Donation]:
    """What a list of donations shows, fetched in a fixed number of queries: its donors and
    recipients as plain lists (`listed_donors`, `listed_regions`, `listed_organisations`), and
    its receiving region, for a handover that names no recipient. Lists, not the related
    managers: each `donation.donors.all` in a template made a manager and a queryset, eight a
    row, a third of a 50-row list's rendering."""
    # `visit_path`: whether the visit's page is the reader's to open (templatetags links_visit).
    return (
        qs.select_related("region")
        .annotate(visit_path=F("visit__partnership__path"))
        .prefetch_related(
            in_recorded_order("donors", Organisation, "listed_donors"),
            in_recorded_order("recipient_regions", Region, "listed_regions"),
            in_recorded_order("recipient_organisations", Organisation, "listed_organisations"),
        )
    )


def donations_to_region(
    *, filters: Filters, region: Region, handovers: int | None = None
) -> QuerySet[Donation]:
    """Donations with a part given into the region, or naming a place in it as a recipient.

    `handovers`: how many they are, when known (handovers_to_region_per_year); more than
    MANY_IDS, their ids are not read first to tell (10 ms of a province's page)."""
    # The places first (an indexed prefix on paths), then the lines and links by region id:
    # the database starts from the few rows of the region instead of testing every donation.
    places = Region.objects.filter(path__startswith=region.path).values("pk")
    in_region = Q(region__in=places)
    touched = DonationLine.objects.filter(in_region).values("donation_id")
    named = RecipientRegionLink.objects.filter(region__in=places).values("donation_id")
    # For a village or a town the handovers are few: fetch their ids first, or the planner
    # walks every donation in page order testing membership.
    few = (
        None
        if handovers is not None and handovers > MANY_IDS
        else _few_donation_ids(touched, named)
    )
    chosen = Q(pk__in=few) if few is not None else _received_in_or_above(region, places)
    return (
        donations(filters=filters)
        .filter(chosen)
        .annotate(
            received=_or_zero(
                Subquery(
                    DonationLine.objects.filter(in_region, donation_id=OuterRef("pk"))
                    .order_by()
                    .values("donation_id")
                    .annotate(total=Sum("amount"))
                    .values("total")
                )
            )
        )
        .order_by(*LIST_ORDER)
    )


def handovers_to_region_per_year(*, filters: Filters, region: Region) -> dict[int, int] | None:
    """How many handovers donations_to_region lists, per year, as AreaYearTotal holds them;
    None when the filters need them counted (a filter on what the donations are). Counting a
    province's 135,000 handovers among all of them took 70 ms at a million lines."""
    areas = filters.area_totals()
    if areas is None:
        return None
    return dict(
        areas.filter(region=region)
        .order_by()
        .values("year")
        .annotate(n=Sum("handovers"))
        .values_list("year", "n")
    )


def _few_donation_ids(*rows: QuerySet) -> list[int] | None:
    """The donation ids of `rows` (querysets of rows with a donation_id: lines, links),
    sorted, if there are at most MANY_IDS of them; None if more. Told by reading at most
    2 × MANY_IDS rows, duplicates and all, in one query: that stops early, where a distinct
    list would read a province's hundreds of thousands first."""
    ids = [query.order_by().values_list("donation_id", flat=True) for query in rows]
    probe = list(ids[0].union(*ids[1:], all=True)[: 2 * MANY_IDS])
    few = set(probe)
    return sorted(few) if len(probe) < 2 * MANY_IDS and len(few) <= MANY_IDS else None


def _received_in_or_above(region: Region, places: QuerySet) -> Q:
    """The handovers with a part given into `region` or naming one of its `places`, for a
    region with many (a county or more; or one whose few handovers have very many lines).

    A handover's lines and named places lie within its receiving region, which holds the
    not-itemised rest of an amount above zero: one received in the region or a place in it
    has a part there, and any other was received above it (by one of its few ancestors) and
    is found by its lines or named places. Those are looked up first, as ids: tested in the
    same query, they made PostgreSQL test every handover (counting a city's at 1M lines, none
    of them received above it, took 107 ms instead of 4). Searching every line and link of
    a province's 9,400 places for their handovers took 0.45 s to count them and 0.2 s for a
    page."""
    received = Q(region__in=places)
    above = region.ancestor_ids()
    if not above:
        return received
    from_above = Q(region__in=above) & (
        Exists(DonationLine.objects.filter(region__in=places, donation=OuterRef("pk")))
        | Exists(RecipientRegionLink.objects.filter(region__in=places, donation=OuterRef("pk")))
    )
    ids = list(
        Donation.objects.filter(from_above).order_by().values_list("pk", flat=True)[: MANY_IDS + 1]
    )
    if len(ids) > MANY_IDS:  # too many to send: the database tests them
        return received | from_above
    return received | Q(pk__in=ids) if ids else received


def donations_to_organisation(
    *, filters: Filters, organisation: Organisation
) -> QuerySet[Donation]:
    """Donations naming the organisation as a recipient or itemising a part to it, with
    `received`: what was itemised to it, and `rest`: the part itemised to no one (its own when
    it is the handover's only recipient: credit_sole_recipient). 0 received where the
    handover names it but does not say its share, which the list shows as unknown."""
    named = RecipientOrganisationLink.objects.filter(organisation=organisation)
    itemised = DonationLine.objects.filter(recipient_organisation=organisation)
    # Its handovers by id first, as a region's: few, and the planner would otherwise walk
    # every donation in page order testing each. Too many to send (a body that received
    # tens of thousands), the database looks them up itself.
    few = _few_donation_ids(named, itemised)
    if few is not None:
        chosen = Q(pk__in=few)
    else:
        chosen = Q(pk__in=named.values("donation_id")) | Q(pk__in=itemised.values("donation_id"))

    def line_sum(lines: QuerySet) -> Coalesce:
        return _or_zero(
            Subquery(
                lines.filter(donation_id=OuterRef("pk"))
                .order_by()
                .values("donation_id")
                .annotate(total=Sum("amount"))
                .values("total")
            )
        )

    return (
        donations(filters=filters)
        .filter(chosen)
        .annotate(
            received=line_sum(itemised),
            rest=line_sum(DonationLine.objects.filter(is_itemised=False)),
        )
        .order_by(*LIST_ORDER)
    )


def credit_sole_recipient(donations: Iterable[Donation], organisation: Organisation) -> None:
    """A handover naming the organisation as its only recipient gave it the part itemised to
    no one too (the region page counts a place's the same way): its `received` is that, not
    "unknown". Reads the lists donation_list fetched."""
    for donation in donations:
        recipients = [org.pk for org in donation.listed_organisations]
        if recipients == [organisation.pk] and not donation.listed_regions:
            donation.received += donation.rest


def donations_by_donor(*, filters: Filters, organisation: Organisation) -> QuerySet[Donation]:
    # The donor's handovers by id, fetched first: given a subquery, the planner walks all
    # donations in page order testing each one, which is slow for a donor of a few hundred.
    given = list(
        DonorLink.objects.filter(organisation=organisation).values_list("donation_id", flat=True)
    )
    return donations(filters=filters).filter(pk__in=given).order_by(*LIST_ORDER)
