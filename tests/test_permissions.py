"""The permission matrix: every role against dashboard pages, fragments, exports and the admin.

Pairing A is the reference 樟木头镇—江口县 (with its child 樟木头镇—闵孝镇); pairing B is the
fictional 示例东西 tree. Names starting with 示例 must never reach a user scoped to A.
"""

import io
import re

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from partnerships import access
from partnerships.models import (
    Assignment,
    Donation,
    LockedYear,
    Meeting,
    Organisation,
    Partnership,
    Person,
    Region,
    Visit,
)

from .admin_helpers import form_errors, management, page_text

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "official_all", "official_a", "staff_a", "staff_b", "admin"]


@pytest.fixture
def world(reference, django_user_model):
    call_command("load_sample_data", "--seed", "2", stdout=io.StringIO())
    pairing_b = Partnership.objects.get(name="示例东西")
    users = {}

    def user(name, group=None, staff=False, pairing=None, superuser=False):
        account = django_user_model.objects.create_user(
            username=name, password="pw-" + name, is_staff=staff or superuser
        )
        account.is_superuser = superuser
        account.save()
        if group:
            account.groups.add(Group.objects.get(name=group))
        if pairing:
            Assignment.objects.create(user=account, partnership=pairing)
        users[name] = account

    user("official_all", access.OFFICIAL_ALL)
    user("official_a", access.OFFICIAL_ASSIGNED, pairing=reference.pairing)
    user("staff_a", access.DATA_ENTRY, staff=True, pairing=reference.pairing)
    user("staff_b", access.DATA_ENTRY, staff=True, pairing=pairing_b)
    user("admin", superuser=True)
    visit_b = Visit.objects.filter(partnership__path__startswith=pairing_b.path).first()
    return {
        "users": users,
        "a": reference.pairing,
        "b": pairing_b,
        "visit_a": reference.visit,
        "visit_b": visit_b,
        "donation_a": reference.donation,
        "donation_b": Donation.objects.filter(partnership__path__startswith=pairing_b.path).first(),
        "meeting_b": Meeting.objects.filter(partnership__path__startswith=pairing_b.path).first(),
        "org_b": Organisation.objects.get(name="示例慈善会"),
        "county_b": Region.objects.get(name="示例西县"),
        "reference": reference,
    }


def client_for(client, world, role):
    if role != "anonymous":
        client.force_login(world["users"][role])
    return client


OK, GONE, LOGIN = 200, 404, 302

# role → expected status for pages of A, of B, and pages showing both (filtered by scope).
DASHBOARD = {
    "anonymous": (LOGIN, LOGIN, LOGIN),
    "official_all": (OK, OK, OK),
    "official_a": (OK, GONE, OK),
    "staff_a": (OK, GONE, OK),
    "staff_b": (GONE, OK, OK),
    "admin": (OK, OK, OK),
}


def dashboard_urls(world):
    a, b = world["a"], world["b"]
    return {
        "a": [
            f"/pairings/{a.pk}/",
            f"/visits/{world['visit_a'].pk}/",
            f"/export/villages.csv?pairing={a.pk}",
            f"/export/ledger.json?visit={world['visit_a'].pk}",
            f"/donors/{world['reference'].town_government.pk}/",
        ],
        "b": [
            f"/pairings/{b.pk}/",
            f"/pairings/{b.pk}/?year_from=2022",
            f"/visits/{world['visit_b'].pk}/",
            f"/export/villages.csv?pairing={b.pk}",
            f"/export/visits.xlsx?pairing={b.pk}",
            f"/donors/{world['org_b'].pk}/",
            f"/export/ledger.csv?donor={world['org_b'].pk}",
        ],
        "both": [
            "/",
            f"/regions/{world['county_b'].pk}/",
            "/export/ledger.csv",
            "/export/pairings.json",
            "/export/donors.csv",
            # B's pairing (示例东西) and donor (示例慈善会) by name: found only within scope
            "/search/?q=东西",
            "/search/?q=慈善",
        ],
    }


def text_of(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    text = raw.decode("utf-8", errors="replace")
    # Region names are shared reference data (a region page shows its own path); what must
    # not leak is another pairing's records: its organisations, visits, pairings, figures.
    for name in Region.objects.filter(name__startswith="示例").values_list("name", flat=True):
        text = text.replace(name, "")
    return text


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_dashboard_matrix(world, htmx):
    for role in ROLES:
        check_dashboard_role(world, role, htmx)


def check_dashboard_role(world, role, htmx):
    client = client_for(Client(), world, role)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    expected_a, expected_b, expected_both = DASHBOARD[role]
    urls = dashboard_urls(world)
    for group, expected in (("a", expected_a), ("b", expected_b), ("both", expected_both)):
        for url in urls[group]:
            response = client.get(url, **headers)
            status = response.status_code
            if expected == LOGIN and htmx:
                assert status == 200 and "HX-Redirect" in response, url
                continue
            assert status == expected, (role, url, status)
            if status != OK:
                continue
            body = text_of(response)
            if role in ("official_a", "staff_a"):
                assert "示例" not in body, (role, url)
            if role == "staff_b":
                assert "樟木头" not in body and "105.00" not in body, (role, url)


ADMIN_A_OR_B = {
    # role → (changelist, change page of A, change page of B)
    "anonymous": (LOGIN, LOGIN, LOGIN),
    "official_all": (LOGIN, LOGIN, LOGIN),
    "official_a": (LOGIN, LOGIN, LOGIN),
    "staff_a": (OK, OK, GONE),
    "staff_b": (OK, GONE, OK),
    "admin": (OK, OK, OK),
}


@pytest.mark.parametrize("model", ["visit", "meeting", "donation"])
def test_admin_matrix(world, model):
    for role in ROLES:
        check_admin_role(world, role, model)


def check_admin_role(world, role, model):
    client = client_for(Client(), world, role)
    objects = {
        "visit": (world["visit_a"], world["visit_b"]),
        "meeting": (Meeting.objects.filter(visit=world["visit_a"]).first(), world["meeting_b"]),
        "donation": (world["donation_a"], world["donation_b"]),
    }[model]
    base = f"/admin/partnerships/{model}/"
    expected = ADMIN_A_OR_B[role]
    urls = [base, f"{base}{objects[0].pk}/change/", f"{base}{objects[1].pk}/change/"]
    for url, status in zip(urls, expected, strict=True):
        response = client.get(url)
        assert response.status_code == status, (role, url, response.status_code)
    if role == "staff_a":
        assert "示例" not in text_of(client.get(base))
        assert client.get(f"{base}{objects[1].pk}/history/").status_code == GONE
        assert client.get(f"{base}{objects[1].pk}/delete/").status_code in (GONE, 403)


def test_staff_see_only_their_pairings_in_choices_and_autocomplete(client, world):
    client = client_for(client, world, "staff_a")
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "partnerships", "model_name": "donation", "field_name": "partnership"},
    )
    names = [item["text"] for item in response.json()["results"]]
    assert names == ["樟木头镇—江口县", "樟木头镇—闵孝镇"]
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "partnerships", "model_name": "donation", "field_name": "donors"},
    )
    names = [item["text"] for item in response.json()["results"]]
    assert "樟木头镇人民政府" in names and not any(n.startswith("示例") for n in names)


def test_staff_of_a_town_pairing_link_records_to_the_county_pairings_visit(
    client, world, django_user_model
):
    """The reference's 闵孝镇 meeting belongs to the town pairing but was held during the
    county pairing's visit, with its people and donors: staff assigned to the town pairing
    found neither the visit nor 永林 to choose, and had to invent a day."""
    reference = world["reference"]
    clerk = django_user_model.objects.create_user(username="town_clerk", is_staff=True)
    clerk.groups.add(Group.objects.get(name=access.DATA_ENTRY))
    Assignment.objects.create(user=clerk, partnership=reference.town_pairing)
    client.force_login(clerk)

    def offered(model_name, field_name, term=""):
        response = client.get(
            "/admin/autocomplete/",
            {
                "app_label": "partnerships",
                "model_name": model_name,
                "field_name": field_name,
                "term": term,
            },
        )
        assert response.status_code == 200
        return [item["id"] for item in response.json()["results"]]

    visit = str(reference.visit.pk)
    assert offered("meeting", "visit", "樟木头") == [visit]
    assert offered("meeting", "visit", "2023年1月11日") == [visit]  # a day of its span
    assert offered("donation", "visit") == [visit]
    assert offered("villageenterprisepair", "known_during") == [visit]
    yonglin = Organisation.objects.get(name="永林电子股份有限公司")
    assert str(yonglin.pk) in offered("donation", "donors", "永林")
    assert not any(
        Organisation.objects.get(pk=pk).name.startswith("示例")
        for pk in offered("donation", "donors")
    )
    speaker = reference.visit.leader
    assert str(speaker.pk) in offered("meetingparticipant", "person", speaker.name)
    # Not to put one of their people into an organisation out of their sight.
    assert str(yonglin.pk) not in offered("person", "organisation", "永林")
    response = client.post(
        "/admin/partnerships/person/add/", {"name": "某某", "organisation": yonglin.pk}
    )
    assert response.status_code == 200 and not Person.objects.filter(name="某某").exists()
    # To choose, not to change: the visit stays out of their list and pages.
    assert client.get("/admin/partnerships/visit/").context["cl"].result_count == 0
    assert client.get(f"/admin/partnerships/visit/{visit}/change/").status_code in (302, 404)
    # A meeting of theirs held during it is saved with it, without inventing a day.
    response = client.post(
        "/admin/partnerships/meeting/add/",
        {
            "partnership": reference.town_pairing.pk,
            "visit": visit,
            "title": "村企结对帮扶座谈会",
            "participants-TOTAL_FORMS": "1",
            "participants-INITIAL_FORMS": "0",
            "participants-0-person": speaker.pk,
            "participants-0-role": "speaker",
        },
    )
    assert response.status_code == 302, form_errors(response)
    meeting = Meeting.objects.get(title="村企结对帮扶座谈会")
    assert meeting.visit == reference.visit and meeting.date is None
    assert meeting.year == reference.visit.start_date.year


def test_staff_get_no_link_to_a_record_above_their_pairing(client, world, django_user_model):
    """Links to the county pairing and its visit, which answer a town clerk with a 404: the
    pairing page they may only read linked its parent, a locked meeting its visit, and the
    visit picker's pencil and eye (static/js/admin-outside-scope.js) opened it. Records of
    their own, and what they may read, stay linked; the county's staff keep every link."""
    reference = world["reference"]
    clerk = django_user_model.objects.create_user(username="town_clerk", is_staff=True)
    clerk.groups.add(Group.objects.get(name=access.DATA_ENTRY))
    Assignment.objects.create(user=clerk, partnership=reference.town_pairing)
    meeting = Meeting.objects.get(partnership=reference.town_pairing, visit=reference.visit)
    pairing_page = f"/admin/partnerships/partnership/{reference.town_pairing.pk}/change/"
    meeting_page = f"/admin/partnerships/meeting/{meeting.pk}/change/"
    parent_link = f'href="/admin/partnerships/partnership/{reference.pairing.pk}/change/"'
    region_link = f'href="/admin/partnerships/region/{reference.minxiao.pk}/change/"'
    visit_link = f'href="/admin/partnerships/visit/{reference.visit.pk}/change/"'

    def picked_visit(html):
        select = re.search(r'<select name="visit"[^>]*>.*?</select>', html, re.S).group(0)
        return select, re.search(r"<option [^>]*selected[^>]*>", select).group(0)

    def offered(model_name, field_name):
        query = {"app_label": "partnerships", "model_name": model_name, "field_name": field_name}
        return {
            item["id"]: item.get("outside_scope", False)
            for item in client.get("/admin/autocomplete/", query).json()["results"]
        }

    client.force_login(clerk)
    html = client.get(pairing_page).content.decode()
    assert parent_link not in html and str(reference.pairing) in html
    assert region_link in html
    select, option = picked_visit(client.get(meeting_page).content.decode())
    assert "data-outside-scope" in option
    assert 'data-outside-scope-title="此项属于上级结对：可以选用，不能打开。"' in select
    own = Visit.objects.create(
        partnership=reference.town_pairing,
        direction="east_to_west",
        start_date=reference.visit.start_date,
        end_date=reference.visit.start_date,
    )
    assert offered("meeting", "visit") == {str(reference.visit.pk): True, str(own.pk): False}
    assert set(offered("donation", "donors").values()) == {True, False}
    LockedYear.objects.create(year=meeting.year)
    html = client.get(meeting_page).content.decode()
    assert '<select name="visit"' not in html and "樟木头镇—江口县 2023年1月10日" in html
    assert visit_link not in html

    client.force_login(world["users"]["staff_a"])  # the county pairing's clerk
    assert parent_link in client.get(pairing_page).content.decode()
    assert visit_link in client.get(meeting_page).content.decode()
    LockedYear.objects.all().delete()
    select, option = picked_visit(client.get(meeting_page).content.decode())
    assert "data-outside-scope" not in option
    assert set(offered("meeting", "visit").values()) == {False}


def test_a_clerks_locked_page_reads_the_locked_years_once_and_no_more_a_row(client, world):
    """A meeting's page read the locked years for each row and link, 26 queries for four
    participants, and a read-only link's check ran queries for each participant."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from partnerships.models import MeetingParticipant

    reference = world["reference"]
    client.force_login(world["users"]["staff_a"])
    meeting = Meeting.objects.get(partnership=reference.pairing)
    LockedYear.objects.create(year=meeting.year)
    url = f"/admin/partnerships/meeting/{meeting.pk}/change/"

    def add(count):
        for _ in range(count):
            person = Person.objects.create(
                name=f"参会人{Person.objects.count()}", organisation=reference.town_government
            )
            MeetingParticipant.objects.create(meeting=meeting, person=person, role="attendee")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return [query["sql"] for query in captured.captured_queries]

    add(1)
    one = queries()
    assert sum("partnerships_lockedyear" in sql for sql in one) == 1
    add(5)
    assert len(queries()) <= len(one)


@pytest.mark.parametrize("clerk", ["staff_a", "town"])
def test_every_picker_answers_a_scoped_clerk(client, world, django_user_model, clerk):
    """Every autocomplete of every form and inline, searched by a clerk of the county pairing
    and of the town pairing within it: marking choices from above their scope broke every
    region picker for them (a 500: a region's scope is no condition)."""
    from django.contrib import admin
    from django.test import RequestFactory

    reference = world["reference"]
    if clerk == "town":
        user = django_user_model.objects.create_user(username="town_clerk", is_staff=True)
        user.groups.add(Group.objects.get(name=access.DATA_ENTRY))
        Assignment.objects.create(user=user, partnership=reference.town_pairing)
    else:
        user = world["users"][clerk]
    client.force_login(user)
    request = RequestFactory().get("/admin/")
    request.user = user
    answered = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "partnerships":
            continue
        owners = [(model, model_admin)] + [
            (inline.model, inline) for inline in model_admin.get_inline_instances(request)
        ]
        for owner, owner_admin in owners:
            for field in owner_admin.get_autocomplete_fields(request):
                for term in ("", "江口", "2023"):
                    query = {
                        "app_label": "partnerships",
                        "model_name": owner._meta.model_name,
                        "field_name": field,
                        "term": term,
                    }
                    response = client.get("/admin/autocomplete/", query)
                    # 403: the accounts picker of the assignments, an administrator's
                    assert response.status_code in (200, 403), (query, response.status_code)
                    if response.status_code == 200:
                        answered.add(f"{owner._meta.model_name}.{field}")
    assert {"donationline.region", "posting.host_region", "visit.places", "meeting.visit"} <= (
        answered
    )
    assert len(answered) >= 40


def test_a_scoped_official_is_told_the_figures_are_their_pairings_only(client, world):
    """A province outside their pairings read 合计 0.00, as if it had received nothing."""
    note = "以下数字只统计分配给您的结对关系及其下级结对"
    guizhou = Region.objects.get(name="贵州省")
    official = client_for(client, world, "official_a")
    for path in ("/", f"/regions/{guizhou.pk}/", f"/pairings/{world['a'].pk}/"):
        assert note in text_of(official.get(path)), path
    # On every request, the page's content reused or not.
    assert note in text_of(official.get(f"/regions/{guizhou.pk}/"))
    for role in ("official_all", "admin"):
        other = Client()
        other.force_login(world["users"][role])
        assert note not in text_of(other.get(f"/regions/{guizhou.pk}/")), role


def test_staff_find_only_their_pairings_visits_by_date(client, world):
    day = world["visit_b"].start_date.isoformat()
    query = {"app_label": "partnerships", "model_name": "meeting", "field_name": "visit"}

    def found(role, term=day):
        response = client_for(client, world, role).get(
            "/admin/autocomplete/", {**query, "term": term}
        )
        return [int(item["id"]) for item in response.json()["results"]]

    assert world["visit_b"].pk in found("admin")
    assert world["visit_b"].pk not in found("staff_a")
    # Typed full width, as a Chinese input method may: found as typed in ASCII.
    visit = world["visit_a"]
    wide = str.maketrans("0123456789-", "０１２３４５６７８９－")
    for typed in (
        visit.start_date.isoformat().translate(wide),
        f"{visit.start_date.year}．{visit.start_date.month}．{visit.start_date.day}".translate(
            wide
        ),
    ):
        assert visit.pk in found("staff_a", typed), typed
        listed = client.get("/admin/partnerships/visit/", {"q": typed}).context["cl"].result_list
        assert [v.pk for v in listed] == [visit.pk], typed


def test_staff_cannot_move_a_record_into_another_pairing(client, world):
    client = client_for(client, world, "staff_a")
    visit = world["visit_a"]
    response = client.post(
        f"/admin/partnerships/visit/{visit.pk}/change/",
        {
            "partnership": world["b"].pk,
            "direction": visit.direction,
            "start_date": visit.start_date.isoformat(),
            "end_date": visit.end_date.isoformat(),
            **{
                f"{prefix}-{key}": value
                for prefix in ("activities", "meetings", "donations")
                for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
            },
        },
    )
    assert response.status_code == 200
    visit.refresh_from_db()
    assert visit.partnership == world["a"]


def test_staff_cannot_add_regions_pairings_or_lock_years(client, world):
    client = client_for(client, world, "staff_a")
    assert client.get("/admin/partnerships/region/add/").status_code == 403
    assert client.get("/admin/partnerships/partnership/add/").status_code == 403
    assert client.get("/admin/partnerships/lockedyear/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
    # Regions and pairings are readable reference data for them.
    assert client.get("/admin/partnerships/region/").status_code == 200


def test_officials_have_no_admin_writes(client, world):
    client = client_for(client, world, "official_all")
    response = client.post("/admin/partnerships/donation/add/", {})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_assigned_official_sees_the_overview_of_their_pairings_only(client, world):
    client = client_for(client, world, "official_a")
    response = client.get("/")
    assert [str(row.partnership) for row in response.context["pairings"]] == [
        "樟木头镇—江口县",
        "樟木头镇—闵孝镇",
    ]
    assert response.context["headline"].total == world["donation_a"].amount
    # The parent pairing is named but not linked: it is outside their scope.
    page = client.get(f"/pairings/{world['a'].pk}/").content.decode()
    assert f'href="/pairings/{world["a"].parent_id}/' not in page


def test_staff_remove_a_wrong_line_but_not_a_donation(client, world, reference):
    """A line entered by mistake is removed on the donation's page; the donation, with its
    money, is left to an administrator to delete."""
    from decimal import Decimal

    from partnerships.models import DonationLine

    from .test_security import donation_form_data

    donation = reference.donation
    line = DonationLine.objects.create(
        donation=donation, amount=Decimal("1000.00"), region=reference.qixin
    )
    donation.rebalance()
    donation.refresh_from_db()
    client = client_for(client, world, "staff_a")
    url = f"/admin/partnerships/donation/{donation.pk}/change/"
    data = donation_form_data(donation)
    data.update(
        {
            "lines-INITIAL_FORMS": "1",
            "lines-TOTAL_FORMS": "1",
            "lines-0-id": line.pk,
            "lines-0-donation": donation.pk,
            "lines-0-amount": "1000.00",
            "lines-0-region": reference.qixin.pk,
            "lines-0-DELETE": "on",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not DonationLine.objects.filter(pk=line.pk).exists()
    rest = donation.lines.get(is_itemised=False)
    assert rest.amount == donation.amount  # the rest took the line's amount back
    assert client.get(f"/admin/partnerships/donation/{donation.pk}/delete/").status_code == 403


def test_a_visit_page_leaves_inspections_of_other_pairings_alone(client, world, reference):
    """A visit may inspect a project of a pairing staff do not see: they neither see it on the
    visit's page nor can remove it from there."""
    from partnerships.models import AidProject, Inspection

    project = AidProject.objects.filter(partnership__path__startswith=world["b"].path).first()
    inspection = Inspection.objects.create(visit=world["visit_a"], project=project, note="外")
    client = client_for(client, world, "staff_a")
    page = client.get(f"/admin/partnerships/visit/{world['visit_a'].pk}/change/")
    formset = next(
        f.formset
        for f in page.context["inline_admin_formsets"]
        if f.formset.prefix == "inspections"
    )
    assert inspection not in formset.queryset
    assert project.name not in page.content.decode()


@pytest.fixture
def sibling_towns(reference, django_user_model):
    """Under the county pairing 樟木头镇—江口县 two town pairings, 樟木头镇—闵孝镇 (ours) and
    樟木头镇—怒溪镇 (the sibling), each with its own organisations, people, visit, meeting and
    handover; and a clerk assigned to 闵孝镇's pairing only. The sibling's names start with
    怒溪."""
    from datetime import date

    from .conftest import handover

    nuxi = Region.objects.create(name="怒溪镇", level=Region.Level.TOWN, parent=reference.jiangkou)
    sibling = Partnership.objects.create(
        helping_region=reference.zhangmutou, assisted_region=nuxi, parent=reference.pairing
    )

    def records(pairing, town, prefix, day):
        government = Organisation.objects.create(
            name=f"{prefix}镇人民政府", kind="government", region=town
        )
        # placed nowhere and named on no handover: known only through its person
        cooperative = Organisation.objects.create(name=f"{prefix}合作社", kind="enterprise")
        company = Organisation.objects.create(name=f"{prefix}帮扶企业", kind="enterprise")
        clerk = Person.objects.create(name=f"{prefix}镇干部", organisation=government)
        leader = Person.objects.create(name=f"{prefix}带队", organisation=cooperative)
        member = Person.objects.create(name=f"{prefix}团员")
        speaker = Person.objects.create(name=f"{prefix}发言")
        visit = Visit.objects.create(
            partnership=pairing,
            direction="east_to_west",
            start_date=day,
            end_date=day,
            leader=leader,
        )
        visit.members.set([member])
        meeting = Meeting.objects.create(partnership=pairing, date=day, title=f"{prefix}座谈会")
        meeting.participants.create(person=speaker, role="speaker")
        donation = handover(pairing, town, "10000", day, donors=[company])
        donation.recipient_organisations.set([government])
        return {"visit": visit, "meeting": meeting, "people": [clerk, leader, member, speaker]}

    mine = records(reference.town_pairing, reference.minxiao, "闵孝", date(2023, 3, 1))
    theirs = records(sibling, nuxi, "怒溪", date(2023, 3, 2))
    # The county pairing's own records name a guest on its visit and 怒溪镇's government as
    # a recipient of one of its handovers.
    reference.visit.members.add(Person.objects.create(name="县里来宾"))
    county_handover = handover(
        reference.pairing,
        reference.jiangkou,
        "20000",
        date(2023, 1, 11),
        [reference.town_government],
    )
    county_handover.recipient_organisations.set(Organisation.objects.filter(name="怒溪镇人民政府"))

    clerk = django_user_model.objects.create_user(username="minxiao_clerk", is_staff=True)
    clerk.groups.add(Group.objects.get(name=access.DATA_ENTRY))
    Assignment.objects.create(user=clerk, partnership=reference.town_pairing)
    return {"mine": mine, "theirs": theirs, "clerk": clerk}


def test_staff_of_a_town_pairing_see_and_pick_nothing_of_a_sibling_town_pairing(
    client, reference, sibling_towns
):
    """Staff of 樟木头镇—闵孝镇 pick, besides their own, what the county pairing's records
    name (its visit, its leader and guest, its donors and recipients), never the records or
    people of 樟木头镇—怒溪镇 beside theirs: not the people of 怒溪镇's government, which a
    county handover names (the handover names the body, not its staff), nor the leader of
    怒溪镇's visit, whose company no handover names."""
    client.force_login(sibling_towns["clerk"])

    def offered(model_name, field_name):
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": "partnerships", "model_name": model_name, "field_name": field_name},
        )
        assert response.status_code == 200
        return {item["text"] for item in response.json()["results"]}

    def listed(model_name):
        response = client.get(f"/admin/partnerships/{model_name}/")
        assert response.status_code == 200
        return {str(row) for row in response.context["cl"].result_list}

    def of_sibling(names):
        return {name for name in names if name.startswith("怒溪")}

    people = offered("meetingparticipant", "person")
    assert {"闵孝镇干部", "闵孝带队", "闵孝团员", "闵孝发言"} <= people
    assert {"黄淦洪（樟木头镇党委书记）", "县里来宾"} <= people  # named on the county visit
    assert of_sibling(people) == set()
    assert offered("visit", "leader") == offered("visit", "members") == people
    listed_people = listed("person")
    assert {"闵孝镇干部", "闵孝带队", "闵孝团员", "闵孝发言"} <= listed_people
    assert of_sibling(listed_people) == set() and "县里来宾" not in listed_people

    organisations = offered("donation", "donors")
    assert {"闵孝镇人民政府", "闵孝帮扶企业", "永林电子股份有限公司"} <= organisations
    assert "怒溪镇人民政府" in organisations  # named on the county pairing's handover
    assert "怒溪帮扶企业" not in organisations
    assert offered("donation", "recipient_organisations") == organisations
    listed_organisations = listed("organisation")
    assert {"闵孝镇人民政府", "闵孝帮扶企业"} <= listed_organisations
    assert not {"怒溪镇人民政府", "怒溪帮扶企业", "永林电子股份有限公司"} & listed_organisations

    mine, theirs = sibling_towns["mine"], sibling_towns["theirs"]
    visits = {str(mine["visit"]), str(reference.visit)}
    assert offered("meeting", "visit") == offered("donation", "visit") == visits
    assert listed("visit") == {str(mine["visit"])}
    for model_name in ("meeting", "donation"):
        response = client.get(f"/admin/partnerships/{model_name}/")
        shown = {row.partnership_id for row in response.context["cl"].result_list}
        assert shown == {reference.town_pairing.pk}, model_name
    for record in [theirs["visit"], theirs["meeting"], *theirs["people"]]:
        url = f"/admin/partnerships/{record._meta.model_name}/{record.pk}/change/"
        assert client.get(url).status_code == 404, url
    # Nor can one be posted by id: the form refuses the choice.
    for person in theirs["people"]:
        response = client.post(
            "/admin/partnerships/meeting/add/",
            {
                "partnership": reference.town_pairing.pk,
                "visit": reference.visit.pk,
                "title": "又一次座谈会",
                **management("participants"),
                "participants-TOTAL_FORMS": "1",
                "participants-0-person": person.pk,
                "participants-0-role": "speaker",
            },
        )
        assert response.status_code == 200 and form_errors(response), person
    assert not Meeting.objects.filter(title="又一次座谈会").exists()


def test_an_administrator_unlocks_accounts_but_cannot_become_a_superuser(client, world):
    """The lockout page says to ask an administrator; django-axes' records are theirs too.
    Making an account a superuser, or changing a superuser's, stays a superuser's."""
    from axes.models import AccessAttempt
    from django.contrib.auth import get_user_model

    chief = get_user_model().objects.create_user(
        username="chief", password="pw-chief", is_staff=True
    )
    chief.groups.add(Group.objects.get(name=access.ADMINISTRATOR))
    attempt = AccessAttempt.objects.create(
        username="staff_a", ip_address="10.0.0.1", failures_since_start=5
    )
    client.force_login(chief)
    attempts = "/admin/axes/accessattempt/"
    assert client.get(attempts).status_code == 200
    unlocked = client.post(f"{attempts}{attempt.pk}/delete/", {"post": "yes"})
    assert unlocked.status_code == 302 and not AccessAttempt.objects.exists()
    # the logs of sign-ins and failures are read, not deleted: they are the evidence
    from axes.models import AccessLog

    log = AccessLog.objects.create(username="chief", ip_address="10.0.0.1")
    assert client.get("/admin/axes/accesslog/").status_code == 200
    assert (
        client.post(f"/admin/axes/accesslog/{log.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert AccessLog.objects.filter(pk=log.pk).exists()

    own = f"/admin/auth/user/{chief.pk}/change/"
    form = client.get(own)
    assert form.status_code == 200 and 'name="is_superuser"' not in form.content.decode()
    data = {
        "username": "chief",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [Group.objects.get(name=access.ADMINISTRATOR).pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    assert client.post(own, data).status_code == 302
    chief.refresh_from_db()
    assert not chief.is_superuser and chief.is_staff

    superuser = world["users"]["admin"]
    other = f"/admin/auth/user/{superuser.pk}/"
    shown = client.get(f"{other}change/")
    assert shown.status_code == 200 and 'name="username"' not in shown.content.decode()
    assert client.post(f"{other}change/", {**data, "username": "taken"}).status_code == 403
    assert client.post(f"{other}password/", {"password1": "x" * 20}).status_code == 403
    assert client.post(f"{other}delete/", {"post": "yes"}).status_code == 403
    superuser.refresh_from_db()
    assert superuser.username == "admin" and superuser.check_password("pw-admin")


def test_people_are_named_as_colleagues_know_them(client, world):
    """The admin welcomed 王芳 as "芳" (Django's short name is the given name), and her
    pairing assignment read "wang → …"."""
    wang = world["users"]["staff_a"]
    wang.last_name, wang.first_name = "王", "芳"
    wang.save()
    client.force_login(wang)
    index = page_text(client.get("/admin/"))
    assert "欢迎，<strong>王芳</strong>。" in index
    assignment = Assignment.objects.get(user=wang)
    assert str(assignment) == f"王芳（staff_a） → {world['a']}"
    nameless = Assignment.objects.get(user=world["users"]["staff_b"])
    assert str(nameless) == f"staff_b → {world['b']}"


def test_an_accounts_history_names_its_fields_in_chinese(client, world):
    """Shown as "已修改First name，Last name 和 Groups。": the labels of a save's changed fields are
    kept in English and translated when shown, and Django's Chinese lacks the capitalised
    ones."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    wang = world["users"]["staff_a"]
    LogEntry.objects.create(
        user=world["users"]["admin"],
        content_type=ContentType.objects.get_for_model(wang),
        object_id=str(wang.pk),
        object_repr=wang.username,
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["First name", "Last name", "Groups"]}}]',
    )
    client.force_login(world["users"]["admin"])
    history = page_text(client.get(f"/admin/auth/user/{wang.pk}/history/"))
    assert "名字" in history and "姓氏" in history
    assert "First name" not in history and "Groups" not in history


def test_the_roles_are_read_not_changed_in_the_admin(client, world):
    """The four roles are set again after every migrate: an administrator's change to one
    held until the next update and was then undone without a word. Their pages are to read,
    in the user's language (Django's permissions are stored in English)."""
    from django.contrib.auth import get_user_model

    chief = get_user_model().objects.create_user(username="chief", is_staff=True)
    chief.groups.add(Group.objects.get(name=access.ADMINISTRATOR))
    client.force_login(chief)
    role = Group.objects.get(name=access.DATA_ENTRY)
    before = set(role.permissions.all())
    url = f"/admin/auth/group/{role.pk}/change/"
    page = page_text(client.get(url))
    assert "此角色由本系统设定" in page and 'name="permissions"' not in page
    assert "添加捐赠" in page and "查看地区" in page and "Can add" not in page
    assert client.post(url, {"name": role.name, "permissions": []}).status_code == 403
    assert client.post(f"/admin/auth/group/{role.pk}/delete/", {"post": "yes"}).status_code == 403
    assert set(role.permissions.all()) == before
    assert "delete_selected" not in page_text(client.get("/admin/auth/group/"))
    # A group of an administrator's own is theirs to change, its choices named in Chinese.
    own = Group.objects.create(name="统计员")
    own_page = page_text(client.get(f"/admin/auth/group/{own.pk}/change/"))
    assert 'name="permissions"' in own_page and ">查看捐赠<" in own_page
    assert "Can view" not in own_page


def test_every_permission_a_page_lists_has_a_label_of_its_own_in_chinese(client, world):
    """view_all_pairings, which opens every pairing, read 查看结对关系 like view_partnership;
    edit_locked_years stayed in English; history tables read "添加historical 捐赠"."""
    from django.contrib.auth.models import Permission
    from django.utils import translation

    from partnerships.admin import permission_label, shown_permissions

    shown = shown_permissions(Permission.objects.all())
    assert not shown.filter(content_type__model__startswith="historical").exists()
    with translation.override("zh-hans"):
        labels = {p.codename: permission_label(p) for p in shown}
        assert len(set(labels.values())) == len(labels), "two permissions read alike"
        assert labels["view_all_pairings"] == "可查看全部结对关系的记录"
        assert labels["edit_locked_years"] == "可修改已锁定年度的记录"
        assert labels["view_partnership"] == "查看结对关系"
        ours = shown.filter(content_type__app_label__in=["partnerships", "auth"])
        latin = [labels[p.codename] for p in ours if re.search("[A-Za-z]", labels[p.codename])]
        assert latin == []


@pytest.mark.parametrize(
    ("model", "action", "record"),
    [("donation", "export_donations", "donation_b"), ("visit", "export_visits", "visit_b")],
)
def test_an_export_of_only_other_pairings_rows_is_no_file(client, world, model, action, record):
    """Another pairing's ids sent by hand gave a file of a header alone, named as a choice of
    0 rows: the list says no rows were chosen, as Django's does."""
    client.force_login(world["users"]["staff_a"])
    response = client.post(
        f"/admin/partnerships/{model}/",
        {"action": action, "_selected_action": [world[record].pk], "index": "0"},
        follow=True,
    )
    assert "Content-Disposition" not in response
    assert "必须先选中条目，才能对其执行操作" in page_text(response)


def test_a_scoped_officials_years_are_their_pairings(client, world):
    """A town's official was offered, and shown as columns, the years of every other
    pairing's records."""
    from django.db.models import Max, Min
    from django.utils import timezone

    mine = Donation.objects.filter(partnership__path__startswith=world["a"].path).aggregate(
        low=Min("year"), high=Max("year")
    )
    everyone = Donation.objects.aggregate(low=Min("year"), high=Max("year"))
    assert everyone["low"] < mine["low"]  # the sample's other pairing starts earlier
    client.force_login(world["users"]["official_a"])
    this_year = timezone.localdate().year
    for path in ("/", f"/pairings/{world['a'].pk}/"):
        form = client.get(path).context["form"]
        offered = [value for value, _label in form.fields["year_from"].widget.choices if value]
        assert offered == list(range(mine["low"], max(mine["high"], this_year) + 1)), path
