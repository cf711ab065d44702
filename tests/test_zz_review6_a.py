"""Review 6 reproductions (temporary)."""

import datetime
from decimal import Decimal

import pytest

from partnerships import reports, summary
from partnerships.models import Donation, DonationSummary, Organisation, Visit

from .admin_helpers import form_errors, management
from .test_admin_records import TestVisits  # noqa

pytestmark = pytest.mark.django_db


def visit_data(reference, **donation_changes):
    visit, donation = reference.visit, reference.donation
    data = {
        "partnership": visit.partnership_id,
        "direction": visit.direction,
        "start_date": visit.start_date.isoformat(),
        "end_date": visit.end_date.isoformat(),
        "leader": visit.leader_id or "",
        "members": list(visit.members.values_list("pk", flat=True)),
        "places": list(visit.places.values_list("pk", flat=True)),
        "loaded_version": visit.version,
        **management("activities", "inspections", "meetings", "donations"),
        "donations-INITIAL_FORMS": "1",
        "donations-TOTAL_FORMS": "1",
        "donations-0-id": donation.pk,
        "donations-0-visit": visit.pk,
        "donations-0-partnership": donation.partnership_id,
        "donations-0-amount": "1050000.00",
        "donations-0-kind": donation.kind,
        "donations-0-category": donation.category,
        "donations-0-funding": donation.funding,
        "donations-0-donors": list(donation.donors.values_list("pk", flat=True)),
        "donations-0-recipient_regions": list(
            donation.recipient_regions.values_list("pk", flat=True)
        ),
        "donations-0-recipient_organisations": list(
            donation.recipient_organisations.values_list("pk", flat=True)
        ),
        "donations-0-region": donation.region_id,
        "donations-0-loaded_version": donation.version,
    }
    data.update({f"donations-0-{k}": v for k, v in donation_changes.items()})
    return data


def test_visit_page_move_year_and_delete_inline_donation(admin_client, reference):
    # other records on the visit page (activities/inspections/meetings) would need their own
    # formset rows; drop them so only the donation inline matters
    reference.visit.activities.all().delete()
    reference.visit.inspections.all().delete()
    for m in reference.visit.meetings.all():
        m.participants.all().delete()
    from partnerships.models import VillageEnterprisePair, Posting

    VillageEnterprisePair.objects.all().delete()
    Posting.objects.all().delete()
    reference.visit.meetings.all().delete()
    assert reference.donation.date is None and reference.donation.year == 2023
    data = visit_data(reference, DELETE="on")
    data.update(start_date="2022-01-10", end_date="2022-01-12")
    response = admin_client.post(f"/admin/partnerships/visit/{reference.visit.pk}/change/", data)
    assert response.status_code == 302, form_errors(response)
    assert not Donation.objects.exists()
    # the donation is gone but the summary still holds it, under 2022
    assert list(DonationSummary.objects.values_list("year", "amount")) == []
    assert summary.differences() == []


def test_stale_instance_delete_after_visit_move(reference):
    donation = Donation.objects.get(pk=reference.donation.pk)  # loaded, year 2023
    visit = Visit.objects.get(pk=reference.visit.pk)
    visit.start_date, visit.end_date = datetime.date(2022, 1, 10), datetime.date(2022, 1, 12)
    visit.save()
    donation.delete()
    assert summary.differences() == []


def test_deleting_a_donor_organisation_leaves_donor_count_stale(reference):
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
    assert alone.donor_count == 1, "donor_count stale after Organisation.delete()"


def test_deleting_a_donor_org_through_admin(admin_client, reference):
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
    r = admin_client.post(f"/admin/partnerships/organisation/{extra.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    rows = reports.top_donors(filters=reports.Filters())
    gov = next(r for r in rows if r.organisation == reference.town_government)
    # the town government now gave the 100 yuan alone
    assert gov.sole == Decimal("100.00"), (gov.sole, gov.joint)
