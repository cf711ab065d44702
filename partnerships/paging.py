"""Pages of long lists of handovers."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet


class KeysFirstPaginator(Paginator):
    """A Paginator of a queryset that chooses a page's rows by their keys alone, then reads
    those rows in full, by key: only the query of the keys skips rows.

    With `OFFSET` PostgreSQL computes every column of each row it skips: a region's list
    computes what each handover gave into the region (a subquery) and joins its receiving
    region for 100,000 rows to show 50 (the list's query for page 2,000 of a province's took
    0.8 s at a million lines, the page 1.0 s). The keys come from the list-order index alone,
    which carries the receiving region and the pairing for that reason (see
    `Donation.Meta.indexes`); skipping them still takes longer the deeper the page."""

    object_list: QuerySet

    def _get_page(self, rows: QuerySet, number: int, paginator: Paginator) -> Page:
        """Django's `page` works out the slice; its keys are read, then those rows by key."""
        keys = list(rows.values_list("pk", flat=True))
        position = {key: index for index, key in enumerate(keys)}
        found = sorted(self.object_list.filter(pk__in=keys), key=lambda row: position[row.pk])
        return super()._get_page(found, number, paginator)
