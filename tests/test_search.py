"""The dashboard's search box: places, pairings and donors by name, within the user's scope."""

import datetime
import re

import pytest
from django.contrib.auth.models import Group

from partnerships import access, search
from partnerships.models import Assignment, Organisation, Partnership, Region

from .admin_helpers import count_queries, page_text
from .conftest import handover

pytestmark = pytest.mark.django_db

LINK = {"regions": "/regions/", "pairings": "/pairings/", "donors": "/donors/"}


def found(response, kind: str) -> list[str]:
    """The names listed under one kind ("regions", "pairings", "donors"), in order (marked as
    Chinese on the English page the search is asked for in)."""
    return re.findall(
        rf'<a href="{LINK[kind]}\d+/">(?:<span lang="zh-Hans">)?([^<]+)(?:</span>)?</a>',
        page_text(response),
    )


def links(response) -> list[str]:
    return re.findall(r'<a href="(/(?:regions|pairings|donors)/\d+/)">', page_text(response))


def searched(client, text: str, **headers):
    return client.get("/search/", {"q": text}, HTTP_ACCEPT_LANGUAGE="en", **headers)


@pytest.fixture
def assigned_client(client, django_user_model, reference):
    """An official of the town pairing 樟木头镇—闵孝镇 alone, not of the county pairing above."""
    user = django_user_model.objects.create_user(username="town", password="pw-Town-12345")
    user.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
    Assignment.objects.create(user=user, partnership=reference.town_pairing)
    client.force_login(user)
    return client


class TestWhatItFinds:
    def test_a_place_is_listed_with_its_full_path_and_links_to_its_page(
        self, official_client, reference
    ):
        response = searched(official_client, "江口")
        assert response.status_code == 200
        assert found(response, "regions") == ["贵州省 铜仁市 江口县"]
        assert f'<a href="/regions/{reference.jiangkou.pk}/">' in page_text(response)

    def test_a_pairing_is_found_by_either_side_or_its_short_name(self, official_client, reference):
        assert found(searched(official_client, "江口"), "pairings") == ["樟木头镇—江口县"]
        # the helping town names three pairings: the county's, the town's, none else
        assert found(searched(official_client, "樟木头"), "pairings") == [
            "樟木头镇—江口县",
            "樟木头镇—闵孝镇",
        ]
        assert found(searched(official_client, "莞铜"), "pairings") == ["莞铜 (东莞市—铜仁市)"]

    @pytest.mark.parametrize(
        "text",
        ["樟木头镇—江口县", "樟木头镇-江口县", "樟木头 江口", "江口 樟木头", "樟木头镇→江口县"],
    )
    def test_a_pairing_is_found_as_its_page_names_it(self, official_client, reference, text):
        """Its page's title, copied, found nothing: no one name holds "樟木头镇—江口县"."""
        assert found(searched(official_client, text), "pairings") == ["樟木头镇—江口县"]

    def test_a_donor_is_found_and_a_recipient_is_not(self, official_client, reference):
        response = searched(official_client, "樟木头镇人民政府")
        assert found(response, "donors") == ["樟木头镇人民政府"]
        assert f'<a href="/donors/{reference.town_government.pk}/">' in page_text(response)
        # 江口县红十字会 received the handover and gave nothing
        assert found(searched(official_client, "红十字会"), "donors") == []

    def test_the_exact_name_comes_first_then_names_beginning_with_it(
        self, official_client, reference
    ):
        for name in ("新江口村", "江口村", "江口"):
            Region.objects.create(name=name, level=5, parent=reference.minxiao)
        assert found(searched(official_client, "江口"), "regions") == [
            "贵州省 铜仁市 江口县 闵孝镇 江口",  # the very name
            "贵州省 铜仁市 江口县",  # begins with it, higher in the tree
            "贵州省 铜仁市 江口县 闵孝镇 江口村",
            "贵州省 铜仁市 江口县 闵孝镇 新江口村",  # only contains it
        ]

    def test_each_kind_lists_twenty_and_says_when_there_are_more(self, official_client, reference):
        for i in range(search.LIMIT):
            Region.objects.create(name=f"云舍村{i:02d}", level=5, parent=reference.minxiao)
        exactly = searched(official_client, "云舍村")
        assert len(found(exactly, "regions")) == search.LIMIT
        assert "Showing the first" not in page_text(exactly)
        Region.objects.create(name="云舍村99", level=5, parent=reference.minxiao)
        more = searched(official_client, "云舍村")
        assert found(more, "regions") == [
            f"贵州省 铜仁市 江口县 闵孝镇 云舍村{i:02d}" for i in range(search.LIMIT)
        ]
        assert "Showing the first 20: type more of the name" in page_text(more)

    def test_typed_wildcards_match_themselves(self, official_client, reference):
        Organisation.objects.create(name="百分之100%_助学\\基金", kind="charity")
        gift = handover(
            reference.pairing,
            reference.qixin,
            "100.00",
            datetime.date(2023, 3, 1),
            donors=Organisation.objects.filter(name__startswith="百分之"),
        )
        assert gift.donors.count() == 1
        for text in ("%", "_", "\\", "0%_助", "%_"):
            response = searched(official_client, text)
            assert response.status_code == 200, text
            assert found(response, "regions") == [], text
            assert found(response, "donors") == ["百分之100%_助学\\基金"], text
        nothing = searched(official_client, "0_%")
        assert links(nothing) == []
        assert "No place, pairing or donor is named “0_%” or has it in its name." in page_text(
            nothing
        )


class TestQueries:
    def test_an_empty_or_blank_query_finds_nothing_and_is_no_error(
        self, official_client, reference
    ):
        for text in ("", "   ", "\u3000"):
            page = searched(official_client, text)
            assert page.status_code in (200, 302), text  # an empty one loses its q=
            page = official_client.get(page["Location"]) if page.status_code == 302 else page
            assert page.status_code == 200 and links(page) == []
            fragment = searched(official_client, text, HTTP_HX_REQUEST="true")
            assert fragment.status_code == 200
            assert fragment.content.decode().strip() == ""  # the box's results close

    @pytest.mark.parametrize("htmx", [False, True])
    def test_a_very_long_query_gets_a_message_not_an_error(self, official_client, reference, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = searched(official_client, "江口" * 5000, **headers)
        assert response.status_code == 400
        assert "Type at most 100 characters of a name (this is 10000)." in page_text(response)

    def test_a_nul_character_gets_a_message_not_an_error(self, official_client, reference):
        # PostgreSQL refuses NUL in a string; middleware.py refuses it in any address first
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = searched(official_client, "江口\x00县", **headers)
            assert response.status_code == 400
            assert "The address or form could not be read." in page_text(response)

    def test_other_odd_characters_find_nothing(self, official_client, reference):
        for text in ("'; DROP TABLE x; --", "\x01", "江口\u200b", "🙂", "<script>"):
            response = searched(official_client, text)
            assert response.status_code == 200, text
            assert links(response) == [], text
        assert "<script>" not in searched(official_client, "<script>").content.decode()

    def test_the_query_count_does_not_grow_with_the_matches(self, official_client, reference):
        def grow(start: int, count: int) -> None:
            for i in range(start, start + count):
                village = Region.objects.create(
                    name=f"樟木头村{i}", level=5, parent=reference.minxiao
                )
                Partnership.objects.create(
                    helping_region=reference.zhangmutou,
                    assisted_region=village,
                    parent=reference.town_pairing,
                )
                donor = Organisation.objects.create(
                    name=f"樟木头企业{i}", kind="enterprise", region=reference.zhangmutou
                )
                handover(
                    reference.town_pairing,
                    reference.minxiao,
                    "10.00",
                    datetime.date(2023, 3, 1),
                    donors=[donor],
                )

        urls = ["/search/?q=樟木头", "/search/?q=无此名"]
        grow(0, 1)
        small = [count_queries(official_client, url) for url in urls]
        small_fragments = [
            count_queries(official_client, url, HTTP_HX_REQUEST="true") for url in urls
        ]
        grow(1, 30)
        assert [count_queries(official_client, url) for url in urls] == small
        assert [
            count_queries(official_client, url, HTTP_HX_REQUEST="true") for url in urls
        ] == small_fragments
        # the session, the user, the user's and their groups' permissions (their scope), and
        # for each kind the ids of the first matches, then those rows (no query for none)
        assert small_fragments == [10, 7]


class TestScope:
    def test_a_scoped_official_finds_only_their_pairings_and_donors(
        self, assigned_client, reference
    ):
        own = Organisation.objects.create(name="樟木头镇商会", kind="association")
        handover(
            reference.town_pairing, reference.minxiao, "500.00", datetime.date(2024, 5, 1), [own]
        )
        response = searched(assigned_client, "樟木头")
        assert found(response, "pairings") == ["樟木头镇—闵孝镇"]  # not the county's above it
        # 樟木头镇人民政府 gave only to the county pairing, which is not theirs
        assert found(response, "donors") == ["樟木头镇商会"]
        # places are everyone's to find: a region's page counts only the pairings in scope
        assert found(response, "regions") == ["广东省 东莞市 樟木头镇"]
        assert found(searched(assigned_client, "樟木头镇人民政府"), "donors") == []

    def test_every_link_it_gives_a_scoped_official_opens(self, assigned_client, reference):
        own = Organisation.objects.create(name="江口县闵孝镇商会", kind="association")
        handover(
            reference.town_pairing, reference.minxiao, "500.00", datetime.date(2024, 5, 1), [own]
        )
        listed = []
        for text in ("江口", "樟木头", "闵孝", "社区", "镇"):
            listed += links(searched(assigned_client, text))
        assert {"/donors/", "/pairings/", "/regions/"} == {
            re.sub(r"\d+/$", "", url) for url in listed
        }
        for url in set(listed):
            assert assigned_client.get(url).status_code == 200, url

    def test_an_official_of_two_pairings_finds_the_donors_of_both(self, assigned_client, reference):
        east = Region.objects.create(name="示例东省", level=1)
        west = Region.objects.create(name="示例西省", level=1)
        other = Partnership.objects.create(helping_region=east, assisted_region=west)
        user = assigned_client.get("/").wsgi_request.user
        Assignment.objects.create(user=user, partnership=other)
        for name, pairing, place in (
            ("示例商会甲", reference.town_pairing, reference.minxiao),
            ("示例商会乙", other, west),
        ):
            donor = Organisation.objects.create(name=name, kind="association")
            handover(pairing, place, "100.00", datetime.date(2024, 5, 1), [donor])
        Organisation.objects.create(name="示例商会丙", kind="association")  # gave nothing
        response = searched(assigned_client, "示例商会")
        assert found(response, "donors") == ["示例商会乙", "示例商会甲"]  # by name: 乙 < 甲
        assert found(searched(assigned_client, "示例东"), "pairings") == ["示例东省—示例西省"]

    def test_an_official_with_no_pairing_finds_places_only(
        self, client, django_user_model, reference
    ):
        user = django_user_model.objects.create_user(username="none", password="pw-None-12345")
        user.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
        client.force_login(user)
        response = searched(client, "樟木头")
        assert response.status_code == 200
        assert found(response, "pairings") == [] and found(response, "donors") == []
        assert found(response, "regions") == ["广东省 东莞市 樟木头镇"]

    def test_signing_in_is_required(self, client, reference):
        response = client.get("/search/", {"q": "江口"})
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
        assert 'role="search"' not in page_text(client.get(response["Location"]))


class TestHeaderBox:
    def test_every_dashboard_page_has_the_box_and_works_without_javascript(
        self, official_client, reference
    ):
        body = page_text(official_client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
        form = re.search(r'<form class="site-search" role="search"[^>]*>', body).group(0)
        assert 'action="/search/"' in form and 'method="get"' in form
        box = re.search(r'<input id="site-search-q"[^>]*>', body).group(0)
        assert 'name="q"' in box and 'hx-get="/search/"' in box
        assert 'hx-trigger="input changed delay:300ms, search"' in box
        assert 'hx-target="#search-suggestions"' in box
        # a screen reader is told when matches appear: not every suggestion (the box is not
        # itself live), their count line, said in the page's status line (dashboard.js)
        assert '<div id="search-suggestions" class="search-suggestions"></div>' in body
        assert '<div id="swap-status" class="visually-hidden" role="status"' in body
        # the header is outside <main>, whose content pagecache.py stores
        assert body.index('role="search"') < body.index('<main id="main"')

    def test_the_box_holds_the_query_on_its_page_and_nowhere_else(self, official_client, reference):
        assert 'value="江口"' in page_text(searched(official_client, "江口"))
        # the overview's content, stored and reused, has no search of anyone's in it
        for _ in range(2):
            body = page_text(official_client.get("/"))
            assert re.search(r'<input id="site-search-q"[^>]*value=""', body)
        pairing = page_text(official_client.get(f"/pairings/{reference.pairing.pk}/?q=江口"))
        assert re.search(r'<input id="site-search-q"[^>]*value=""', pairing)

    def test_the_box_is_in_chinese_by_default(self, official_client, reference):
        body = page_text(official_client.get("/"))
        assert ">搜索</button>" in body
