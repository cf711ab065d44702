"""Pages of long lists of handovers."""

from __future__ import annotations

import re

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

ASCII_NUMBER = re.compile(r"[0-9]+")


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

    def __init__(
        self,
        object_list: QuerySet,
        per_page: int,
        *args,
        rows_per_year: dict[int, int] | None = None,
        **kwargs,
    ) -> None:
        """`rows_per_year`: how many rows the list has in each year, when they are known
        without counting them (stored totals), for a list ordered by year, the latest first.
        The count is then their sum, and a page's keys are read from the years it spans only:
        a deep page no longer skips the rows of the years before it one by one."""
        super().__init__(object_list, per_page, *args, **kwargs)
        self.rows_per_year = rows_per_year
        if rows_per_year is not None:
            if tuple(object_list.query.order_by[:1]) != ("-year",):
                raise ValueError("rows_per_year needs a list ordered by year, the latest first")
            self.count = sum(rows_per_year.values())

    def get_page(self, number) -> Page:
        """The page an address asks for (`?page=`), as Django's get_page gives it, except that
        a number below 1 is the first page, not the last, and only ASCII digits are a number
        (int() also reads "٢" as 2)."""
        if not (isinstance(number, str) and ASCII_NUMBER.fullmatch(number)) or int(number) < 1:
            number = 1
        return super().get_page(number)

    def page(self, number) -> Page:
        """Django's page, with the rows of the years before it left out when they are known."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self.object_list
        if self.rows_per_year is not None:
            before, seen, spanned = 0, 0, []
            for year in sorted(self.rows_per_year, reverse=True):
                first, seen = seen, seen + self.rows_per_year[year]
                if seen <= bottom:
                    before = seen
                elif first < top:
                    spanned.append(year)
            rows = rows.filter(year__in=spanned)
            bottom, top = bottom - before, top - before
        return self._get_page(rows[bottom:top], number, self)

    def _get_page(self, rows: QuerySet, number: int, paginator: Paginator) -> Page:
        """Django's `page` works out the slice; its keys are read, then those rows by key."""
        keys = list(rows.values_list("pk", flat=True))
        position = {key: index for index, key in enumerate(keys)}
        found = sorted(self.object_list.filter(pk__in=keys), key=lambda row: position[row.pk])
        return super()._get_page(found, number, paginator)
