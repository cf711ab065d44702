"""Edges of the donation summary and the stored donor count found in review: deletes of a copy
loaded before its visit moved, and deleting an organisation that gave."""

import datetime
from decimal import Decimal

import pytest

from partnerships import reports, summary
from partnerships.models import (
    Donation,
    DonationSummary,
    Organisation,
    Posting,
    VillageEnterprisePair,
    Visit,
)

from .admin_helpers import form_errors
from .test_admin_records import visit_change_data

pytestmark = pytest.mark.django_db


def test_moving_a_visit_and_deleting_its_donation_on_one_page_leaves_nothing(
    admin_client, reference
):
    # Only the donation inline posts rows; the visit's other records are not needed here.
    reference.visit.activities.all().delete()
    reference.visit.inspections.all().delete()
    for meeting in reference.visit.meetings.all():
        meeting.participants.all().delete()
    VillageEnterprisePair.objects.all().delete()
    Posting.objects.all().delete()
    reference.visit.meetings.all().delete()
    assert reference.donation.date is None and reference.donation.year == 2023
    data = visit_change_data(reference, DELETE="on")
    data.update(start_date="2022-01-10", end_date="2022-01-12")
    response = admin_client.post(f"/admin/partnerships/visit/{reference.visit.pk}/change/", data)
    assert response.status_code == 302, form_errors(response)
    assert not Donation.objects.exists()
    assert list(DonationSummary.objects.values_list("year", "amount")) == []
    assert summary.differences() == []


def test_deleting_a_copy_loaded_before_its_visit_moved(reference):
    donation = Donation.objects.get(pk=reference.donation.pk)  # loaded, year 2023
    visit = Visit.objects.get(pk=reference.visit.pk)
    visit.start_date, visit.end_date = datetime.date(2022, 1, 10), datetime.date(2022, 1, 12)
    visit.save()
    donation.delete()
    assert summary.differences() == []


def test_deleting_a_donor_recounts_its_donations(reference):
    extra = Organisation.objects.create(name="某公司", kind="enterprise", region=reference.jiangkou)
    alone = Donation.objects.create(
        partnership=reference.pairing,
        date=reference.visit.start_date,
        amount=Decimal("100.00"),
        kind="funds",
        region=reference.jiangkou,
    )
    alone.donors.set([reference.town_government, extra])
    alone.refresh_from_db()
    assert alone.donor_count == 2
    extra.delete()
    alone.refresh_from_db()
    assert alone.donors.count() == 1
    assert alone.donor_count == 1


def test_after_deleting_a_co_donor_the_other_gave_alone(admin_client, reference):
    extra = Organisation.objects.create(name="某公司", kind="enterprise", region=reference.jiangkou)
    alone = Donation.objects.create(
        partnership=reference.pairing,
        date=reference.visit.start_date,
        amount=Decimal("100.00"),
        kind="funds",
        region=reference.jiangkou,
    )
    alone.donors.set([reference.town_government, extra])
    alone.rebalance()
    # The admin refuses to delete a donor (test_admin_records.TestDeletingWhatADonationNames);
    # a deletion made elsewhere, in the shell, still keeps the stored donor count right.
    r = admin_client.post(f"/admin/partnerships/organisation/{extra.pk}/delete/", {"post": "yes"})
    assert r.status_code == 200 and Organisation.objects.filter(pk=extra.pk).exists()
    extra.delete()
    rows = reports.top_donors(filters=reports.Filters())
    gov = next(r for r in rows if r.organisation == reference.town_government)
    assert gov.sole == Decimal("100.00"), (gov.sole, gov.joint)


@pytest.mark.parametrize("value", ["99999", "-1", "40000", "2023", "abc"])
def test_the_year_filter_takes_odd_values(admin_client, reference, value):
    assert admin_client.get(f"/admin/partnerships/donation/?year={value}").status_code in (200, 302)
