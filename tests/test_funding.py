"""Fiscal assistance funds apart from social donations: entry, import, filters and totals."""

from decimal import Decimal

import pytest

from partnerships import reports
from partnerships.models import Donation, Funding, Organisation, funding_of

from .admin_helpers import form_errors
from .test_admin_records import DONATION_ADD, donation_data
from .test_imports import DONATION_IMPORT, GOOD_ROWS, HEADER, confirm, to_csv, upload

pytestmark = pytest.mark.django_db


def test_the_reference_handover_is_not_split(reference):
    # Eight donors, the town government among communities and companies, one total.
    assert reference.donation.funding == Funding.UNSPLIT


def test_fiscal_funds_come_from_government_only(english_admin_client, reference):
    company = Organisation.objects.get(name="广东罗曼智能科技股份有限公司")
    response = english_admin_client.post(
        DONATION_ADD,
        donation_data(
            reference, funding="fiscal", donors=[reference.town_government.pk, company.pk]
        ),
    )
    assert "广东罗曼智能科技股份有限公司 is not one" in " ".join(form_errors(response))
    assert Donation.objects.count() == 1

    response = english_admin_client.post(
        DONATION_ADD,
        donation_data(
            reference, funding="social", donors=[reference.town_government.pk, company.pk]
        ),
    )
    assert response.status_code == 302
    assert Donation.objects.latest("pk").funding == Funding.SOCIAL


def test_every_total_splits_by_funding(official_client, reference):
    Donation.objects.create(
        partnership=reference.pairing,
        date=reference.visit.start_date,
        amount=Decimal("0.10"),
        kind="funds",
        funding=Funding.FISCAL,
        region=reference.jiangkou,
    ).rebalance()
    split = reports.totals_by_funding(filters=reports.Filters())
    assert split == {
        "fiscal": Decimal("0.10"),
        "social": Decimal("0.00"),
        "unsplit": Decimal("1050000.00"),
    }
    assert sum(split.values()) == reports.headline(filters=reports.Filters()).total

    response = official_client.get("/?funding=fiscal")
    assert response.context["headline"].total == Decimal("0.10")
    pairing = official_client.get(f"/pairings/{reference.pairing.pk}/?funding=unsplit")
    assert pairing.context["table"].total == Decimal("1050000.00")
    assert official_client.get("/?funding=bogus").status_code == 400


def test_the_import_reads_the_funding_column(admin_client, reference):
    header = [*HEADER, "财政或社会"]
    # H1 is the town government's; the third row is two communities' (社会帮扶).
    funding = ["财政援助资金", "财政援助资金", "社会帮扶资金及物资"]
    rows = [[*row, value] for row, value in zip(GOOD_ROWS, funding, strict=True)]
    preview = upload(admin_client, DONATION_IMPORT, to_csv([header, *rows]))
    assert preview.context["preview"].problems == []
    confirm(admin_client, DONATION_IMPORT, preview)
    saved = Donation.objects.exclude(pk=reference.donation.pk).order_by("date")
    assert list(saved.values_list("funding", flat=True)) == ["fiscal", "social"]


def test_the_import_refuses_fiscal_funds_from_a_company(admin_client, reference):
    header = [*HEADER, "财政或社会"]
    row = list(GOOD_ROWS[0])
    row[header.index("捐赠方")] = "广东罗曼智能科技股份有限公司"
    response = upload(admin_client, DONATION_IMPORT, to_csv([header, [*row, "财政援助资金"]]))
    problems = response.context["preview"].problems
    assert problems and "不是政府机关" in problems[0].message


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["government"], "fiscal"),
        (["government", "party"], "fiscal"),
        (["enterprise", "community"], "social"),
        (["government", "enterprise"], "unsplit"),
        ([], "unsplit"),
    ],
)
def test_sample_data_derives_funding_from_donor_kinds(kinds, expected):
    assert funding_of(kinds) == expected
