"""The donation summary (models.DonationSummary, and its coarser PairingYearTotal), kept exact
inside every write's transaction.

A (pairing, year) key's rows are recomputed from the donations, not adjusted by adding and
subtracting: whatever happened before, after `refresh` the rows of those keys are the sums
over Donation, which is what the tests compare. Callers pass every key a write may have
changed, the old one and the new one:

- Donation.save (admin add and change, the visit page's inline, imports, sample and
  reference data): the stored (pairing, year) before the save and the one after.
- Deleting donations (admin delete, the bulk delete action, deleting the sample): the
  post_delete signal, which Django sends for queryset deletes too.
- Visit.save, whose queryset `.update(year=...)` moves undated donations to another year.
- generate_dataset writes through COPY and calls `rebuild` once at the end.

The summary by donor kind (DonorKindSummary) and the per-place and per-donor totals, plain
and by filter (PlaceYearTotal, PlaceFacetYearTotal, DonorYearTotal, DonorFacetYearTotal), are
refreshed by the same keys, and also depend on what the donation's own row does not hold:

- Lines (itemising, rebalance, the line inline, imports): DonationLine's post_save and
  post_delete signals refresh their donation's key.
- Recipient regions and donors: the m2m_changed signals of Donation.recipient_regions and
  Donation.donors, from either side; a donor's number of donors (its "alone" part) is
  recounted there too (models.count_donors, which refreshes the keys it recounted), as are
  its donors' kinds (the tables by donor kind), also when a donor's kind changes
  (Organisation.save).
- Deleting an organisation removes its donor links without m2m_changed: models.donor_deleted
  recounts, and so refreshes, the donations it gave to.

The regions' totals (AreaYearTotal) sum each place's figures into every region above it, so
they also depend on where the places lie: moving a region (Region.save) refreshes the keys of
the donations within it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import reduce
from operator import or_

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum

from .models import (
    DONOR_FACETS,
    DONOR_KIND_BITS,
    PATH_DIGITS,
    TOTAL_SPLITS,
    AreaYearTotal,
    Donation,
    DonationLine,
    DonationSummary,
    DonorFacetYearTotal,
    DonorKindSummary,
    DonorYearTotal,
    PairingYearTotal,
    Partnership,
    PlaceFacetYearTotal,
    PlaceYearTotal,
    Region,
    donor_kinds_of,
    facet_values,
    total_column,
)

ZERO = Decimal("0.00")
Key = tuple[int, int]  # (pairing id, year)
KEY_FIELDS = ["partnership_id", "year", "kind", "category", "funding"]
# Keys are deleted and recomputed this many pairings at a time, to keep statements short.
PAIRINGS_PER_STATEMENT = 200
# And compared this many at a time: the totals by filter are five rows for each place total.
PAIRINGS_PER_COMPARISON = 50
# The tables refresh recomputes, each keyed by (pairing, year) first.
DERIVED = (
    DonationSummary,
    DonorKindSummary,
    PairingYearTotal,
    PlaceYearTotal,
    PlaceFacetYearTotal,
    AreaYearTotal,
    DonorYearTotal,
    DonorFacetYearTotal,
)

_state = threading.local()


@contextmanager
def deferred() -> Iterator[None]:
    """Collect the keys of many writes and refresh each once, at the end (imports, bulk jobs).

    Use inside the writes' transaction: the refresh happens before it commits.
    """
    outer = getattr(_state, "pending", None)
    if outer is not None:
        yield  # an enclosing block refreshes them
        return
    _state.pending = set()
    _state.pending_donations = set()
    try:
        yield
        keys, donations = _state.pending, _state.pending_donations
    finally:
        _state.pending = _state.pending_donations = None
    refresh_donations(donations, keys=keys)


def refresh(keys: Iterable[Key | None]) -> None:
    """Recompute the summary rows of these (pairing, year) keys from the donations."""
    keys = {key for key in keys if key is not None and None not in key}
    if not keys:
        return
    pending = getattr(_state, "pending", None)
    if pending is not None:
        pending |= keys
        return
    years_of: dict[int, set[int]] = defaultdict(set)
    for pairing, year in keys:
        years_of[pairing].add(year)
    with transaction.atomic():
        lock_pairings(years_of)
        pairings = sorted(years_of)
        for start in range(0, len(pairings), PAIRINGS_PER_STATEMENT):
            chunk = pairings[start : start + PAIRINGS_PER_STATEMENT]
            where = reduce(or_, (Q(partnership_id=p, year__in=sorted(years_of[p])) for p in chunk))
            for model in DERIVED:
                model.objects.filter(where).delete()
            rows, by_donor_kind = sums(Donation.objects.filter(where))
            for model, model_rows in ((DonationSummary, rows), (DonorKindSummary, by_donor_kind)):
                model.objects.bulk_create(
                    model(
                        **{field: row[field] for field in row if field not in ("total", "n")},
                        amount=row["total"],
                        count=row["n"],
                    )
                    for row in model_rows
                )
            PairingYearTotal.objects.bulk_create(
                PairingYearTotal(partnership_id=pairing, year=year, **figures)
                for (pairing, year), figures in year_totals(rows).items()
            )
            on_donation = reduce(
                or_,
                (
                    Q(donation__partnership_id=p, donation__year__in=sorted(years_of[p]))
                    for p in chunk
                ),
            )
            PlaceYearTotal.objects.bulk_create(
                PlaceYearTotal(**row) for row in place_sums(on_donation)
            )
            DonorYearTotal.objects.bulk_create(
                DonorYearTotal(**row) for row in donor_sums(on_donation)
            )
            # The totals by filter, many rows a key, in the database (the rebuild's SQL): as
            # objects they tripled the time of a refresh (a key of 169 handovers, 18 → 55 ms).
            # place_facet_sums and donor_facet_sums, which `differences` compares them with,
            # say the same in Python.
            chosen, params = (
                Donation.objects.filter(where).order_by().values("pk").query.sql_with_params()
            )
            with connection.cursor() as cursor:
                for sql in (PLACE_FACETS_SQL, AREAS_SQL, DONOR_FACETS_SQL):
                    statement = sql.format(**_tables(), where=f"d.id IN ({chosen})")
                    cursor.execute(statement, params * sql.count("{where}"))


def lock_pairings(pairing_ids: Iterable[int], *, nowait: bool = False) -> None:
    """Take the locks `refresh` takes on these pairings (call inside a transaction).

    Two transactions refreshing the same key must not both insert its rows: the second waits
    here until the first commits, then sees (and deletes) what it inserted. NO KEY UPDATE does
    not conflict with the key-share lock a donation's foreign key check takes on its pairing,
    so writers of one pairing do not deadlock. In id order, so two lockers never wait on each
    other in a circle. `nowait`: refused at once (lock_not_available) where another holds
    one, for a caller that comes to them out of that order.
    """
    ids = sorted(set(pairing_ids))
    if not ids:
        return
    list(
        Partnership.objects.select_for_update(no_key=True, nowait=nowait)
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def refresh_donations(donation_ids: Iterable[int], *, keys: Iterable[Key | None] = ()) -> None:
    """Refresh the keys of these donations as stored (after a change to their lines, their
    recipients or their donors, which their own rows do not show), and `keys`.

    Under `deferred()` the donations are collected and their keys read at its end, once (an
    import no longer reads a key per line). Their keys are read again once their pairings are
    locked: a save that moved one of them to another year held the lock meanwhile, and its
    refresh of the new year could not see this transaction's change. (One moved to another
    pairing meanwhile has that pairing locked after the first, out of id order: PostgreSQL
    may then end one of two such transactions as a deadlock, an error and no wrong total.)"""
    ids = {pk for pk in donation_ids if pk is not None}
    pending = getattr(_state, "pending_donations", None)
    if pending is not None:
        pending |= ids
        refresh(keys)
        return
    if not ids:
        refresh(keys)
        return

    def keys_now() -> set[Key]:
        return set(Donation.objects.filter(pk__in=ids).values_list("partnership_id", "year"))

    with transaction.atomic():
        found = {key for key in [*keys, *keys_now()] if key is not None and None not in key}
        lock_pairings(pairing for pairing, _year in found)
        settle_donor_kinds(ids)
        refresh(found | keys_now())


def settle_donor_kinds(donation_ids: set[int]) -> None:
    """On PostgreSQL, after their pairings are locked: these donations' donor kinds as their
    donors' kinds are once no change of kind is under way.

    A donor's kind changed while a handover naming it was saved left that handover counted
    under the old kind: its donor columns were stored from the kind before the change
    committed, and the change recounted only the handovers committed before it
    (Organisation.save). The donors are key-share locked here, which waits for a kind change
    under way (it holds its organisation FOR UPDATE) and makes a later one wait for this
    save; then the columns are stored again where they differ. Taken after the pairings, as
    the foreign key's own check at commit would, so a kind change (pairings, then the
    organisation: models.lock_given) finds them in the same order; one that then finds this
    handover in a pairing it had not locked takes it without waiting, or is refused
    (Organisation.save). SQLite writes one transaction at a time."""
    from .models import Donation, stale_donor_columns, store_donor_columns

    if connection.vendor != "postgresql" or not donation_ids:
        return
    links = Donation.donors.through._meta
    donor, donation = links.get_field("organisation").column, links.get_field("donation").column
    organisations = Donation.donors.field.related_model._meta.db_table
    ids = sorted(donation_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT o.id FROM {organisations} o WHERE o.id IN (SELECT {donor} FROM"
            f" {links.db_table} WHERE {donation} = ANY(%s)) ORDER BY o.id FOR KEY SHARE",
            [ids],
        )
    stale = list(stale_donor_columns().filter(pk__in=ids).values_list("pk", flat=True))
    if stale:
        store_donor_columns(stale)


def sums(donations) -> tuple[list[dict], list[dict]]:
    """The summary's rows as the donations give them (key fields, `total` and `n`), and the
    summary by donor kind's (the same with `donor_kind`), from one grouping by the key and
    the donors' kinds."""
    summary: dict[tuple, dict] = {}
    by_donor_kind: dict[tuple, dict] = {}

    def add(rows: dict[tuple, dict], key: tuple, fields: tuple, row: dict) -> None:
        if key not in rows:
            rows[key] = dict(zip(fields, key, strict=True)) | {"total": ZERO, "n": 0}
        rows[key]["total"] += row["total"]
        rows[key]["n"] += row["n"]

    grouped = (
        donations.order_by()
        .values(*KEY_FIELDS, "donor_kinds")
        .annotate(total=Sum("amount"), n=Count("pk"))
    )
    for row in grouped.iterator():
        key = tuple(row[field] for field in KEY_FIELDS)
        add(summary, key, tuple(KEY_FIELDS), row)
        for name in donor_kinds_of(row["donor_kinds"]):
            add(by_donor_kind, (name, *key), ("donor_kind", *KEY_FIELDS), row)
    return list(summary.values()), list(by_donor_kind.values())


PLACE_KEY = ("partnership_id", "year", "region_id")
FACET_KEY = ("partnership_id", "facet", "value", "year", "region_id")
DONOR_KEY = ("partnership_id", "year", "organisation_id")
DONOR_FACET_KEY = ("partnership_id", "facet", "value", "year", "organisation_id")


def _received(on_donation: Q, *columns: str) -> QuerySet:
    """The lines of the donations `on_donation` selects that went to a place, summed and
    counted per pairing, year, region and `columns` of the donation."""
    return (
        DonationLine.objects.filter(on_donation, region__isnull=False)
        .order_by()
        .values_list("donation__partnership_id", "donation__year", "region_id", *columns)
        .annotate(total=Sum("amount"), n=Count("pk"))
    )


def _unshared(on_donation: Q, *columns: str) -> QuerySet:
    """The recipient links of those donations naming a region with no share of its own (no
    line to it, not handed over to it), counted per pairing, year, region and `columns`."""
    own_share = DonationLine.objects.filter(
        donation_id=OuterRef("donation_id"), region_id=OuterRef("region_id")
    )
    return (
        Donation.recipient_regions.through.objects.filter(on_donation)
        .exclude(donation__region_id=F("region_id"))
        .filter(~Exists(own_share))
        .order_by()
        .values_list("donation__partnership_id", "donation__year", "region_id", *columns)
        .annotate(n=Count("donation_id"))
    )


def _merged(key_fields: tuple[str, ...], received, unshared) -> list[dict]:
    """Rows of amount, lines and unknown per key, from (key, total, n) and (key, n) rows;
    rows of one key (a donation's kinds spread over several) are added up."""
    rows: dict[tuple, dict] = {}

    def row(key: tuple) -> dict:
        if key not in rows:
            rows[key] = dict(zip(key_fields, key, strict=True)) | {
                "amount": ZERO,
                "lines": 0,
                "unknown": 0,
            }
        return rows[key]

    for key, total, n in received:
        figures = row(key)
        figures["amount"] += total
        figures["lines"] += n
    for key, n in unshared:
        row(key)["unknown"] += n
    return list(rows.values())


def place_sums(on_donation: Q) -> list[dict]:
    """PlaceYearTotal's rows for the donations `on_donation` (a condition from a line or a
    recipient link) selects: lines summed per region, and the recipient links naming a region
    without a share of their own counted, merged per (pairing, year, region)."""
    return _merged(
        PLACE_KEY,
        ((tuple(key), total, n) for *key, total, n in _received(on_donation)),
        ((tuple(key), n) for *key, n in _unshared(on_donation)),
    )


FACET_COLUMNS = (
    "donation__category",
    "donation__kind",
    "donation__funding",
    "donation__donor_kinds",
)


def place_facet_sums(on_donation: Q) -> list[dict]:
    """PlaceFacetYearTotal's rows for the donations `on_donation` selects: place_sums'
    figures, per (pairing, facet, value, year, region) for every facet value of each
    donation (models.facet_values)."""

    def spread(rows):
        for pairing, year, region, category, kind, funding, donor_kinds, *figures in rows:
            for facet, value in facet_values(category, kind, funding, donor_kinds):
                yield ((pairing, facet, value, year, region), *figures)

    return _merged(
        FACET_KEY,
        spread(_received(on_donation, *FACET_COLUMNS)),
        spread(_unshared(on_donation, *FACET_COLUMNS)),
    )


def _given(on_donation: Q, *columns: str) -> QuerySet:
    """The donor links of the donations `on_donation` selects, per pairing, year, donor and
    `columns` of the donation: their amount, the part given alone, and how many."""
    return (
        Donation.donors.through.objects.filter(on_donation)
        .order_by()
        .values_list("donation__partnership_id", "donation__year", "organisation_id", *columns)
        .annotate(
            total=Sum("donation__amount"),
            sole=Sum("donation__amount", filter=Q(donation__donor_count=1)),
            n=Count("donation_id"),
        )
    )


def donor_sums(on_donation: Q) -> list[dict]:
    """DonorYearTotal's rows for the donations `on_donation` (from a donor link) selects."""
    return [
        dict(zip(DONOR_KEY, key, strict=True)) | {"amount": total, "sole": sole or ZERO, "count": n}
        for *key, total, sole, n in _given(on_donation)
    ]


def donor_facet_sums(on_donation: Q) -> list[dict]:
    """DonorFacetYearTotal's rows for the donations `on_donation` selects: donor_sums'
    figures per (pairing, facet, value, year, donor), for the donation's category, kind and
    funding."""
    rows: dict[tuple, dict] = {}
    for pairing, year, donor, *values, total, sole, n in _given(
        on_donation, *(f"donation__{facet}" for facet in DONOR_FACETS)
    ):
        for facet, value in zip(DONOR_FACETS, values, strict=True):
            key = (pairing, facet.value, value, year, donor)
            if key not in rows:
                rows[key] = dict(zip(DONOR_FACET_KEY, key, strict=True)) | {
                    "amount": ZERO,
                    "sole": ZERO,
                    "count": 0,
                }
            figures = rows[key]
            figures["amount"] += total
            figures["sole"] += sole or ZERO
            figures["count"] += n
    return list(rows.values())


def area_sums(donations: QuerySet[Donation], paths: dict[int, str]) -> list[dict]:
    """AreaYearTotal's rows for `donations`, in Python (AREAS_SQL says the same in SQL): each
    line, receiving region and named region is a place the donation lies in, credited to
    every region on the place's path (`paths`: each region's), a donation counted once a
    region."""
    key_of: dict[int, Key] = {}
    places: list[tuple[int, int, Decimal, int]] = []  # donation, region, amount, lines
    for pk, pairing, year, region in donations.values_list(
        "pk", "partnership_id", "year", "region_id"
    ).iterator():
        key_of[pk] = (pairing, year)
        if region is not None:
            places.append((pk, region, ZERO, 0))
    chosen = donations.values("pk")
    places += [
        (donation, region, amount, 1)
        for donation, region, amount in DonationLine.objects.filter(donation__in=chosen)
        .values_list("donation_id", "region_id", "amount")
        .iterator()
    ]
    places += [
        (donation, region, ZERO, 0)
        for donation, region in Donation.recipient_regions.through.objects.filter(
            donation__in=chosen
        )
        .values_list("donation_id", "region_id")
        .iterator()
    ]
    figures: dict[tuple, list] = {}
    for donation, place, amount, lines in places:
        for step in paths[place].strip("/").split("/"):
            row = figures.setdefault((*key_of[donation], int(step)), [ZERO, 0, set()])
            row[0] += amount
            row[1] += lines
            row[2].add(donation)
    return [
        dict(zip(PLACE_KEY, key, strict=True))
        | {"amount": amount, "lines": lines, "handovers": len(handovers)}
        for key, (amount, lines, handovers) in figures.items()
    ]


def year_totals(rows: Iterable[dict]) -> dict[Key, dict]:
    """PairingYearTotal's figures per (pairing, year), added up from the summary's rows."""
    totals: dict[Key, dict] = {}
    for row in rows:
        key = (row["partnership_id"], row["year"])
        if key not in totals:
            totals[key] = {"amount": ZERO, "count": 0} | {
                column: ZERO for *_, column in TOTAL_SPLITS
            }
        figures = totals[key]
        figures["amount"] += row["total"]
        figures["count"] += row["n"]
        figures[total_column("kind", row["kind"])] += row["total"]
        figures[total_column("funding", row["funding"])] += row["total"]
    return totals


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def rebuild() -> int:
    """Rebuild the whole summary from the donations in one statement; returns its row count.

    For bulk loads that bypass the models (generate_dataset's COPY) and for operators.
    """
    columns = ", ".join(connection.ops.quote_name(c) for c in KEY_FIELDS)
    with transaction.atomic(), connection.cursor() as cursor:
        # The locks every refresh takes, all of them: no save writes a key while this runs.
        list(
            Partnership.objects.select_for_update(no_key=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        cursor.execute(f"DELETE FROM {_table(DonationSummary)}")
        cursor.execute(f"DELETE FROM {_table(PairingYearTotal)}")
        cursor.execute(
            f"INSERT INTO {_table(DonationSummary)} ({columns}, amount, count) "
            f"SELECT {columns}, SUM(amount), COUNT(*) FROM {_table(Donation)} "
            f"GROUP BY {columns}"
        )
        rowcount = cursor.rowcount
        split_columns = ", ".join(column for *_, column in TOTAL_SPLITS)
        split_sums = ", ".join(
            f"SUM(CASE WHEN {dimension} = %s THEN amount ELSE 0 END)"
            for dimension, *_ in TOTAL_SPLITS
        )
        cursor.execute(
            f"INSERT INTO {_table(PairingYearTotal)} "
            f"(partnership_id, year, amount, count, {split_columns}) "
            f"SELECT partnership_id, year, SUM(amount), SUM(count), {split_sums} "
            f"FROM {_table(DonationSummary)} GROUP BY partnership_id, year",
            [value for _, value, _ in TOTAL_SPLITS],
        )
        for model, sql in (
            (DonorKindSummary, DONOR_KIND_SUMMARY_SQL),
            (PlaceYearTotal, PLACES_SQL),
            (PlaceFacetYearTotal, PLACE_FACETS_SQL),
            (AreaYearTotal, AREAS_SQL),
            (DonorYearTotal, DONORS_SQL),
            (DonorFacetYearTotal, DONOR_FACETS_SQL),
        ):
            cursor.execute(f"DELETE FROM {_table(model)}")
            cursor.execute(sql.format(**_tables(), where="1 = 1"))
        return rowcount


def _tables() -> dict[str, str]:
    """The names the statements below are formatted with: tables, and a hint."""
    return {
        "kind_summary": _table(DonorKindSummary),
        "place": _table(PlaceYearTotal),
        "facet": _table(PlaceFacetYearTotal),
        "area": _table(AreaYearTotal),
        "region": _table(Region),
        "donor": _table(DonorYearTotal),
        "donor_facet": _table(DonorFacetYearTotal),
        "donation": _table(Donation),
        "line": _table(DonationLine),
        "recipients": _table(Donation.recipient_regions.through),
        "donors": _table(Donation.donors.through),
        # PostgreSQL computes AREAS_SQL's places once: inlined, it may read them again for
        # each region on a misjudged plan (minutes on a table full of dead rows). SQLite
        # before 3.35 knows no such hint, and has no need of it.
        "materialized": "MATERIALIZED" if connection.vendor == "postgresql" else "",
    }


# place_sums and donor_sums over every donation, in one statement each (the migration that
# added the tables fills them with the same two statements).
PLACES_SQL = """
INSERT INTO {place} (partnership_id, "year", region_id, amount, "lines", "unknown")
SELECT partnership_id, "year", region_id, SUM(amount), SUM("lines"), SUM("unknown") FROM (
    SELECT d.partnership_id, d."year", l.region_id, l.amount, 1 AS "lines", 0 AS "unknown"
    FROM {line} l JOIN {donation} d ON d.id = l.donation_id
    WHERE l.region_id IS NOT NULL
    UNION ALL
    SELECT d.partnership_id, d."year", r.region_id, 0, 0, 1
    FROM {recipients} r JOIN {donation} d ON d.id = r.donation_id
    WHERE (d.region_id IS NULL OR d.region_id <> r.region_id)
    AND NOT EXISTS (
        SELECT 1 FROM {line} o WHERE o.donation_id = r.donation_id AND o.region_id = r.region_id
    )
) parts
GROUP BY partnership_id, "year", region_id
"""
# Each donor kind and its bit in Donation.donor_kinds, as rows (name, bit).
DONOR_KINDS_SQL = "VALUES " + ", ".join(
    f"('{name}', {bit})" for name, bit in DONOR_KIND_BITS.items()
)
# sums' rows by donor kind over every donation: each counted under every kind in its mask.
DONOR_KIND_SUMMARY_SQL = (
    """
WITH kinds (name, bit) AS ("""
    + DONOR_KINDS_SQL
    + """)
INSERT INTO {kind_summary}
    (partnership_id, donor_kind, "year", kind, category, funding, amount, "count")
SELECT d.partnership_id, kinds.name, d."year", d.kind, d.category, d.funding, SUM(d.amount),
    COUNT(*)
FROM {donation} d JOIN kinds ON (d.donor_kinds & kinds.bit) > 0
GROUP BY d.partnership_id, kinds.name, d."year", d.kind, d.category, d.funding
"""
)
# place_facet_sums over the donations `where` (a condition on `d`) selects: the places' parts
# summed per donation columns once, then counted under each column's value and each donor
# kind in the donation's mask.
PLACE_FACETS_SQL = (
    """
WITH parts AS (
    SELECT partnership_id, "year", region_id, category, kind, funding, donor_kinds,
        SUM(amount) AS amount, SUM("lines") AS "lines", SUM("unknown") AS "unknown"
    FROM (
        SELECT d.partnership_id, d."year", l.region_id, d.category, d.kind, d.funding,
            d.donor_kinds, l.amount, 1 AS "lines", 0 AS "unknown"
        FROM {line} l JOIN {donation} d ON d.id = l.donation_id
        WHERE l.region_id IS NOT NULL AND {where}
        UNION ALL
        SELECT d.partnership_id, d."year", r.region_id, d.category, d.kind, d.funding,
            d.donor_kinds, 0, 0, 1
        FROM {recipients} r JOIN {donation} d ON d.id = r.donation_id
        WHERE {where} AND (d.region_id IS NULL OR d.region_id <> r.region_id)
        AND NOT EXISTS (
            SELECT 1 FROM {line} o
            WHERE o.donation_id = r.donation_id AND o.region_id = r.region_id
        )
    ) lines_and_links
    GROUP BY partnership_id, "year", region_id, category, kind, funding, donor_kinds
),
kinds (name, bit) AS ("""
    + DONOR_KINDS_SQL
    + """),
facets AS (
    SELECT partnership_id, 'category' AS facet, category AS value, "year", region_id,
        amount, "lines", "unknown" FROM parts
    UNION ALL
    SELECT partnership_id, 'kind', kind, "year", region_id, amount, "lines", "unknown"
    FROM parts
    UNION ALL
    SELECT partnership_id, 'funding', funding, "year", region_id, amount, "lines", "unknown"
    FROM parts
    UNION ALL
    SELECT partnership_id, 'donor_kind', kinds.name, "year", region_id, amount, "lines",
        "unknown"
    FROM parts JOIN kinds ON (parts.donor_kinds & kinds.bit) > 0
)
INSERT INTO {facet}
    (partnership_id, facet, value, "year", region_id, amount, "lines", "unknown")
SELECT partnership_id, facet, value, "year", region_id, SUM(amount), SUM("lines"),
    SUM("unknown")
FROM facets
GROUP BY partnership_id, facet, value, "year", region_id
"""
)
# A step of a materialised path: its digits and the slash after them.
STEP = PATH_DIGITS + 1
# area_sums over the donations `where` selects: each line, receiving region and named recipient
# region is a place the donation lies in, and so lies in each region on the place's path (its
# steps: PATH_DIGITS digits after a slash, read as the region's id); summed and counted once
# a donation per region.
AREAS_SQL = (
    """
WITH places AS {materialized} (
    SELECT d.id AS donation_id, d.partnership_id, d."year", l.region_id, l.amount,
        1 AS "lines"
    FROM {line} l JOIN {donation} d ON d.id = l.donation_id
    WHERE {where}
    UNION ALL
    SELECT d.id, d.partnership_id, d."year", d.region_id, 0, 0
    FROM {donation} d
    WHERE d.region_id IS NOT NULL AND {where}
    UNION ALL
    SELECT d.id, d.partnership_id, d."year", r.region_id, 0, 0
    FROM {recipients} r JOIN {donation} d ON d.id = r.donation_id
    WHERE {where}
),
depths (depth) AS ("""
    + "VALUES "
    + ", ".join(f"({depth})" for depth in range(1, len(Region.Level) + 1))
    + f"""),
areas AS (
    SELECT places.donation_id, places.partnership_id, places."year", places.amount,
        places."lines",
        CAST(SUBSTR(p.path, (depths.depth - 1) * {STEP} + 2, {PATH_DIGITS}) AS INTEGER)
            AS region_id
    FROM places
    JOIN {{region}} p ON p.id = places.region_id
    JOIN depths ON LENGTH(p.path) >= depths.depth * {STEP} + 1
)
INSERT INTO {{area}} (partnership_id, "year", region_id, amount, "lines", handovers)
SELECT partnership_id, "year", region_id, SUM(amount), SUM("lines"),
    COUNT(DISTINCT donation_id)
FROM areas
GROUP BY partnership_id, "year", region_id
"""
)
DONORS_SQL = """
INSERT INTO {donor} (partnership_id, "year", organisation_id, amount, sole, "count")
SELECT d.partnership_id, d."year", k.organisation_id, SUM(d.amount),
    SUM(CASE WHEN d.donor_count = 1 THEN d.amount ELSE 0 END), COUNT(*)
FROM {donors} k JOIN {donation} d ON d.id = k.donation_id
GROUP BY d.partnership_id, d."year", k.organisation_id
"""

# donor_facet_sums over the donations `where` selects: the donors' figures per donation
# columns once, then counted under each column's value.
DONOR_FACETS_SQL = (
    """
WITH parts AS (
    SELECT d.partnership_id, d."year", k.organisation_id, d.category, d.kind, d.funding,
        SUM(d.amount) AS amount,
        SUM(CASE WHEN d.donor_count = 1 THEN d.amount ELSE 0 END) AS sole,
        COUNT(*) AS "count"
    FROM {donors} k JOIN {donation} d ON d.id = k.donation_id
    WHERE {where}
    GROUP BY d.partnership_id, d."year", k.organisation_id, d.category, d.kind, d.funding
),
facets AS ("""
    + "\n    UNION ALL\n".join(
        f"""
    SELECT partnership_id, '{facet.value}' AS facet, {facet.value} AS value, "year",
        organisation_id, amount, sole, "count"
    FROM parts"""
        for facet in DONOR_FACETS
    )
    + """
)
INSERT INTO {donor_facet}
    (partnership_id, facet, value, "year", organisation_id, amount, sole, "count")
SELECT partnership_id, facet, value, "year", organisation_id, SUM(amount), SUM(sole),
    SUM("count")
FROM facets
GROUP BY partnership_id, facet, value, "year", organisation_id
"""
)


def differences() -> list[str]:
    """Every key where the summary and the donations disagree, in words (empty when exact);
    first, how many donations' stored donor columns are not their donors' (the tables by
    donor kind are summed from those columns: compared with them alone, kinds stored wrong
    would agree). That count reads a snapshot of its own, before the locks below, which it
    need not hold back writers for (two subqueries a handover, at a million lines)."""
    from .models import stale_donor_columns

    stale = stale_donor_columns().count()
    problems = [f"{stale} donations' stored number or kinds of donors"] if stale else []
    with transaction.atomic():
        # Both sides read under the same locks refresh takes, so a write committing between
        # the two reads cannot show up as a difference that is not there.
        list(
            Partnership.objects.select_for_update(no_key=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        return problems + _differences()


def _differences() -> list[str]:
    """Compared some pairings at a time (PAIRINGS_PER_COMPARISON): all of a million lines'
    place and donor totals at once, as dictionaries on both sides, took a gigabyte."""
    pairings = list(Partnership.objects.order_by("pk").values_list("pk", flat=True))
    paths = dict(Region.objects.values_list("pk", "path").iterator())
    problems = []
    for start in range(0, len(pairings), PAIRINGS_PER_COMPARISON):
        chunk = pairings[start : start + PAIRINGS_PER_COMPARISON]
        problems += _differences_of(chunk, paths)
    return problems


def _differences_of(pairings: list[int], paths: dict[int, str]) -> list[str]:
    def compare(expected: dict, stored: dict, what: str) -> None:
        for key in sorted(expected.keys() | stored.keys()):
            if expected.get(key) != stored.get(key):
                problems.append(f"{key}: donations {expected.get(key)}, {what} {stored.get(key)}")

    problems: list[str] = []
    rows, by_donor_kind = sums(Donation.objects.filter(partnership_id__in=pairings))
    for model, key_fields, expected_rows, what in (
        (DonationSummary, KEY_FIELDS, rows, "summary"),
        (DonorKindSummary, ["donor_kind", *KEY_FIELDS], by_donor_kind, "summary by donor kind"),
    ):
        compare(
            {tuple(row[f] for f in key_fields): (row["total"], row["n"]) for row in expected_rows},
            {
                tuple(row[f] for f in key_fields): (row["amount"], row["count"])
                for row in model.objects.filter(partnership_id__in=pairings)
                .values(*key_fields, "amount", "count")
                .iterator()
            },
            what,
        )
    expected = {tuple(row[field] for field in KEY_FIELDS): (row["total"], row["n"]) for row in rows}
    expected_totals = year_totals(
        {**dict(zip(KEY_FIELDS, key, strict=True)), "total": total, "n": n}
        for key, (total, n) in expected.items()
    )
    fields = ["amount", "count", *(column for *_, column in TOTAL_SPLITS)]
    stored_totals = {
        (row.pop("partnership_id"), row.pop("year")): row
        for row in PairingYearTotal.objects.filter(partnership_id__in=pairings)
        .values("partnership_id", "year", *fields)
        .iterator()
    }
    compare(expected_totals, stored_totals, "yearly totals")
    on_donation = Q(donation__partnership_id__in=pairings)
    for model, key_fields, expected_rows, what in (
        (PlaceYearTotal, PLACE_KEY, place_sums(on_donation), "place totals"),
        (PlaceFacetYearTotal, FACET_KEY, place_facet_sums(on_donation), "place totals by filter"),
        (
            AreaYearTotal,
            PLACE_KEY,
            area_sums(Donation.objects.filter(partnership_id__in=pairings), paths),
            "region totals",
        ),
        (DonorYearTotal, DONOR_KEY, donor_sums(on_donation), "donor totals"),
        (
            DonorFacetYearTotal,
            DONOR_FACET_KEY,
            donor_facet_sums(on_donation),
            "donor totals by filter",
        ),
    ):
        compare(
            {tuple(row.pop(f) for f in key_fields): row for row in expected_rows},
            {
                tuple(row.pop(f) for f in key_fields): row
                for row in model.objects.filter(partnership_id__in=pairings)
                .values(*key_fields, *_figures(model))
                .iterator()
            },
            what,
        )
    return problems


def _figures(model) -> list[str]:
    """A derived table's columns other than its id and key."""
    return [
        field.attname
        for field in model._meta.concrete_fields
        if not field.primary_key and field.attname not in (*FACET_KEY, *DONOR_FACET_KEY)
    ]


def donation_deleting(sender, instance: Donation, **kwargs) -> None:
    """pre_delete: the key as stored, which a copy loaded before a visit moved may not have."""
    instance._stored_key = (
        Donation.objects.filter(pk=instance.pk).values_list("partnership_id", "year").first()
    )


def donation_deleted(sender, instance: Donation, **kwargs) -> None:
    """post_delete: Django sends it for every donation a queryset delete removes, too."""
    refresh([(instance.partnership_id, instance.year), getattr(instance, "_stored_key", None)])


def recipients_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """m2m_changed on Donation.recipient_regions, from either side: a region named or no
    longer named changes which places are named without their share."""
    if reverse and action == "pre_clear":
        # Which donations lose this region is known only before the clear.
        instance._donations_unnamed = list(instance.donations_named_in.values_list("pk", flat=True))
    elif action in ("post_add", "post_remove"):
        refresh_donations(pk_set if reverse else [instance.pk])
    elif action == "post_clear":
        refresh_donations(getattr(instance, "_donations_unnamed", []) if reverse else [instance.pk])


def line_changed(sender, instance: DonationLine, **kwargs) -> None:
    """post_save and post_delete on DonationLine: its donation's place totals."""
    refresh_donations([instance.donation_id])
