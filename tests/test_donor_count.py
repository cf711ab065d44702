"""Donation.donor_count, the stored number of donors behind "given alone" and "jointly"."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count

from partnerships.models import Donation, Organisation

from .test_admin_records import DONATION_ADD, donation_data
from .test_generate_dataset import SMALL

pytestmark = pytest.mark.django_db


def assert_counts_exact():
    linked = dict(Donation.donors.through.objects.values_list("donation_id").annotate(n=Count("*")))
    for pk, stored in Donation.objects.values_list("pk", "donor_count"):
        assert stored == linked.get(pk, 0), pk


def test_the_reference_handover_has_eight_donors(reference):
    reference.donation.refresh_from_db()
    assert reference.donation.donor_count == 8
    assert_counts_exact()


def test_admin_entry_and_every_kind_of_donor_change_keep_it(admin_client, reference):
    company = Organisation.objects.get(name="广东罗曼智能科技股份有限公司")
    response = admin_client.post(
        DONATION_ADD,
        donation_data(
            reference, funding="social", donors=[reference.town_government.pk, company.pk]
        ),
    )
    assert response.status_code == 302
    donation = Donation.objects.latest("pk")
    donation.refresh_from_db()
    assert donation.donor_count == 2
    donation.donors.remove(company)
    company.donations_given.add(donation, reference.donation)  # from the other side
    reference.town_government.donations_given.clear()
    assert_counts_exact()
    donation.donors.clear()
    assert_counts_exact()


def test_sample_and_generated_data_are_counted(db):
    call_command("load_sample_data", "--seed", "3", stdout=io.StringIO())
    call_command("generate_dataset", *SMALL, "--seed", "1", stdout=io.StringIO())
    assert Donation.objects.filter(donor_count__gt=1).exists()
    assert_counts_exact()


def test_top_donors_split_alone_and_jointly(official_client, reference):
    alone = Donation.objects.create(
        partnership=reference.pairing,
        date=reference.visit.start_date,
        amount=Decimal("100.00"),
        kind="funds",
        region=reference.jiangkou,
    )
    alone.donors.set([reference.town_government])
    alone.rebalance()
    response = official_client.get(f"/pairings/{reference.pairing.pk}/")
    government = next(
        row for row in response.context["donors"] if row.organisation == reference.town_government
    )
    assert government.sole == Decimal("100.00")
    assert government.joint == Decimal("1050000.00")
