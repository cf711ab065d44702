"""Property-based: arbitrary strings and numbers at filters and admin forms never give a 500."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partnerships.models import Donation

from .admin_helpers import management

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text as a browser could send it in a query string or form (no NUL, no lone surrogates).
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
value = st.one_of(
    text,
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.integers(min_value=10**20, max_value=10**60).map(str),  # beyond any column
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)
FILTERS = [
    "year_from",
    "year_to",
    "category",
    "donor_kind",
    "kind",
    "funding",
    "helping_province",
    "page",
]


@FUZZ
@given(params=st.dictionaries(st.sampled_from(FILTERS), value, max_size=5), htmx=st.booleans())
def test_filters_never_fail(official_client, reference, params, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for url in [
        "/",
        "/reach/",
        f"/pairings/{reference.pairing.pk}/",
        f"/regions/{reference.jiangkou.pk}/",
        f"/donors/{reference.town_government.pk}/",
        "/export/ledger.csv",
    ]:
        # An empty filter sent without htmx is redirected away first (views.dashboard_view).
        response = official_client.get(url, params, follow=True, **headers)
        assert response.status_code in (200, 400), (url, params, response.status_code)
        assert len(response.redirect_chain) <= 1


@FUZZ
@given(pk=value, summary=text, fmt=st.sampled_from(["csv", "xlsx", "json", "pdf"]))
def test_export_arguments_never_fail(official_client, reference, pk, summary, fmt):
    slug = "".join(c for c in summary if c.isalnum() or c in "-_") or "ledger"
    response = official_client.get(
        f"/export/{slug}.{fmt}", {"pairing": pk, "region": pk}, follow=True
    )
    assert response.status_code in (200, 400, 404)
    assert len(response.redirect_chain) <= 1


@FUZZ
@given(amount=value, date=text, kind=text, category=text)
def test_the_donation_form_never_fails(admin_client, reference, amount, date, kind, category):
    before = Donation.objects.count()
    response = admin_client.post(
        "/admin/partnerships/donation/add/",
        {
            "partnership": reference.pairing.pk,
            "date": date,
            "amount": amount,
            "kind": kind,
            "category": category,
            "donors": [reference.town_government.pk],
            **management("lines"),
        },
    )
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert Donation.objects.count() == before


@FUZZ
@given(name=text, level=value, code=text, parent=value)
def test_the_region_form_never_fails(admin_client, reference, name, level, code, parent):
    response = admin_client.post(
        "/admin/partnerships/region/add/",
        {"name": name, "level": level, "code": code, "parent": parent},
    )
    assert response.status_code in (200, 302)
