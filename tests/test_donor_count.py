"""Donation.donor_count, the stored number of donors behind "given alone" and "jointly", and
Donation.donor_kinds, the stored kinds behind the donor-kind filter."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count

from partnerships import reports
from partnerships.models import DONOR_KIND_BITS, Donation, Organisation

from .conftest import handover
from .test_admin_records import DONATION_ADD, donation_data
from .test_generate_dataset import SMALL

pytestmark = pytest.mark.django_db


def assert_counts_exact():
    linked = dict(Donation.donors.through.objects.values_list("donation_id").annotate(n=Count("*")))
    kinds: dict[int, int] = {}
    for pk, kind in Donation.donors.through.objects.values_list(
        "donation_id", "organisation__kind"
    ):
        kinds[pk] = kinds.get(pk, 0) | DONOR_KIND_BITS[kind]
    for pk, stored, stored_kinds in Donation.objects.values_list(
        "pk", "donor_count", "donor_kinds"
    ):
        assert stored == linked.get(pk, 0), pk
        assert stored_kinds == kinds.get(pk, 0), pk


def test_every_donor_kind_has_its_own_bit():
    assert set(DONOR_KIND_BITS) == set(Organisation.Kind.values)
    bits = list(DONOR_KIND_BITS.values())
    assert all(bit & (bit - 1) == 0 for bit in bits) and len(set(bits)) == len(bits)


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


def test_a_donors_new_kind_moves_its_handovers_between_donor_kind_filters(admin_client, reference):
    """The filter reads the donation's stored kinds: an organisation entered as "other" and
    corrected to an enterprise must count for enterprises from then on, in the admin."""
    company = Organisation.objects.get(name="广东罗曼智能科技股份有限公司")
    handover(reference.pairing, reference.jiangkou, "100.00", reference.visit.start_date, [company])

    def given_by(kind: str) -> Decimal:
        totals = reports.yearly_totals(filters=reports.Filters(donor_kind=kind))
        return sum(totals.values(), Decimal("0.00"))

    enterprises, others = given_by("enterprise"), given_by("other")
    assert company.kind == "enterprise"
    data = {
        "name": company.name,
        "kind": "other",
        "region": company.region_id or "",
        "notes": company.notes,
        "loaded_version": company.version,
    }
    response = admin_client.post(f"/admin/partnerships/organisation/{company.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_counts_exact()
    # The reference handover, which it gave to with other enterprises, counts for both.
    assert company in reference.donation.donors.all()
    assert given_by("enterprise") == enterprises - Decimal("100.00")
    assert given_by("other") == others + Decimal("100.00") + reference.donation.amount
    company.refresh_from_db()
    company.name = company.name + "（更名）"
    company.save()  # a change that leaves the kind alone recounts nothing
    assert_counts_exact()


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_kinds_of_existing_handovers():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = ("partnerships", "0030_place_totals_key_covers_the_figures")
    call_command("migrate", *before, verbosity=0)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        east, west = (
            old.get_model("partnerships", "Region").objects.create(
                name=name, level=1, path=f"/{name}/"
            )
            for name in ("东省", "西省")
        )
        pairing = old.get_model("partnerships", "Partnership").objects.create(
            helping_region=east, assisted_region=west, path="/y/"
        )
        organisation = old.get_model("partnerships", "Organisation").objects
        company, charity = (
            organisation.create(name=name, kind=kind)
            for name, kind in (("某公司", "enterprise"), ("某基金会", "charity"))
        )
        donations = old.get_model("partnerships", "Donation").objects
        joint, alone, nobody = (
            donations.create(
                partnership=pairing,
                date=datetime.date(2024, 5, 1),
                year=2024,
                amount=100,
                kind="funds",
                region=west,
                donor_count=n,
            )
            for n in (3, 1, 0)
        )
        joint.donors.set([company, charity])
        alone.donors.set([company])
        call_command("migrate", "partnerships", "0031", verbosity=0)
        kinds = dict(Donation.objects.values_list("pk", "donor_kinds"))
        assert kinds[joint.pk] == DONOR_KIND_BITS["enterprise"] | DONOR_KIND_BITS["charity"]
        assert kinds[alone.pk] == DONOR_KIND_BITS["enterprise"]
        assert kinds[nobody.pk] == 0
    finally:
        call_command("migrate", verbosity=0)


def test_a_copy_loaded_before_a_donor_change_does_not_write_old_counts_back(reference):
    """Donation.save writes every column: a copy loaded before its donors changed would put
    back the number and kinds of donors it was loaded with."""
    copy = Donation.objects.get(pk=reference.donation.pk)
    reference.donation.donors.remove(reference.town_government)
    copy.notes = "改了备注"
    copy.save()
    assert_counts_exact()
    copy.refresh_from_db()
    assert copy.notes == "改了备注" and copy.donor_count == 7
