"""Finding a place, a pairing or a donor by name, for the dashboard's search box.

At national scale (50,000 villages, about 1,900 pairings, thousands of donors) clicking down
the tree is no way to find 云舍村. Each kind is one query whatever the data size: a substring
match on the names (`icontains`, which escapes `%`, `_` and `\\` typed by the user), the
closest matches first, cut at `limit`. The substring match reads every name of its table (a
sequential scan of about 55,000 regions on PostgreSQL: a few milliseconds); a trigram index
would avoid that but is not worth an extension yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Least

from .access import Scope
from .models import REGION_ANCESTORS, Donation, Organisation, Partnership, Region

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


def _first(queryset: QuerySet, limit: int) -> Found:
    # One row past the limit says whether there are more, without counting every match.
    rows = list(queryset[: limit + 1])
    return Found(items=rows[:limit], more=len(rows) > limit)


def find(text: str, *, scope: Scope, limit: int = LIMIT) -> Results:
    """Regions, pairings and donors whose names contain `text` (stripped, not empty).

    Regions are every user's to find (a region's page counts only the pairings in the user's
    scope); pairings and donors only those in `scope`, as their pages would otherwise answer
    404. Within each kind: the exact name first, then names that begin with the text, then
    the rest; regions higher in the tree before lower ones (江口县 before a 江口村), then in
    tree order; pairings in tree order; donors by name.
    """
    regions = (
        Region.objects.filter(name__icontains=text)
        .select_related(REGION_ANCESTORS)
        .annotate(closeness=_closeness("name", text))
        .order_by("closeness", "level", "path")
    )
    pairings = (
        Partnership.objects.filter(scope.q())
        .filter(
            Q(name__icontains=text)
            | Q(helping_region__name__icontains=text)
            | Q(assisted_region__name__icontains=text)
        )
        .select_related(
            f"helping_region__{REGION_ANCESTORS}", f"assisted_region__{REGION_ANCESTORS}"
        )
        .annotate(
            closeness=Least(
                _closeness("name", text),
                _closeness("helping_region__name", text),
                _closeness("assisted_region__name", text),
            )
        )
        .order_by("closeness", "path")
    )
    # Organisations that gave to a pairing in scope: each is named on a donation in scope,
    # so access.organisation_q lets its page open for the user (a narrower condition than
    # that one, which also admits recipients and every organisation placed on a side).
    gave = Donation.donors.through.objects.filter(
        scope.q("donation__partnership__"), organisation_id=OuterRef("pk")
    )
    donors = (
        Organisation.objects.filter(Exists(gave), name__icontains=text)
        .select_related(f"region__{REGION_ANCESTORS}")
        .annotate(closeness=_closeness("name", text))
        .order_by("closeness", "name", "pk")
    )
    return Results(
        regions=_first(regions, limit),
        pairings=_first(pairings, limit),
        donors=_first(donors, limit),
    )
