"""Finding a place, a pairing or a donor by name, for the dashboard's search box.

At national scale (50,000 villages, about 1,900 pairings, thousands of donors) clicking down
the tree is no way to find 云舍村. Each kind costs two queries whatever the data's size: a
substring match on the names (`icontains`, which escapes `%`, `_` and `\\` typed by the user),
the closest matches first, cut at `limit`; then the rows kept, with what the list shows. The
substring match reads every name of its table (a sequential scan of about 55,000 regions on
PostgreSQL: 8 ms on a loaded two-core machine); a trigram index would avoid that but is not
worth an extension yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Least

from .access import Scope
from .models import REGION_ANCESTORS, DonorYearTotal, Organisation, Partnership, Region

# Each kind lists at most this many matches, and says when there are more.
LIMIT = 20
# Longer than any name a place, pairing or organisation is likely to have; a longer query
# is refused with a message rather than sent to the database.
MAX_LENGTH = 100


@dataclass(frozen=True)
class Found:
    """The first `limit` matches of one kind, and whether there were more."""

    items: list
    more: bool


@dataclass(frozen=True)
class Results:
    regions: Found
    pairings: Found
    donors: Found

    @property
    def empty(self) -> bool:
        return not (self.regions.items or self.pairings.items or self.donors.items)


def _closeness(field: str, text: str) -> Case:
    """0 for a name that is the text, 1 for one that begins with it, 2 for the rest."""
    return Case(
        When(**{f"{field}__iexact": text}, then=Value(0)),
        When(**{f"{field}__istartswith": text}, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def _first(
    matches: QuerySet, *, closeness, order: tuple, shown: tuple[str, ...], limit: int
) -> Found:
    """The first `limit` of `matches` in `order`, with the related rows in `shown` joined.

    Two queries: the matches' ids, sorted and cut on their own, then those rows with what the
    list shows (a place's four ancestors). In one, PostgreSQL joined all 50,000 villages
    matching 村 to their ancestors before keeping 21 (376 ms against 20–40 ms, on a loaded
    two-core machine),
    and with the cut as a subquery it still joined every pairing to its two sides first. One
    row past the limit says whether there are more, without counting every match.
    """
    kept = list(
        matches.annotate(closeness=closeness)
        .order_by(*order)
        .values_list("pk", flat=True)[: limit + 1]
    )
    rows = matches.model.objects.select_related(*shown).in_bulk(kept)  # none asked: no query
    found = [rows[pk] for pk in kept if pk in rows]  # one deleted meanwhile is left out
    return Found(items=found[:limit], more=len(kept) > limit)


def _gave_within(scope: Scope) -> Q | Exists | RawSQL:
    """Organisations named as a donor on a donation of a pairing in `scope`.

    Each of them is also in access.organisation_q (which admits recipients and every
    organisation placed on a side too), so its page opens for the user.

    For every pairing: one index probe per organisation whose name matches, which stops at its
    first donation. Within a scope most organisations gave nothing there, and the probe reads
    all their donations to say so: a county official's search for a word in 4,700 names took
    270 ms at 60,000 lines, and grows with the lines. So on PostgreSQL the scope's donors are
    listed once (ARRAY(…) is an InitPlan, run once) and looked up by id in the primary key
    (`= ANY`): 3 ms for a county at 300,000 lines, 75–100 ms for a province (its donors are
    listed whatever the text). As `IN (SELECT unnest(…))` PostgreSQL compared each of the
    4,700 organisations with the whole list (300 ms for a province). The donors are read from
    DonorYearTotal (a row per pairing, year and donor, kept exact with the donations), not
    from the donor links of every donation.
    """
    if scope.paths == ():
        return Q(pk__in=[])  # no pairing assigned: no donor to find
    links = DonorYearTotal.objects.filter(scope.q("partnership__"))
    if scope.everything or connection.vendor != "postgresql":
        return Exists(links.filter(organisation_id=OuterRef("pk")))
    sql, params = links.order_by().values("organisation_id").distinct().query.sql_with_params()
    quote = connection.ops.quote_name
    column = f"{quote(Organisation._meta.db_table)}.{quote('id')}"
    return RawSQL(f"{column} = ANY(ARRAY({sql}))", params, output_field=BooleanField())


# Between a pairing's two sides as written: its pages' dash (—), other dashes, arrows, spaces.
PAIRING_SEPARATORS = re.compile(r"[\s—–―\-－~～→]+")


def find(text: str, *, scope: Scope, limit: int = LIMIT) -> Results:
    """Regions, pairings and donors whose names contain `text` (stripped, not empty).

    Regions are every user's to find (a region's page counts only the pairings in the user's
    scope); pairings and donors only those in `scope`, as their pages would otherwise answer
    404. Within each kind: the exact name first, then names that begin with the text, then
    the rest; regions higher in the tree before lower ones (江口县 before a 江口村), then in
    tree order; pairings in tree order; donors by name.
    """
    regions = Region.objects.filter(name__icontains=text)

    def side(field: str) -> QuerySet:
        return Region.objects.filter(pk=OuterRef(field)).order_by()

    # A side's name is read by its id for each pairing (1,914 pairs of index probes, a few
    # milliseconds), not matched by joining every pairing to both its regions or by scanning
    # the 55,000 names once a side; one EXISTS for both sides keeps PostgreSQL from hashing
    # a scan of them instead.
    sides = Region.objects.filter(
        Q(pk=OuterRef("helping_region_id")) | Q(pk=OuterRef("assisted_region_id")),
        name__icontains=text,
    )
    named = Q(name__icontains=text) | Exists(sides)
    # A pairing as its pages name it, "樟木头镇—江口县", or its two sides' words, "樟木头 江口"
    # (either side first): no one name holds the whole text.
    words = [word for word in PAIRING_SEPARATORS.split(text) if word]
    if len(words) == 2:
        for helping, assisted in (words, words[::-1]):
            named |= Exists(side("helping_region_id").filter(name__icontains=helping)) & Exists(
                side("assisted_region_id").filter(name__icontains=assisted)
            )
    pairings = Partnership.objects.filter(scope.q()).filter(named)
    side_closeness = [
        Subquery(side(field).annotate(closeness=_closeness("name", text)).values("closeness")[:1])
        for field in ("helping_region_id", "assisted_region_id")
    ]
    donors = Organisation.objects.filter(_gave_within(scope), name__icontains=text)
    return Results(
        regions=_first(
            regions,
            closeness=_closeness("name", text),
            order=("closeness", "level", "path"),
            shown=(REGION_ANCESTORS,),
            limit=limit,
        ),
        pairings=_first(
            pairings,
            closeness=Least(_closeness("name", text), *side_closeness),
            order=("closeness", "path"),
            shown=(f"helping_region__{REGION_ANCESTORS}", f"assisted_region__{REGION_ANCESTORS}"),
            limit=limit,
        ),
        donors=_first(
            donors,
            closeness=_closeness("name", text),
            order=("closeness", "name", "pk"),
            shown=(f"region__{REGION_ANCESTORS}",),
            limit=limit,
        ),
    )
