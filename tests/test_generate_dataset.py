"""The national-scale generator: deterministic, fast on both databases, and every invariant kept."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Count, F, Max, OuterRef, Subquery, Sum

from partnerships import summary
from partnerships.models import (
    Donation,
    DonationLine,
    DonationSummary,
    Meeting,
    Organisation,
    Partnership,
    Person,
    Region,
    Visit,
    path_step,
)

pytestmark = pytest.mark.django_db

SMALL = ["--villages", "800", "--donations", "3000", "--years", "4", "--quiet"]


def generate(seed="7", *more):
    call_command("generate_dataset", *SMALL, "--seed", seed, *more, stdout=io.StringIO())


def fingerprint():
    return (
        Donation.objects.aggregate(total=Sum("amount"), n=Count("pk")),
        list(Donation.objects.values_list("year").annotate(Sum("amount")).order_by("year")),
        DonationLine.objects.count(),
    )


def test_every_invariant_holds():
    generate()
    assert DonationLine.objects.count() >= 3000
    assert Region.objects.filter(level=5).count() == 800
    assert Partnership.objects.count() > 50
    # Lines add up to their donation, to the fen.
    line_sums = (
        DonationLine.objects.filter(donation=OuterRef("pk"))
        .order_by()
        .values("donation")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    assert (
        not Donation.objects.annotate(line_total=Subquery(line_sums))
        .exclude(line_total=F("amount"))
        .exists()
    )
    # Paths are the chain of ids; donations and lines stay inside their pairing's assisted side.
    for region in Region.objects.select_related("parent").iterator():
        expected = f"{region.parent.path if region.parent else '/'}{path_step(region.pk)}/"
        assert region.path == expected
    for pairing in Partnership.objects.select_related(
        "parent__helping_region", "parent__assisted_region", "helping_region", "assisted_region"
    ):
        assert pairing.path.endswith(f"/{path_step(pairing.pk)}/")
        if pairing.parent:
            assert pairing.helping_region.is_within(pairing.parent.helping_region)
            assert pairing.assisted_region.is_within(pairing.parent.assisted_region)
    sample = Donation.objects.select_related(
        "region", "partnership__assisted_region", "visit"
    ).order_by("?")[:200]
    for donation in sample:
        assert donation.region.is_within(donation.partnership.assisted_region)
        assert donation.year == (donation.date or donation.visit.start_date).year
        if donation.visit and donation.date:
            assert donation.visit.covers(donation.date)


def planner_statistics(table: str) -> int:
    """How many columns (PostgreSQL) or indexes (SQLite) of `table` ANALYZE has described."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT COUNT(*) FROM pg_stats WHERE tablename = %s", [table])
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return 0
            cursor.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = %s", [table])
        return cursor.fetchone()[0]


def forget_statistics() -> None:
    """As a fresh database has none (autovacuum may have analysed the test database)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "DELETE FROM pg_statistic WHERE starelid IN ("
                "'partnerships_donation'::regclass, 'partnerships_donationline'::regclass, "
                "'partnerships_donation_donors'::regclass)"
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is not None:
                cursor.execute("DELETE FROM sqlite_stat1")


def test_the_planner_has_statistics_as_soon_as_the_data_are_there():
    """A page asked for right after generating (or after restoring and rebuilding the summary)
    was planned with no statistics, before autovacuum analysed the tables: a top-donors query
    ran for over 11 minutes on 200,000 lines."""
    forget_statistics()
    assert planner_statistics("partnerships_donationline") == 0
    generate()
    assert planner_statistics("partnerships_donationline") > 0
    assert planner_statistics("partnerships_donation_donors") > 0
    forget_statistics()
    assert planner_statistics("partnerships_donation") == 0
    call_command("rebuild_summary", stdout=io.StringIO())
    assert planner_statistics("partnerships_donation") > 0


def test_the_same_seed_gives_the_same_data():
    generate("3", "--as-of", "2025-06-30")
    first = fingerprint()

    # Emptied as a bulk job is: the summary refreshed once, at the end. Refreshed after each
    # of the 5,000 deletions, this took 2 minutes on SQLite and 3 on PostgreSQL.
    with transaction.atomic(), summary.deferred():
        for model in (DonationLine, Donation):
            model.objects.all().delete()
        for model in (Meeting, Visit, Person, Organisation):
            model.objects.all().delete()
        for pairing in Partnership.objects.order_by("-path"):
            pairing.delete()
        for level in (5, 4, 3, 2, 1):
            Region.objects.filter(level=level).delete()
    assert not DonationSummary.objects.exists()
    generate("3", "--as-of", "2025-06-30")
    assert fingerprint()[0]["total"] == first[0]["total"]
    assert fingerprint()[1] == first[1]


def test_nothing_is_dated_after_the_as_of_day():
    generate("7", "--as-of", "2024-03-15")
    assert set(Donation.objects.values_list("year", flat=True)) == {2021, 2022, 2023, 2024}
    latest = [
        Donation.objects.aggregate(Max("date"))["date__max"],
        Visit.objects.aggregate(Max("end_date"))["end_date__max"],
        Meeting.objects.aggregate(Max("date"))["date__max"],
    ]
    assert max(latest) <= datetime.date(2024, 3, 15)
    assert latest[0] >= datetime.date(2024, 1, 1)


def test_as_of_may_be_passed_as_text_or_as_a_date():
    call_command("generate_dataset", *SMALL, as_of="2023-05-01", stdout=io.StringIO())
    assert Donation.objects.aggregate(Max("year"))["year__max"] == 2023


def test_it_refuses_to_generate_twice():
    generate()
    with pytest.raises(CommandError):
        generate()


def test_dashboard_pages_render_on_the_generated_data(official_client):
    generate()
    county = Partnership.objects.filter(assisted_region__level=3).first()
    village = Region.objects.filter(level=5, donation_lines__isnull=False).first()
    for url in ["/", "/reach/", f"/pairings/{county.pk}/", f"/regions/{village.pk}/"]:
        assert official_client.get(url).status_code == 200
    # Every pairing is listed on the overview or counted under one that is.
    overview = official_client.get("/")
    listed = len(overview.context["pairings"])
    assert listed <= 100
    assert listed + overview.context["pairings_not_listed"] == Partnership.objects.count()
