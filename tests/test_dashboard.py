"""The officials' dashboard over HTTP: figures, filters, htmx fragments, access, query counts."""

import csv
import datetime
import io
import json
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from partnerships import access, reports, views
from partnerships.models import (
    LIST_ORDER,
    AidProject,
    AreaYearTotal,
    Assignment,
    Donation,
    DonationLine,
    DonationSummary,
    DonorFacetYearTotal,
    DonorKindSummary,
    DonorYearTotal,
    Meeting,
    Organisation,
    Partnership,
    Person,
    PlaceFacetYearTotal,
    PlaceYearTotal,
    Posting,
    Region,
    Visit,
)

from .admin_helpers import count_queries, page_text
from .conftest import handover
from .test_exports import csv_rows

pytestmark = pytest.mark.django_db

GRAND_TOTAL = re.compile(r'class="num total grand-total"><data value="([0-9.]+)"')


def analyzed(*models) -> None:
    """Statistics of these tables as they are now, for a test of PostgreSQL's plan: its
    autovacuum analyses a table once enough rows were written, rolled back or not, so
    whether a plan test saw any statistics depended on when autovacuum ran (three tests
    passed only while their tables had never been analysed, and failed in one full run)."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def grand_totals(response) -> list[Decimal]:
    return [Decimal(value) for value in GRAND_TOTAL.findall(response.content.decode())]


def reach_counts(response) -> tuple[int, ...]:
    """The villages reached and the donors, as the reach panel shows them."""
    values = re.findall(r'class="value">([\d,]+)</span>', response.content.decode())
    return tuple(int(value.replace(",", "")) for value in values)


def itemise(donation, amount, region, donor=None, organisation=None):
    DonationLine.objects.create(
        donation=donation,
        amount=amount,
        region=region,
        donor=donor,
        recipient_organisation=organisation,
    )
    donation.rebalance()


@pytest.fixture
def sample(reference):
    call_command("load_sample_data", "--seed", "11", stdout=io.StringIO())
    return reference


class TestReferenceFigures:
    def test_the_overview_says_why_funds_and_materials_read_0(self, official_client, reference):
        """The report's 105万 was funds and materials together, split not given, and does not
        say whether it was fiscal or social: the cards 资金 0.00 and 物资 0.00 (and 财政援助资金
        0.00) read as "no funds were given". A note under them says what they leave out."""
        text = re.sub(r"<[^>]+>", "", page_text(official_client.get("/")))
        assert "另有 105.00 万元以资金及物资合计捐赠、未说明各占多少，不计入其中任何一项。" in text
        assert "另有 105.00 万元未说明属于哪一种，不计入其中任何一项。" in text
        # none under a filter that leaves it out, nor once the split is recorded
        assert "不计入其中任何一项" not in page_text(official_client.get("/?kind=funds"))
        split = reference.donation
        split.kind, split.funding = "funds", "social"
        split.save()
        assert "不计入其中任何一项" not in page_text(official_client.get("/"))

    def test_the_pairing_shows_105_wan_for_2023_all_not_itemised(self, official_client, reference):
        response = official_client.get(f"/pairings/{reference.pairing.pk}/")
        assert response.status_code == 200
        table = response.context["table"]
        assert table.years == [2023]
        # The six villages the report names: each received part of the 105万, how much is
        # not said. Their rows read 不详, never 0.00; the whole sum stays not itemised.
        assert sorted(row.label for row in table.rows) == sorted(
            ["齐心村", "净河村", "双屯村", "坝梅村", "沙坝河村", "长岗岭村"]
        )
        assert all(row.cells == [Decimal(0)] and row.unknown == [1] for row in table.rows)
        assert page_text(response).count('<span class="unknown"') == 6 * 2  # cell and total
        assert table.rest.cells == [Decimal("1050000.00")]
        assert table.total == Decimal("1050000.00")
        text = page_text(response)
        assert "未细分到村" in text
        assert '<data value="1050000.00" title="1,050,000.00 元">105.00</data>' in text
        assert grand_totals(response) == [Decimal("1050000.00")]

    def test_itemising_part_to_a_village_keeps_the_pairing_total(self, official_client, reference):
        itemise(reference.donation, Decimal("200000.00"), reference.qixin)
        response = official_client.get(f"/pairings/{reference.pairing.pk}/")
        table = response.context["table"]
        assert [(row.label, row.cells) for row in table.rows if not row.unknown] == [
            ("齐心村", [Decimal("200000.00")])
        ]
        # the other five villages named in the handover: their shares are still not known
        assert len([row for row in table.rows if row.unknown == [1]]) == 5
        assert table.rest.cells == [Decimal("850000.00")]
        assert table.total == Decimal("1050000.00")
        text = page_text(response)
        assert ">20.00</data>" in text and ">85.00</data>" in text
        # The overview's pairing list and the parent pairing are unchanged too.
        overview = official_client.get("/")
        assert overview.context["headline"].total == Decimal("1050000.00")
        listed = {str(row.partnership): row.total for row in overview.context["pairings"]}
        assert listed["樟木头镇—江口县"] == Decimal("1050000.00")
        assert listed["莞铜（东莞市—铜仁市）"] == Decimal("1050000.00")

    def test_a_pairing_with_many_villages_lists_the_largest_and_sums_the_others(
        self, official_client, reference, monkeypatch
    ):
        """A province pairing has thousands of villages: the page lists VILLAGES_SHOWN, the
        others in one row that keeps the table adding up; the download lists every one."""
        from partnerships import views

        monkeypatch.setattr(views, "VILLAGES_SHOWN", 2)
        for name, amount in (("齐心村", "200000.00"), ("净河村", "30000.00"), ("坝梅村", "500.00")):
            itemise(reference.donation, Decimal(amount), Region.objects.get(name=name))
        itemise(reference.donation, Decimal("300.00"), Region.objects.get(name="长岗岭村"))
        response = official_client.get(f"/pairings/{reference.pairing.pk}/")
        table = response.context["table"]
        assert [row.label for row in table.rows] == ["齐心村", "净河村"]
        # 坝梅村 and 长岗岭村 with 800 yuan between them; 双屯村 and 沙坝河村, named in the
        # handover without their shares
        label = "其他 4 个村（全部村见下载）"
        assert table.others.label == label
        assert table.others.cells == [Decimal("800.00")] and table.others.total == Decimal("800.00")
        assert table.others.unknown == [2]
        assert table.rest.total == Decimal("819200.00")
        placed = sum(row.total for row in [*table.rows, table.others, table.rest])
        assert placed == table.total == Decimal("1050000.00")  # still the pairing's total
        text = page_text(response)
        others = text.split(label)[1].split("</tr>")[0]
        assert others.count(">0.08</data> <span") == 2  # the year and the total: "0.08 ＋不详"
        assert "这些村中有的被捐赠点名，但未说明各村所得金额" in others
        # The chart compares the villages with the most aid, not the catch-all rows, beside
        # which their bars would be slivers.
        assert response.context["chart"]["labels"] == ["齐心村", "净河村"]
        assert "获帮扶最多的 2 个村，按年（万元）" in text
        download = official_client.get(f"/export/villages.csv?pairing={reference.pairing.pk}")
        rows = b"".join(download.streaming_content).decode("utf-8-sig")
        assert all(name in rows for name in ("坝梅村", "双屯村", "沙坝河村", "长岗岭村"))
        # On paper there is no download link: the row says where to find the others.
        report = page_text(official_client.get(f"/pairings/{reference.pairing.pk}/report/2023/"))
        villages = report.split("各村帮扶情况</h2>")[1].split("</table>")[0]
        assert "其他 4 个村（详见结对关系页面的分村下载）" in villages and "坝梅村" not in villages

    def test_the_chart_says_most_aid_only_when_it_leaves_villages_out(
        self, official_client, reference, monkeypatch
    ):
        """With one village's share known, its bar is not "the village with the most aid": the
        five others the handover names have no amount to compare."""
        from partnerships import charts

        itemise(reference.donation, Decimal("200000.00"), reference.qixin)
        url = f"/pairings/{reference.pairing.pk}/"
        response = official_client.get(url)
        assert response.context["chart"]["labels"] == ["齐心村"]
        text = page_text(response)
        assert "帮扶金额已知的 1 个村，按年（万元）" in text and "获帮扶最多" not in text
        itemise(reference.donation, Decimal("1000.00"), Region.objects.get(name="净河村"))
        monkeypatch.setattr(charts, "PLACES_CHARTED", 1)
        text = page_text(official_client.get(url))
        assert "获帮扶最多的 1 个村，按年（万元）" in text

    def test_villages_that_share_a_name_are_told_apart(self, official_client, reference):
        for town_name in ("甲镇", "乙镇"):
            town = Region.objects.create(name=town_name, level=4, parent=reference.jiangkou)
            village = Region.objects.create(name="新村", level=5, parent=town)
            itemise(reference.donation, Decimal("1000.00"), village)
        table = official_client.get(f"/pairings/{reference.pairing.pk}/").context["table"]
        known = sorted(row.label for row in table.rows if not row.unknown)
        assert known == ["乙镇 新村", "甲镇 新村"]

    def test_the_parent_pairing_lists_its_child_with_the_total(self, official_client, reference):
        guangdong_guizhou = Partnership.objects.get(name="粤黔")
        response = official_client.get(f"/pairings/{guangdong_guizhou.pk}/")
        children = response.context["children"]
        assert [(str(c.partnership), c.total) for c in children] == [
            ("莞铜（东莞市—铜仁市）", Decimal("1050000.00"))
        ]
        town = official_client.get(f"/pairings/{reference.town_pairing.pk}/")
        assert f'href="/pairings/{reference.pairing.pk}/"' in town.content.decode()

    def test_the_region_page_breaks_down_by_child_region(self, official_client, reference):
        itemise(reference.donation, Decimal("200000.00"), reference.qixin)
        response = official_client.get(f"/regions/{reference.jiangkou.pk}/")
        table = response.context["table"]
        known = [(row.label, row.total) for row in table.rows if not row.unknown]
        assert known == [("齐心村", Decimal("200000.00"))]
        # the town and the villages the handover names without their shares
        assert {row.label for row in table.rows if row.unknown} == {
            "闵孝镇",
            "净河村",
            "双屯村",
            "坝梅村",
            "沙坝河村",
            "长岗岭村",
        }
        assert table.rest.total == Decimal("850000.00")
        assert table.total == Decimal("1050000.00")

    def test_a_town_named_without_its_share_has_its_own_row(self, official_client, reference):
        """The reference handover names 闵孝镇 itself among its recipients without its share;
        no village of it is recorded. Its page had a table of no row above "合计 不详", and
        its download a row for what was not itemised below it, without a word."""
        town = reference.minxiao
        table = official_client.get(f"/regions/{town.pk}/").context["table"]
        assert table.rows == [] and table.rest is not None
        assert table.rest.label == "闵孝镇（未向下细分）" and table.rest.unknown == [1]
        rows = csv_rows(official_client.get(f"/export/places.csv?region={town.pk}"))
        assert rows[1][5] == "闵孝镇（未向下细分）；不含 1 笔捐赠中份额不详的部分（2023）"
        assert rows[1][6:] == ["", ""]  # not 0.00: its share is not known
        # once itemised to the town, its row is that figure, no longer unknown
        itemise(reference.donation, Decimal("100000.00"), town)
        table = official_client.get(f"/regions/{town.pk}/").context["table"]
        assert table.rest.total == Decimal("100000.00") and not any(table.rest.unknown)

    @pytest.mark.parametrize("many", [0, 1, 2, 5000])
    def test_a_regions_donations_are_the_same_by_any_plan(self, reference, monkeypatch, many):
        """A region with few handovers is listed by their ids, one with many by where they
        were received (and those received above it by their lines and named places, as ids
        unless there are more than MANY_IDS); which is told by a probe of at most
        2 × MANY_IDS line and link rows."""
        itemise(reference.donation, Decimal("200000.00"), reference.qixin)
        handover(reference.town_pairing, reference.qixin, "100", datetime.date(2024, 5, 6))
        handover(reference.town_pairing, reference.minxiao, "50", datetime.date(2024, 5, 7))
        # Received by the county, with no part in the town or the village: the county's only.
        handover(reference.pairing, reference.jiangkou, "70", datetime.date(2024, 5, 1))
        # Received by the county, naming no recipient, all of it itemised to the village:
        # found there by its line alone.
        itemised = handover(reference.pairing, reference.jiangkou, "30", datetime.date(2024, 5, 2))
        itemise(itemised, Decimal("30.00"), reference.qixin)
        monkeypatch.setattr(reports, "MANY_IDS", many)
        listed = {
            region.name: [
                (d.pk, d.received)
                for d in reports.donations_to_region(filters=reports.Filters(), region=region)
            ]
            for region in (reference.jiangkou, reference.minxiao, reference.qixin)
        }
        donation = reference.donation.pk
        assert listed["齐心村"][1:] == [
            (itemised.pk, Decimal("30.00")),
            (donation, Decimal("200000.00")),
        ]
        assert [received for _, received in listed["江口县"]] == [
            Decimal("50.00"),
            Decimal("100.00"),
            Decimal("30.00"),
            Decimal("70.00"),
            Decimal("1050000.00"),
        ]
        assert listed["江口县"][-1][0] == donation
        assert len(listed["闵孝镇"]) == 2  # its own handover, and 105万 naming it

    def test_a_village_named_in_an_unsplit_handover_lists_it_without_a_share(
        self, official_client, reference
    ):
        response = official_client.get(f"/regions/{reference.qixin.pk}/")
        table = response.context["table"]
        assert table.total == Decimal("0.00")
        assert table.years == [2023] and table.unknown_shares == {2023: 1}
        donations = list(response.context["page"].object_list)
        assert [d.pk for d in donations] == [reference.donation.pk]
        assert donations[0].received == Decimal("0.00")
        text = page_text(response)
        assert "樟木头镇人民政府" in text
        # The report names the village among the recipients of one 105万 total: its share is
        # unknown, never 0.00 (the yearly cell, the total and the donation's row).
        assert ">0.00<" not in text
        assert text.count(">不详</span>") == 3
        assert "1 笔捐赠" in text
        # Nor in its chart (no bar, not a bar of 0) or its download's total row.
        assert response.context["chart"]["datasets"][0]["data"] == [None]
        assert 'id="region-chart"' not in text  # no empty axes where nothing is known

    def test_a_towns_download_says_its_total_leaves_out_an_unknown_share(
        self, official_client, reference
    ):
        response = official_client.get(f"/export/places.csv?region={reference.minxiao.pk}")
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        assert "不含 1 笔点名本地区的捐赠中所得部分不详的金额（2023）" in text
        # where the page says 不详, the download has no figure: not 0.00
        assert text.splitlines()[-1].endswith("（2023）,,"), text
        response = official_client.get(f"/export/places.json?region={reference.minxiao.pk}")
        rows = json.loads(b"".join(response.streaming_content))
        assert rows[-1]["2023"] is None and rows[-1]["total"] is None
        # the total row says it is one: a script summing the places does not count it twice
        assert [row["is_total"] for row in rows] == [False] * (len(rows) - 1) + [True]
        # nor in the XLSX, nor its row in 万元
        import openpyxl

        for region in (reference.minxiao, reference.qixin):
            response = official_client.get(f"/export/places.xlsx?region={region.pk}")
            assert response.status_code == 200
            workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
            totals = [[cell.value for cell in row] for row in workbook.worksheets[1].rows]
            assert totals[0][0].startswith("合计，不含 1 笔点名本地区的捐赠"), totals
            assert totals[-2:] == [["2023", "不详", None], ["合计（元）", "不详", None]], totals

    def test_a_villages_download_has_no_figure_where_its_page_says_unknown(
        self, official_client, reference
    ):
        page = page_text(official_client.get(f"/regions/{reference.qixin.pk}/"))
        # its yearly table names its row, and can be downloaded as a town's can
        assert '<th scope="row">齐心村</th>' in page
        assert f'href="/export/places.csv?region={reference.qixin.pk}"' in page
        # and the lines download says what it leaves out
        assert "另有 1 笔上面所列的捐赠点名本地区但未说明其所得" in page
        response = official_client.get(f"/export/places.csv?region={reference.qixin.pk}")
        lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
        assert all(line.endswith(",,") for line in lines[1:]), lines
        assert "0.00" not in "".join(lines)

    def test_a_village_with_a_known_part_shows_it_plus_the_unknown(
        self, official_client, reference
    ):
        handover(
            reference.pairing,
            reference.qixin,
            "500.00",
            datetime.date(2023, 5, 1),
            [reference.town_government],
        )
        response = official_client.get(f"/regions/{reference.qixin.pk}/")
        assert response.context["table"].column_shares == [
            reports.Share(Decimal("500.00"), unknown=1)
        ]
        assert "0.05</data> <span" in page_text(response) and "＋不详" in page_text(response)
        # its chart's tooltip adds ＋不详 to the known part
        chart = response.context["chart"]
        assert chart["datasets"][0]["unknown"] == [True] and chart["plus_unknown"] == "＋不详"
        assert chart["colon"] == "："

    def test_a_year_of_which_nothing_is_known_says_so_on_the_chart(
        self, official_client, reference
    ):
        """An empty slot for 2023 looked like a year of nothing, as a year of 0.00 does."""
        handover(reference.pairing, reference.qixin, "500.00", datetime.date(2024, 5, 1))
        chart = official_client.get(f"/regions/{reference.qixin.pk}/").context["chart"]
        assert chart["labels"] == ["2023（不详）", "2024"]
        assert chart["datasets"][0]["data"] == [None, "0.05"]
        english = official_client.get(
            f"/regions/{reference.qixin.pk}/", HTTP_ACCEPT_LANGUAGE="en"
        ).context["chart"]
        assert english["labels"] == ["2023 (unknown)", "2024"] and english["colon"] == ": "
        # a tooltip's figure and its unit: "0.05 万元", "0.05 (10,000 yuan)" (not "0.05 10,000")
        assert (chart["figure_unit"], english["figure_unit"]) == ("万元", "(10,000 yuan)")

    def test_a_place_given_the_handover_as_a_whole_has_no_unknown_share(
        self, official_client, reference
    ):
        response = official_client.get(f"/regions/{reference.jiangkou.pk}/")
        assert response.context["table"].unknown_shares == {}
        assert "不详" not in page_text(response).split("年度受帮扶金额")[1].split("</table>")[0]

    def test_the_donor_page_shows_a_joint_handover_apart(self, official_client, reference):
        response = official_client.get(f"/donors/{reference.town_government.pk}/")
        yearly = response.context["yearly"]
        assert yearly["years"] == [
            {
                "year": 2023,
                "total": Decimal("1050000.00"),
                "sole": Decimal("0.00"),
                "joint": Decimal("1050000.00"),
            }
        ]

    def test_a_donors_download_gives_the_figures_of_its_page_under_a_donor_kind(
        self, official_client, reference
    ):
        """A donor kind selects the handovers one of whose donors is of that kind: the town
        government's page under "community" shows its handovers with the communities, and
        the download under its table gave nothing, since the government is no community
        (found by the exploratory review). A list of donors keeps those of that kind."""
        government = reference.town_government
        for kind, expected in (("community", "1050000.00"), ("school", None)):
            page = official_client.get(f"/donors/{government.pk}/?donor_kind={kind}")
            total = page.context["yearly"]["total"]
            assert total == (Decimal(expected) if expected else Decimal("0.00"))
            (link,) = [url for label, url in page.context["donor_exports"] if label == "CSV"]
            rows = csv_rows(official_client.get(link))
            assert rows[0][-1] == "合计（元）"
            if expected:
                assert [(row[0], row[-1]) for row in rows[1:]] == [(government.name, expected)]
            else:
                assert rows[1:] == []
        # the pairing's donors under a kind: those of that kind alone
        listed = csv_rows(
            official_client.get(
                f"/export/donors.csv?pairing={reference.pairing.pk}&donor_kind=community"
            )
        )
        assert sorted(row[0] for row in listed[1:]) == ["樟洋社区", "樟罗社区", "石新社区"]

    def test_the_visit_page_lists_participants_in_the_order_entered(
        self, official_client, reference
    ):
        # A report may name a guest attending before the chair: the page keeps its order.
        meeting = Meeting.objects.get(title="江口县·樟木头镇东西部协作工作座谈会")
        wang_ying = meeting.participants.get(role="chair").person
        meeting.participants.all().delete()
        guest = Person.objects.create(name="来宾甲", position="")
        meeting.participants.create(person=guest, role="attendee")
        meeting.participants.create(person=wang_ying, role="chair")
        text = page_text(official_client.get(f"/visits/{reference.visit.pk}/"))
        assert text.index("来宾甲") < text.index("王颖（江口县委副书记） — 主持人")

    def test_the_visit_page_shows_the_meeting_and_handover(self, official_client, reference):
        response = official_client.get(f"/visits/{reference.visit.pk}/")
        text = page_text(response)
        assert "2023年1月10日" in text and "2023年1月12日" in text
        # the chair who also spoke is listed once, with both roles
        assert "王颖（江口县委副书记） — 主持人、讲话：主持会议并讲话<br>" in text
        assert text.count("王颖（江口县委副书记）") == 1
        assert "李树文（江口县委常委、副县长） — 汇报人" in text
        assert "江口县政府会议室" in text
        assert ">105.00</data>" in text
        assert "考察云舍文化村" in text
        # its handover links to no visit: it is this one (a pairing's list of them does)
        own = f'href="/visits/{reference.visit.pk}/"'
        assert own not in text
        assert own in page_text(official_client.get(f"/regions/{reference.qixin.pk}/"))
        # Chinese punctuation on a Chinese page, Western on an English one
        assert "<h1>考察：樟木头镇—江口县</h1>" in text
        assert "活动纪实：<a" in text and "下载捐赠明细：<a" in text
        pairing = page_text(official_client.get(f"/pairings/{reference.pairing.pk}/"))
        assert "考察：东部赴西部，黄淦洪带队" in pairing
        # a span of days with the report's dash, no space around it
        assert '2023年1月10日</time>—<time datetime="2023-01-12">' in pairing
        # sentences and brackets follow Chinese text without a space
        assert "略有出入。将鼠标悬停在数字上或点按数字" in pairing
        # a reader with no mouse (a keyboard, a phone) is told where the exact yuan are too
        assert "下载的文件均以元为单位列出全部金额" in pairing
        province = reference.pairing.parent.parent
        text = page_text(official_client.get(f"/pairings/{province.pk}/"))
        assert re.search(r"</a><span class=\"below\">（另有 \d+ 个下级结对）", text), text
        english = page_text(
            official_client.get(f"/visits/{reference.visit.pk}/", HTTP_ACCEPT_LANGUAGE="en")
        )
        assert '<h1>Visit: <span lang="zh-Hans">樟木头镇—江口县</span></h1>' in english
        # donors and recipients in the report's order (as recorded, as the downloads list
        # them), not by their names' code points: the town government first, 闵孝镇 before
        # the villages
        visit_page = page_text(official_client.get(f"/visits/{reference.visit.pk}/"))
        flat = re.sub(r"<[^>]+>|\s+", "", visit_page)
        assert "樟木头镇人民政府、樟罗社区、石新社区、樟洋社区、广东小猪班纳" in flat
        assert "闵孝镇、齐心村、双屯村、净河村、坝梅村、沙坝河村、长岗岭村、江口县红十字会" in flat
        # a handover's lines are captioned in 万元, as the table under the caption
        reference.donation.lines.create(
            amount=Decimal("200000.00"), region=reference.qixin, is_itemised=True
        )
        reference.donation.rebalance()
        text = page_text(official_client.get(f"/visits/{reference.visit.pk}/"))
        assert "<caption>2023年捐赠（105.00 万元）的细分情况</caption>" in text
        lines = page_text(
            official_client.get(f"/visits/{reference.visit.pk}/", HTTP_ACCEPT_LANGUAGE="en")
        )
        assert "Itemisation of the 2023 handover, 105.00 in all (10,000 yuan)" in lines
        # under its meetings, the download says what it holds: the visit's row and theirs
        meetings = lines.split('id="meetings-heading"')[1].split("</section>")[0]
        assert "Download the visit and its meetings: <a" in meetings
        assert '</time>–<time datetime="2023-01-12">' in english
        english = page_text(
            official_client.get(f"/pairings/{reference.pairing.pk}/", HTTP_ACCEPT_LANGUAGE="en")
        )
        assert (
            'led by <span lang="zh-Hans">黄淦洪</span>' in english
            and "parts. Hover over or tap a figure" in english
        )

    def test_the_visit_page_lists_the_project_inspected_and_people_called_on(
        self, client, official_client, reference, django_user_model
    ):
        """The record and the report name the 云舍文化村 project inspected and the teachers and
        doctors called on; the visit's page said nothing of either."""
        text = re.sub(
            r"<[^>]+>", "", page_text(official_client.get(f"/visits/{reference.visit.pk}/"))
        )
        assert "考察的项目" in text
        assert "云舍文化村项目（江口县；在建）：参观文化村项目建设" in re.sub(r"\s+", "", text)
        assert "看望的选派人员" in text
        assert "支教教师（人数未见报道） → 江口县" in text
        assert "支医医护人员（人数未见报道） → 江口县" in text
        # Those of a pairing the official may not see stay out, as on the printed record.
        other = Partnership.objects.create(
            helping_region=reference.zhangmutou, assisted_region=Region.objects.get(name="贵州省")
        )
        Posting.objects.filter(known_during=reference.visit).update(partnership=other)
        AidProject.objects.filter(inspections__visit=reference.visit).update(partnership=other)
        scoped = django_user_model.objects.create_user(username="scoped_official")
        scoped.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
        Assignment.objects.create(user=scoped, partnership=reference.pairing)
        client.force_login(scoped)
        text = page_text(client.get(f"/visits/{reference.visit.pk}/"))
        assert "云舍文化村项目" not in text.split("考察的项目")[1].split("</section>")[0]
        assert "支教教师" not in text and "无项目考察记录。" in text

    def test_a_pairing_without_records_says_its_zero_is_no_record(self, official_client, reference):
        """樟木头镇—闵孝镇 read 0.00 while 闵孝镇's page said its share of the 105万 is 不详."""
        town = page_text(official_client.get(f"/pairings/{reference.town_pairing.pk}/"))
        assert "下表的 0.00 表示没有记录，而非已知为零" in town
        assert f'<a href="/regions/{reference.minxiao.pk}/">闵孝镇页面</a>' in town
        # with the filters chosen, which the note says it was read under, kept
        query = {"year_from": "2022", "category": "education"}
        town = page_text(official_client.get(f"/pairings/{reference.town_pairing.pk}/", query))
        link = f"/regions/{reference.minxiao.pk}/?year_from=2022&category=education"
        assert f'<a href="{link}">闵孝镇页面</a>' in town
        county = page_text(official_client.get(f"/pairings/{reference.pairing.pk}/"))
        assert "表示没有记录" not in county
        # a pairing with no parent has none to send the reader to
        east = Region.objects.create(name="示例东省", level=1)
        west = Region.objects.create(name="示例西省", level=1)
        top = Partnership.objects.create(helping_region=east, assisted_region=west)
        text = page_text(official_client.get(f"/pairings/{top.pk}/"))
        assert "表示没有记录，而非已知为零。</p>" in text and "上级结对" not in text

    def test_a_zero_is_said_to_be_no_record_in_the_pairings_tables(
        self, official_client, client, reference, django_user_model
    ):
        """The overview's and the county pairing's tables read 0.00 for 樟木头镇—闵孝镇 with no
        word that it means no record; and an official of the town pairing alone was sent to
        闵孝镇's page for the county's handover, which that page does not list for them."""
        note = "0.00 表示其名下没有记录，并非未获帮扶"
        assert note in page_text(official_client.get("/"))
        assert note in page_text(official_client.get(f"/pairings/{reference.pairing.pk}/"))
        town_official = django_user_model.objects.create_user(username="town_official")
        town_official.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
        Assignment.objects.create(user=town_official, partnership=reference.town_pairing)
        client.force_login(town_official)
        town = page_text(client.get(f"/pairings/{reference.town_pairing.pk}/"))
        assert "下表的 0.00 表示没有记录，而非已知为零" in town
        assert "闵孝镇页面" not in town and "计入上级结对" not in town

    def test_top_donors_do_not_multiply_a_joint_handover(self, official_client, reference):
        response = official_client.get(f"/pairings/{reference.pairing.pk}/")
        donors = response.context["donors"]
        assert len(donors) == 8
        assert {d.total for d in donors} == {Decimal("1050000.00")}
        assert {d.joint for d in donors} == {Decimal("1050000.00")}

    def test_top_donors_of_one_name_say_where_they_are(self, official_client, reference):
        """Two 社区居委会 of two towns gave to the pairing: two rows of one name said
        nothing of which was which."""
        day = reference.visit.start_date
        for town in (reference.zhangmutou, reference.zhangmutou.parent):
            donor = Organisation.objects.create(name="社区居委会", kind="community", region=town)
            handover(reference.pairing, reference.jiangkou, "1000.00", day, [donor])
        section = page_text(official_client.get(f"/pairings/{reference.pairing.pk}/"))
        section = section.split('id="donors-heading"')[1].split("</section>")[0]
        assert "社区居委会（广东省 东莞市 樟木头镇）" in section
        assert "社区居委会（广东省 东莞市）" in section
        assert ">樟木头镇人民政府<" in section  # a name of its own stays as it is

    def test_top_donors_show_the_total_they_are_ranked_by(self, official_client, reference):
        """The list is ranked by what each donor gave alone and jointly, and showed only those
        two parts: a donor that gave 50万 alone stood below eight that gave nothing alone,
        with nothing on the row to say why."""
        alone = Organisation.objects.create(name="独捐企业", kind="enterprise")
        handover(
            reference.pairing, reference.jiangkou, "500000.00", reference.visit.start_date, [alone]
        )
        response = official_client.get(
            f"/pairings/{reference.pairing.pk}/", HTTP_ACCEPT_LANGUAGE="en"
        )
        section = page_text(response).split('id="donors-heading"')[1].split("</section>")[0]
        columns = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', section)
        assert columns[-3:] == ["Given alone", "Given jointly (split not reported)", "Total"]
        rows = [
            (name, [Decimal(value) for value in re.findall(r'<data value="([0-9.]+)"', cells)])
            for name, cells in re.findall(
                r'<tr><th scope="row"><a [^>]*><span lang="zh-Hans">([^<]+)</span></a></th>'
                r"(.*?)</tr>",
                section,
            )
        ]
        assert len(rows) == 9
        for name, (sole, joint, total) in rows:
            assert total == sole + joint, name
        totals = [total for _, (_, _, total) in rows]
        assert totals == sorted(totals, reverse=True)
        assert rows[-1] == (
            "独捐企业",
            [Decimal("500000.00"), Decimal("0.00"), Decimal("500000.00")],
        )


class TestFilters:
    def test_filters_narrow_the_figures(self, official_client, reference):
        pairing = f"/pairings/{reference.pairing.pk}/"
        assert official_client.get(pairing + "?category=education").context["table"].total == 0
        assert official_client.get(pairing + "?year_from=2024").context["table"].total == 0
        assert official_client.get(pairing + "?kind=both").context["table"].total == Decimal(
            "1050000.00"
        )

    def test_each_filters_first_choice_says_all(self, official_client, reference):
        """The kind filter's first choice read "Funds and materials", beside the choice
        "funds and materials (not split)" and a card of that name."""
        for language, expected in (
            ("en", ["All funds and materials", "All fiscal and social"]),
            ("zh-hans", ["全部资金及物资", "全部（财政援助与社会帮扶）"]),
        ):
            text = page_text(official_client.get("/", HTTP_ACCEPT_LANGUAGE=language))
            firsts = [
                re.search(rf'<select name="{name}"[^>]*>\s*<option value=""[^>]*>([^<]+)<', text)[1]
                for name in ("kind", "funding")
            ]
            assert firsts == expected, language

    def test_links_to_places_and_donors_keep_the_filters(self, official_client, reference):
        """A village's link in a pairing's table (and a place's, a donor's, a side's) led to
        its page for every year and category, without a word, under a filtered table."""
        query = "?year_from=2023&kind=both"
        for url in (f"/pairings/{reference.pairing.pk}/", f"/regions/{reference.jiangkou.pk}/"):
            text = page_text(official_client.get(url + query))
            qixin = f'href="/regions/{reference.qixin.pk}/'
            assert f"{qixin}{query}" in text and f'{qixin}"' not in text, url
            donors = re.findall(r'href="/donors/\d+/([^"]*)"', text)
            assert donors and set(donors) == {query}, url
        text = page_text(official_client.get(f"/pairings/{reference.pairing.pk}/{query}"))
        assert f'href="/regions/{reference.jiangkou.pk}/{query}"' in text  # the assisted side

    def test_donor_kind_counts_a_handover_once(self, official_client, reference):
        # Three communities are among the donors: a join would count 105万 three times.
        response = official_client.get("/?donor_kind=community")
        assert response.context["headline"].total == Decimal("1050000.00")
        # The donors counted are the three communities, not their co-donors.
        reach = official_client.get("/reach/?donor_kind=community", HTTP_HX_REQUEST="true")
        assert reach_counts(reach)[1] == 3
        pairing = official_client.get(f"/pairings/{reference.pairing.pk}/?donor_kind=community")
        assert sorted(d.organisation.name for d in pairing.context["donors"]) == [
            "樟洋社区",
            "樟罗社区",
            "石新社区",
        ]

    def test_province_filters_on_the_overview(self, official_client, reference):
        guizhou = Region.objects.get(name="贵州省")
        guangdong = Region.objects.get(name="广东省")
        assert official_client.get(f"/?assisted_province={guizhou.pk}").context[
            "headline"
        ].total == Decimal("1050000.00")
        assert official_client.get(f"/?helping_province={guangdong.pk}").context[
            "headline"
        ].total == Decimal("1050000.00")
        # Only provinces where some pairing has that side are offered.
        response = official_client.get(f"/?assisted_province={guangdong.pk}")
        assert response.status_code == 400

    def test_the_province_choices_are_those_of_the_pairings_sides(self, official_client, reference):
        sichuan = Region.objects.create(name="四川省", level=1)
        Region.objects.create(name="凉山州", level=2, parent=sichuan)
        Partnership.objects.create(
            name="浙川",
            helping_region=Region.objects.create(name="浙江省", level=1),
            assisted_region=Region.objects.get(name="凉山州"),
        )
        form = official_client.get("/").context["form"]
        offered = {
            side: {str(region) for region in form.fields[f"{side}_province"].queryset}
            for side in ("helping", "assisted")
        }
        assert offered == {"helping": {"广东省", "浙江省"}, "assisted": {"贵州省", "四川省"}}

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("year_from=abc", "请选择 1990 年至"),
            ("year_from=2025&year_to=2021", "截止年份不得早于起始年份"),
            ("year_from=1800", "1990"),
            ("category=bogus", "bogus"),
            ("donor_kind=%00", "无法识别该地址或表单"),  # any NUL: the 400 page
            ("helping_province=999999", "请选择有效的选项"),
            ("helping_province=abc", "请选择有效的选项"),
        ],
    )
    def test_bad_filters_get_a_400_with_a_readable_message(
        self, official_client, reference, query, message
    ):
        response = official_client.get(f"/?{query}")
        assert response.status_code == 400
        assert message in page_text(response)
        assert "<html" in response.content.decode()

    def test_a_province_the_overview_does_not_offer_is_refused_by_downloads_too(
        self, official_client, reference
    ):
        """贵州省 only receives: as the helping province the overview refused it and the
        downloads answered with empty files."""
        guizhou = reference.jiangkou.parent.parent
        for url in ("/", "/export/yearly.json", "/export/pairings.csv"):
            response = official_client.get(f"{url}?helping_province={guizhou.pk}")
            assert response.status_code == 400, url
            assert "请选择有效的选项" in response.content.decode(), url
        response = official_client.get(f"/export/yearly.json?assisted_province={guizhou.pk}")
        assert response.status_code == 200

    @pytest.mark.parametrize("page", ["pairing", "region", "donor"])
    def test_every_filtered_page_refuses_bad_filters(self, official_client, reference, page):
        pk = {
            "pairing": reference.pairing.pk,
            "region": reference.jiangkou.pk,
            "donor": reference.town_government.pk,
        }[page]
        response = official_client.get(f"/{page}s/{pk}/?year_to=x", HTTP_HX_REQUEST="true")
        assert response.status_code == 400
        assert "请选择 1990 年至" in page_text(response) and "输入整数" not in page_text(response)

    @pytest.mark.parametrize("page", ["", "pairings/{pairing}/", "regions/{region}/"])
    def test_back_to_refused_filters_shows_them_refused(self, official_client, reference, page):
        """Back to an address whose filters were refused: htmx asks for the whole page (a
        history restore) and shows only a 2xx answer, so the 400 page was dropped, the address
        changed and the page kept the figures of other filters. It is sent as a 200, saying
        what was refused."""
        url = "/" + page.format(pairing=reference.pairing.pk, region=reference.jiangkou.pk)
        query = "?year_from=2025&year_to=2022"
        restored = official_client.get(
            url + query, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
        )
        assert restored.status_code == 200
        text = page_text(restored)
        assert "<html" in text and "截止年份不得早于起始年份" in text
        assert official_client.get(url + query).status_code == 400  # any other request
        assert official_client.get(url + query, HTTP_HX_REQUEST="true").status_code == 400

    def test_unknown_objects_are_404(self, official_client, reference):
        for url in ["/pairings/999999/", "/regions/999999/", "/visits/999999/", "/donors/999999/"]:
            assert official_client.get(url).status_code == 404


class TestHtmx:
    URL = "/pairings/{pk}/?year_from=2023"

    def test_an_htmx_request_gets_the_fragment(self, official_client, reference):
        itemise(reference.donation, Decimal("200000.00"), reference.qixin)  # a village to chart
        response = official_client.get(
            self.URL.format(pk=reference.pairing.pk), HTTP_HX_REQUEST="true"
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert "<html" not in body
        assert body.lstrip().startswith('<div id="panel"')
        assert 'id="pairing-chart"' in body
        assert "HX-Request" in response["Vary"]

    @pytest.mark.parametrize("page", ["pairing", "region", "donor"])
    def test_a_filter_change_carries_the_pages_links_along(self, official_client, reference, page):
        """The breadcrumbs and the links above the form (a pairing's sides, a region's
        pairings, a donor's region) stand outside the panel a filter change swaps: they kept
        the filters of the page as first loaded. The panel carries them out of band."""
        url = {
            "pairing": f"/pairings/{reference.pairing.pk}/",
            "region": f"/regions/{reference.jiangkou.pk}/",
            "donor": f"/donors/{reference.town_government.pk}/",
        }[page]
        query = "?year_from=2023&amp;category=education"
        fragment = official_client.get(
            url + "?year_from=2023&category=education", HTTP_HX_REQUEST="true"
        ).content.decode()
        heading = fragment.split('<div id="heading" hx-swap-oob="true">')[1].split("</dl>")[0]
        links = re.findall(r'href="([^"]*)"', heading)
        assert links and all(link.endswith(query) for link in links), links
        assert f'href="/{query}"' in heading  # the overview's breadcrumb
        # the whole page has its heading once, in place, not out of band
        whole = official_client.get(url + "?year_from=2023&category=education").content.decode()
        assert whole.count('id="heading"') == 1 and "hx-swap-oob" not in whole
        reset = official_client.get(url, HTTP_HX_REQUEST="true").content.decode()
        heading = reset.split('<div id="heading" hx-swap-oob="true">')[1].split("</dl>")[0]
        assert "year_from" not in heading  # Reset: the links drop the filters too

    def test_a_plain_request_gets_the_whole_page(self, official_client, reference):
        response = official_client.get(self.URL.format(pk=reference.pairing.pk))
        assert "<html" in response.content.decode()
        assert "HX-Request" in response["Vary"]

    def test_a_history_restore_gets_the_whole_page(self, official_client, reference):
        response = official_client.get(
            self.URL.format(pk=reference.pairing.pk),
            HTTP_HX_REQUEST="true",
            HTTP_HX_HISTORY_RESTORE_REQUEST="true",
        )
        assert "<html" in response.content.decode()

    def test_chart_data_travels_as_json_in_the_fragment(self, official_client, reference):
        itemise(reference.donation, Decimal("200000.00"), reference.qixin)
        response = official_client.get(
            self.URL.format(pk=reference.pairing.pk), HTTP_HX_REQUEST="true"
        )
        chart = response.context["chart"]
        # the villages with a known amount: not the five whose shares are unknown (no bar
        # rather than a bar of 0), nor the 85万 not itemised (the table has it)
        assert chart["labels"] == ["齐心村"]
        assert chart["datasets"][0]["label"] == "2023"
        assert chart["datasets"][0]["data"] == ["20.00"]
        body = response.content.decode()
        assert '<script id="pairing-chart" type="application/json">' in body
        # No inline script that runs: only the JSON data block.
        assert re.findall(r"<script(?![^>]*application/json)", body) == []

    def test_a_form_sent_without_javascript_leaves_only_the_chosen_filters(
        self, official_client, reference
    ):
        # A browser without JavaScript sends every field of the filter form, chosen or not.
        pk = reference.pairing.pk
        sent = f"/pairings/{pk}/?year_from=2023&year_to=&category=&kind=funds&funding=&page="
        response = official_client.get(sent)
        assert response.status_code == 302
        assert response["Location"] == f"/pairings/{pk}/?year_from=2023&kind=funds"
        nothing_chosen = official_client.get("/?year_from=&year_to=&category=")
        assert nothing_chosen["Location"] == "/"
        downloads = official_client.get("/export/yearly.csv?year_from=2023&category=")
        assert downloads["Location"] == "/export/yearly.csv?year_from=2023"
        # The page it leads to builds its links from the chosen filters alone.
        page = official_client.get(response["Location"]).content.decode()
        assert "year_from=2023&amp;kind=funds" in page
        assert "year_to=" not in page and "category=&" not in page

    def test_htmx_requests_are_answered_as_sent(self, official_client, reference):
        # dashboard.js drops empty filters before sending; one sent anyway is answered, and
        # the panel's links still leave it out.
        response = official_client.get(
            f"/pairings/{reference.pairing.pk}/?year_from=2023&category=",
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert "/export/visits.json?year_from=2023&amp;pairing=" in body
        assert "category=" not in body

    def test_a_full_page_has_no_inline_scripts(self, official_client, reference):
        body = official_client.get(f"/pairings/{reference.pairing.pk}/").content.decode()
        for tag in re.findall(r"<script[^>]*>", body):
            assert "src=" in tag or "application/json" in tag, tag
        assert "hx-on" not in body


class TestAccess:
    def test_signing_in_is_required_by_default(self, client, reference):
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/")

    def test_an_htmx_request_without_a_session_redirects_the_window(self, client, reference):
        """After signing in, the official is back on what they asked for: a filter chosen as
        the session ran out was lost (the window's address is still the one before it)."""
        page = f"/pairings/{reference.pairing.pk}/"
        response = client.get(
            page,
            {"year_from": "2023", "year_to": "2024", "category": ""},
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=f"http://testserver{page}?year_from=2023",
        )
        login = urlsplit(response["HX-Redirect"])
        assert login.path == "/accounts/login/"
        assert parse_qs(login.query) == {"next": [f"{page}?year_from=2023&year_to=2024"]}
        # a panel loaded into the page: back to the page, not to the panel alone
        response = client.get(
            f"{page}targets/",
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=f"http://testserver{page}?year_from=2023",
        )
        login = urlsplit(response["HX-Redirect"])
        assert parse_qs(login.query) == {"next": [f"{page}?year_from=2023"]}

    def test_dashboard_public_opens_it_to_everyone(self, client, reference, settings):
        settings.DASHBOARD_PUBLIC = True
        assert client.get("/").status_code == 200
        assert client.get(f"/pairings/{reference.pairing.pk}/").status_code == 200
        assert client.get("/admin/").status_code == 302

    def test_officials_sign_in_with_the_admin_accounts(self, client, official, reference):
        response = client.post(
            "/accounts/login/",
            {"username": "official", "password": "pw-Official-1", "next": "/"},
        )
        assert response.status_code == 302
        assert client.get("/").status_code == 200


class TestLanguage:
    def test_choice_labels_follow_the_active_language(self):
        # Each field's labels are kept (models.ChoiceLabels), but translated at each call.
        donation = Donation(kind="both", category="medical")
        with translation.override("zh-hans"):
            chinese = donation.get_kind_display(), donation.get_category_display()
        with translation.override("en"):
            english = donation.get_kind_display(), donation.get_category_display()
        assert chinese == ("资金及物资（未拆分）", "医疗")
        assert english == ("funds and materials (not split)", "medical care")
        assert Donation(kind="retired").get_kind_display() == "retired"  # as Django's

    def test_chinese_is_the_default(self, official_client, reference):
        text = page_text(official_client.get("/"))
        assert '<html lang="zh-Hans">' in text
        assert "总览" in text and "万元" in text

    def test_english_on_request_keeps_the_page_and_filters(self, official_client, reference):
        target = f"/pairings/{reference.pairing.pk}/?year_from=2023&category=unspecified"
        response = official_client.post("/i18n/setlang/", {"language": "en", "next": target})
        assert response.status_code == 302 and response["Location"] == target
        text = page_text(official_client.get(target))
        assert "Aid per village and year" in text
        assert "Not itemised to a village" in text
        assert "2023-01-10" in page_text(official_client.get(f"/visits/{reference.visit.pk}/"))

    def test_recorded_chinese_is_marked_as_such_on_english_pages(self, official_client, sample):
        """On an English page, the records' names, titles and notes are Chinese: each is marked
        lang="zh-Hans", so that a screen reader reads it with a Chinese voice, not spelt out
        by the page's English one (WCAG 3.1.2). Chinese pages need no mark."""
        from html.parser import HTMLParser

        class Unmarked(HTMLParser):
            """Text holding a Han character whose nearest language is not Chinese."""

            skipped = {"title", "script", "style", "option", "textarea"}
            void = {"br", "img", "input", "meta", "link", "hr", "col", "source", "wbr"}

            def __init__(self):
                super().__init__()
                self.stack, self.found = [], []

            def handle_starttag(self, tag, attrs):
                if tag not in self.void:
                    self.stack.append((tag, dict(attrs).get("lang")))

            def handle_endtag(self, tag):
                while self.stack and self.stack.pop()[0] != tag:
                    pass

            def handle_data(self, data):
                if not re.search(r"[\u4e00-\u9fff]", data):
                    return
                if any(tag in self.skipped for tag, _lang in self.stack):
                    return
                language = next((lang for _tag, lang in reversed(self.stack) if lang), "")
                if language.lower() != "zh-hans":
                    self.found.append(data.strip())

        reference = sample
        visit = reference.visit
        pages = [
            "/",
            f"/pairings/{reference.pairing.pk}/",
            f"/pairings/{reference.pairing.parent.parent.pk}/",
            f"/pairings/{reference.pairing.pk}/targets/?year=2023",
            f"/pairings/{reference.pairing.pk}/report/2023/",
            f"/regions/{reference.qixin.pk}/",
            f"/regions/{reference.pairing.assisted_region.pk}/",
            f"/donors/{visit.donations.first().donors.first().pk}/",
            f"/visits/{visit.pk}/",
            f"/visits/{visit.pk}/record/",
            "/search/?q=江口",
            "/targets/?year=2023",
        ]
        for url in pages:
            response = official_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
            assert response.status_code == 200, url
            parser = Unmarked()
            parser.feed(response.content.decode())
            assert parser.found == [], url
        chinese = official_client.get(f"/visits/{visit.pk}/").content.decode()
        assert 'lang="zh-Hans">' not in chinese.split("<body", 1)[1]

    def test_the_chinese_marks_escape_what_they_mark(self):
        from django.utils.safestring import mark_safe

        from partnerships.templatetags.dashboard import zh, zh_terms

        with translation.override("en"):
            assert zh("<江口>") == '<span lang="zh-Hans">&lt;江口&gt;</span>'
            assert zh("Not itemised") == "Not itemised"
            assert zh_terms("teacher (支教) & <b>") == (
                'teacher (<span lang="zh-Hans">支教</span>) &amp; &lt;b&gt;'
            )
            # markup is escaped too, rather than marked inside its tags' attributes
            assert zh_terms(mark_safe('<b title="江口">x</b>')) == (
                '&lt;b title=&quot;<span lang="zh-Hans">江口</span>&quot;&gt;x&lt;/b&gt;'
            )
        with translation.override("zh-hans"):
            assert zh("<江口>") == "&lt;江口&gt;" and zh_terms("支教") == "支教"

    def test_counts_and_punctuation_follow_the_language(self, official_client, reference):
        """Recorded names stay as recorded; the marks and plurals around them are the page's."""
        pairing, visit = f"/pairings/{reference.pairing.pk}/", f"/visits/{reference.visit.pk}/"
        # two named members, as staff might record them (the report names none)
        reference.visit.members.set(Person.objects.filter(name__in=["杨俊丽", "沈琦"]))
        english = page_text(official_client.get(pairing, HTTP_ACCEPT_LANGUAGE="en"))
        assert "1 visit and 2 meetings in all." in english  # no years chosen
        english = page_text(
            official_client.get(f"{pairing}?year_from=2023", HTTP_ACCEPT_LANGUAGE="en")
        )
        assert "1 visit and 2 meetings in the selected years." in english
        english = page_text(official_client.get(visit, HTTP_ACCEPT_LANGUAGE="en"))
        assert '<dd><span lang="zh-Hans">黄淦洪 (樟木头镇党委书记)</span></dd>' in english
        assert (
            '<span lang="zh-Hans">杨俊丽 (樟木头镇副镇长)</span>, '
            '<span lang="zh-Hans">沈琦 (樟木头镇副镇长)</span></dd>'
        ) in english
        assert "负责人</span> (size not reported)</dd>" in english
        record = page_text(official_client.get(f"{visit}record/", HTTP_ACCEPT_LANGUAGE="en"))
        assert ")</span> chair" in record and ")</span>chair" not in record
        chinese = page_text(official_client.get(pairing, HTTP_ACCEPT_LANGUAGE="zh-hans"))
        assert "共有考察交流 1 次、座谈会 2 场。" in chinese and "所选年份" not in chinese
        chinese = page_text(official_client.get(f"{pairing}?year_to=2023"))
        assert "所选年份内共有考察交流 1 次、座谈会 2 场。" in chinese
        assert "所选年份内无考察交流或座谈会。" in page_text(
            official_client.get(f"{pairing}?year_to=2022")
        )
        chinese = page_text(official_client.get(visit, HTTP_ACCEPT_LANGUAGE="zh-hans"))
        assert "杨俊丽（樟木头镇副镇长）、沈琦（樟木头镇副镇长）</dd>" in chinese
        assert "负责人（人数未见报道）</dd>" in chinese


def test_a_one_day_visit_gives_its_day_once_and_dates_its_meetings(official_client, reference):
    day = datetime.date(2024, 4, 12)
    visit = Visit.objects.create(
        partnership=reference.pairing, direction="east_to_west", start_date=day, end_date=day
    )
    Meeting.objects.create(partnership=reference.pairing, visit=visit, title="一日座谈会")
    once = '<time datetime="2024-04-12">2024年4月12日</time>'
    for url in (
        f"/visits/{visit.pk}/",
        f"/visits/{visit.pk}/record/",
        f"/pairings/{reference.pairing.pk}/",
    ):
        text = page_text(official_client.get(url))
        assert once in text and f"{once}–" not in text, url
        assert "2024年4月12日–2024年4月12日" not in text, url
        meeting = text.split("一日座谈会")[0].rsplit("<li", 1)[-1] if "pairings" in url else text
        assert "具体日期未见报道" not in meeting, url  # the meeting's day is the visit's
    # a delegation without a description: its size alone, not in brackets after nothing
    assert "<dd>人数未见报道</dd>" in page_text(official_client.get(f"/visits/{visit.pk}/"))
    # a meeting of a longer visit, without its own day, still says the day is not reported
    visit_page = page_text(official_client.get(f"/visits/{reference.visit.pk}/"))
    assert "考察期间（具体日期未见报道）" in visit_page


def test_the_timeline_shows_the_newest_of_many_visits_and_meetings(
    reference, django_assert_num_queries, official_client
):
    """More visits and meetings than the list holds, in the pairing and its child pairing:
    the 50 newest of both, newest first, each with its pairing's name at hand; the counts
    are of all of them. (The newest are chosen before their pairings are joined.)"""
    start = datetime.date(2027, 1, 1)  # after the reference visit
    for i in range(60):  # more than the list holds of each
        day = start + datetime.timedelta(days=20 * i)
        pairing = reference.town_pairing if i % 2 else reference.pairing
        Visit.objects.create(
            partnership=pairing, direction="east_to_west", start_date=day, end_date=day
        )
        Meeting.objects.create(
            partnership=pairing, date=day + datetime.timedelta(days=3), title=f"会{i}"
        )
    timeline = reports.timeline(filters=reports.Filters(), partnership=reference.pairing)
    mine = [reference.pairing, reference.town_pairing]
    visits = Visit.objects.filter(partnership__in=mine)
    meetings = Meeting.objects.filter(partnership__in=mine)
    assert (timeline["visit_count"], timeline["meeting_count"]) == (
        visits.count(),
        meetings.count(),
    )
    assert timeline["truncated"]
    newest = sorted(
        [("visit", visit.start_date, visit.pk) for visit in visits.filter(start_date__gte=start)]
        + [("meeting", meeting.date, meeting.pk) for meeting in meetings.filter(date__gte=start)],
        key=lambda entry: entry[1],
        reverse=True,
    )[:50]
    entries = timeline["entries"]
    assert [(entry["kind"], entry["date"], entry["item"].pk) for entry in entries] == newest
    with django_assert_num_queries(0):
        names = {str(entry["item"].partnership) for entry in entries}
    assert names == {str(pairing) for pairing in mine}
    # the page says how many it lists ("座谈会 179 场。 仅显示最近的记录。": a space after
    # the full stop, and no word of how many)
    for i in range(51):  # within the years a page offers (those above are after this one)
        day = datetime.date(2025, 1, 1) + datetime.timedelta(days=7 * i)
        Visit.objects.create(
            partnership=reference.pairing, direction="east_to_west", start_date=day, end_date=day
        )
    page = page_text(official_client.get(f"/pairings/{reference.pairing.pk}/?year_to=2026"))
    assert "场。下面列出最近的 50 条。" in page


class TestSampleTotals:
    def test_on_screen_totals_equal_the_database_to_the_fen(self, official_client, sample):
        overview = official_client.get("/")
        expected = Donation.objects.aggregate(total=Sum("amount"))["total"]
        assert overview.context["headline"].total == expected
        assert grand_totals(overview) == [expected]
        for pairing in Partnership.objects.all():
            response = official_client.get(f"/pairings/{pairing.pk}/")
            in_tree = Donation.objects.filter(partnership__path__startswith=pairing.path)
            expected = in_tree.aggregate(total=Sum("amount"))["total"] or Decimal("0.00")
            assert grand_totals(response) == [expected], str(pairing)
            table = response.context["table"]
            villages = DonationLine.objects.filter(
                donation__in=in_tree, region__level=Region.Level.VILLAGE
            ).aggregate(total=Sum("amount"))["total"] or Decimal("0.00")
            assert sum((row.total for row in table.rows), Decimal(0)) == villages
        county = Region.objects.get(name="示例西县")
        response = official_client.get(f"/regions/{county.pk}/")
        expected = DonationLine.objects.filter(region__path__startswith=county.path).aggregate(
            total=Sum("amount")
        )["total"]
        assert grand_totals(response) == [expected]


class TestQueryCounts:
    """Every page and fragment costs the same number of queries whatever the data size."""

    def pages(self, reference):
        town = reference.minxiao
        return [
            "/",
            "/reach/",
            f"/pairings/{reference.pairing.pk}/",
            f"/pairings/{Partnership.objects.get(name='粤黔').pk}/",
            f"/regions/{reference.jiangkou.pk}/",
            f"/regions/{town.pk}/",
            f"/regions/{reference.qixin.pk}/",
            f"/donors/{reference.town_government.pk}/",
            f"/donors/{reference.red_cross.pk}/",  # a recipient
            f"/visits/{reference.visit.pk}/",
        ]

    def grow(self, reference, start, count):
        for i in range(start, start + count):
            village = Region.objects.create(name=f"新村{i}", level=5, parent=reference.minxiao)
            Partnership.objects.create(
                helping_region=reference.zhangmutou,
                assisted_region=village,
                parent=reference.town_pairing,
            )
            donor = Organisation.objects.create(
                name=f"企业{i}", kind="enterprise", region=reference.zhangmutou
            )
            visit = Visit.objects.create(
                partnership=reference.town_pairing,
                direction="east_to_west",
                start_date=datetime.date(2015 + i % 10, 3, 1),
                end_date=datetime.date(2015 + i % 10, 3, 2),
            )
            Meeting.objects.create(partnership=reference.pairing, visit=visit, title=f"会{i}")
            Meeting.objects.create(
                partnership=reference.pairing, visit=reference.visit, title=f"会议{i}"
            )
            for year in (2015 + i % 10, 2023):
                donation = Donation.objects.create(
                    partnership=reference.town_pairing,
                    date=datetime.date(year, 3, 1),
                    amount=Decimal("1000.07") * (i + 1),
                    kind="funds",
                    region=reference.minxiao,
                    visit=visit if year == visit.start_date.year else None,
                )
                donation.donors.set([donor, reference.town_government])
                donation.recipient_regions.set([village, reference.minxiao])
                itemise(donation, Decimal("100.01"), village, donor=donor)
            extra = Donation.objects.create(
                partnership=reference.pairing,
                visit=reference.visit,
                amount=Decimal("10.00"),
                kind="materials",
                region=village,
            )
            extra.donors.set([donor])
            extra.recipient_regions.set([village])
            extra.recipient_organisations.set([reference.red_cross])
            extra.rebalance()

    def test_query_counts_do_not_grow_with_villages_and_years(self, official_client, reference):
        self.grow(reference, 0, 2)
        urls = self.pages(reference)
        fragments = [(url, {"HTTP_HX_REQUEST": "true"}) for url in urls]
        small = [count_queries(official_client, url) for url in urls]
        small_fragments = [
            count_queries(official_client, url, **headers) for url, headers in fragments
        ]
        self.grow(reference, 2, 25)
        assert [count_queries(official_client, url) for url in urls] == small
        assert [
            count_queries(official_client, url, **headers) for url, headers in fragments
        ] == small_fragments


class TestReach:
    """The overview's villages reached and donors, loaded once the page is shown."""

    def test_the_overview_loads_them_with_its_filters(self, official_client, reference):
        page = official_client.get("/?year_from=2023&kind=both").content.decode()
        assert 'hx-get="/reach/?year_from=2023&amp;kind=both"' in page
        assert 'hx-trigger="load"' in page

    def test_the_counts_follow_the_filters(self, official_client, reference):
        def reach(query=""):
            response = official_client.get(f"/reach/{query}", HTTP_HX_REQUEST="true")
            assert response.status_code == 200
            assert "<html" not in response.content.decode()  # the panel alone
            return reports.Reach(*reach_counts(response))

        # The reference names six villages among the recipients, and eight donors.
        assert reach() == reports.Reach(villages=6, donors=8)
        assert reach("?year_from=2024") == reports.Reach(villages=0, donors=0)
        itemise(reference.donation, Decimal("10.00"), reference.qixin)
        village = Region.objects.create(name="新村", level=5, parent=reference.minxiao)
        itemise(reference.donation, Decimal("10.00"), village)
        assert reach().villages == 7  # 齐心村 was named already
        guizhou = Region.objects.get(name="贵州省")
        assert reach(f"?assisted_province={guizhou.pk}").villages == 7

    def test_without_htmx_it_is_a_page_of_its_own(self, official_client, reference):
        response = official_client.get("/reach/?year_from=2023")
        assert response.status_code == 200
        text = page_text(response)
        assert "覆盖村" in text or "Villages reached" in text
        assert 'href="/?year_from=2023"' in response.content.decode()

    def test_bad_filters_are_refused_in_words(self, official_client, reference):
        response = official_client.get("/reach/?year_from=abc", HTTP_HX_REQUEST="true")
        assert response.status_code == 400
        assert "请选择 1990 年至" in response.content.decode()

    def test_a_scoped_official_counts_their_pairings_only(
        self, client, django_user_model, reference
    ):
        from django.contrib.auth.models import Group

        from partnerships.access import OFFICIAL_ASSIGNED
        from partnerships.models import Assignment

        user = django_user_model.objects.create_user(username="town", password="pw-Town-12345")
        user.groups.add(Group.objects.get(name=OFFICIAL_ASSIGNED))
        Assignment.objects.create(user=user, partnership=reference.town_pairing)
        client.force_login(user)
        response = client.get("/reach/", HTTP_HX_REQUEST="true")
        assert reach_counts(response) == (0, 0)


class TestOverviewPairingList:
    """The overview lists whole levels of pairings up to about 100 rows; those further down
    are counted on the row above them and listed on its page."""

    def grow(self, reference, count):
        """`count` village pairings under the reference town pairing, the fifth level."""
        children = []
        for i in range(count):
            village = Region.objects.create(name=f"新村{i}", level=5, parent=reference.minxiao)
            children.append(
                Partnership.objects.create(
                    helping_region=reference.zhangmutou,
                    assisted_region=village,
                    parent=reference.town_pairing,
                )
            )
        return children

    def test_every_level_is_listed_while_it_fits(self, official_client, reference):
        self.grow(reference, 3)
        response = official_client.get("/")
        rows = response.context["pairings"]
        assert [row.depth for row in rows] == [0, 1, 2, 3, 4, 4, 4]
        assert response.context["pairings_not_listed"] == 0
        assert not any(row.not_listed_below for row in rows)

    def test_a_level_that_does_not_fit_is_counted_on_the_row_above(
        self, official_client, reference
    ):
        from partnerships.views import OVERVIEW_PAIRING_ROWS

        children = self.grow(reference, OVERVIEW_PAIRING_ROWS)
        Donation.objects.create(
            partnership=children[-1],
            date=datetime.date(2024, 5, 1),
            amount=Decimal("0.01"),  # the only donation below the listed levels
            kind="funds",
            region=children[-1].assisted_region,
        )
        response = official_client.get("/")
        rows = response.context["pairings"]
        assert [str(row.partnership) for row in rows] == [
            "粤黔（广东省—贵州省）",
            "莞铜（东莞市—铜仁市）",
            "樟木头镇—江口县",
            "樟木头镇—闵孝镇",
        ]
        assert [row.not_listed_below for row in rows] == [0, 0, 0, OVERVIEW_PAIRING_ROWS]
        assert response.context["pairings_not_listed"] == OVERVIEW_PAIRING_ROWS
        # A pairing left out still counts in the totals of those above it.
        below = Decimal("0.01")
        assert [row.total for row in rows] == [reference.donation.amount + below] * 3 + [below]
        page = response.content.decode()
        assert f'href="/pairings/{children[0].pk}/' not in page
        assert f"另有 {OVERVIEW_PAIRING_ROWS} 个下级结对" in page
        assert "下级结对未在此列出" in page
        # One click away: the town pairing's page lists them all.
        town = official_client.get(f"/pairings/{reference.town_pairing.pk}/")
        assert len(town.context["children"]) == OVERVIEW_PAIRING_ROWS
        assert f'href="/pairings/{children[0].pk}/' in town.content.decode()

    def test_depth_counts_from_what_the_user_may_see(self, reference):
        from partnerships import access, reports

        self.grow(reference, 2)
        scoped = reports.Filters(scope=access.Scope((reference.pairing.path,)))
        rows = reports.pairing_totals(filters=scoped, max_rows=3)
        assert [(str(row.partnership), row.depth, row.not_listed_below) for row in rows] == [
            ("樟木头镇—江口县", 0, 0),
            ("樟木头镇—闵孝镇", 1, 2),
        ]


class TestErrorPages:
    """Errors speak the user's language inside the site, with a way back."""

    def test_a_missing_page_says_so_in_chinese_with_the_site_around_it(self, official_client):
        response = official_client.get("/pairings/999999/")
        assert response.status_code == 404
        text = page_text(response)
        assert '<html lang="zh-Hans">' in text
        assert "找不到页面" in text and "返回总览" in text
        assert 'class="site-header"' in text  # signing out and the language switch are there

    def test_and_in_english_on_request(self, official_client):
        response = official_client.get("/visits/999999/", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 404
        assert "Page not found" in page_text(response)

    def test_staff_find_their_way_back_to_data_entry(self, admin_client, official_client):
        response = admin_client.get("/admin/partnerships/donation/999999/history/")
        assert response.status_code == 404
        assert "返回数据录入" in page_text(response)
        assert "返回数据录入" not in page_text(official_client.get("/pairings/999999/"))

    def test_an_expired_form_says_nothing_was_saved(self, official):
        client = Client(enforce_csrf_checks=True)
        client.force_login(official)
        response = client.post("/accounts/logout/")
        assert response.status_code == 403
        text = page_text(response)
        assert "表单已过期" in text and "没有保存任何内容" in text

    def test_the_server_error_page_needs_no_request(self):
        text = render_to_string("500.html")
        assert "服务器出错" in text and "Server error" in text


def test_a_year_asked_for_in_the_address_shows_as_chosen(official_client, reference):
    """A bookmark to 1995-2000 (no data then) must not look like "earliest to latest"."""
    response = official_client.get("/?year_from=1995&year_to=2000")
    assert response.status_code == 200
    text = page_text(response)
    assert '<option value="1995" selected>1995</option>' in text
    assert '<option value="2000" selected>2000</option>' in text
    assert official_client.get("/?year_from=1066").status_code == 400
    assert official_client.get("/?year_from=²").status_code == 400  # a digit int() refuses


def test_a_helping_town_links_to_the_pairings_it_is_a_side_of(official_client, reference):
    """樟木头镇 received nothing: its page says so and leads to what it gave."""
    text = page_text(official_client.get(f"/regions/{reference.zhangmutou.pk}/"))
    assert f'href="/pairings/{reference.pairing.pk}/"' in text
    assert f'href="/pairings/{reference.town_pairing.pk}/"' in text
    assert "（帮扶方）" in text and "结对关系页面" in text
    village = page_text(official_client.get(f"/regions/{reference.jiangkou.pk}/"))
    assert "（受帮扶方）" in village and "结对关系页面" not in village


def test_handovers_without_a_day_come_after_the_dated_ones_of_their_year(
    official_client, admin_client, reference
):
    """On PostgreSQL a year's handovers known only by their visit (no day reported) came first,
    ahead of every dated one (NULLs first in a descending order); on SQLite last."""
    dated = handover(
        reference.pairing,
        reference.jiangkou,
        "1000.00",
        datetime.date(2023, 3, 1),
        [reference.town_government],
    )
    older = handover(reference.pairing, reference.jiangkou, "500.00", datetime.date(2022, 5, 1))
    expected = [dated.pk, reference.donation.pk, older.pk]
    assert list(Donation.objects.values_list("pk", flat=True)) == expected
    for path in (
        f"/regions/{reference.jiangkou.pk}/",
        f"/donors/{reference.town_government.pk}/",
    ):
        listed = official_client.get(path).context["page"].object_list
        shown = [d.pk for d in listed]
        assert [pk for pk in shown if pk in expected] == [pk for pk in expected if pk in shown]
        assert shown.index(dated.pk) < shown.index(reference.donation.pk), path
    changelist = admin_client.get("/admin/partnerships/donation/")
    assert [d.pk for d in changelist.context["cl"].result_list] == expected
    # A visit's own page lists its handovers by day, those without one after.
    dated.visit = reference.visit
    dated.date = datetime.date(2023, 1, 11)
    dated.save()
    visit_page = official_client.get(f"/visits/{reference.visit.pk}/")
    assert [d.pk for d in visit_page.context["donations"]] == [dated.pk, reference.donation.pk]


def test_years_before_any_record_or_after_this_year_are_no_columns(official_client, reference):
    """?year_from=2000 gave a pairing's table 23 columns of 0.00 before the first record."""
    this_year = timezone.localdate().year
    pairing = f"/pairings/{reference.pairing.pk}/"
    asked = f"{pairing}?year_from=2000&year_to={this_year + 1}"
    assert official_client.get(asked).context["table"].years == list(range(2023, this_year + 1))
    # The chosen years stay as chosen in the form; figures are the same either way.
    page = page_text(official_client.get(f"{pairing}?year_from=2000"))
    assert '<option value="2000" selected>2000</option>' in page
    assert official_client.get(f"{pairing}?year_to=2023").context["table"].years == [2023]
    before = official_client.get(f"{pairing}?year_from=2000&year_to=2010").context["table"]
    assert before.years == [] and not before.total
    # Its download has the page's columns.
    download = official_client.get(
        f"/export/villages.csv?pairing={reference.pairing.pk}&year_from=2000"
    )
    header = b"".join(download.streaming_content).decode("utf-8-sig").splitlines()[0]
    assert "2000" not in header and "2022" not in header and "2023" in header


def test_a_share_not_given_below_a_town_marks_the_town_on_the_countys_page(
    official_client, reference
):
    """Found by review: 30万 to 坝盘镇, its 甲村 and 乙村, and 德旺乡's 丙村, 5万 itemised
    to 乙村. 甲村's and 丙村's shares are not given, so neither town's is: the county's
    table showed 坝盘镇 at 5.00 without "＋不详" and left 德旺乡 out, and 坝盘镇's own total
    read as known."""
    jiangkou = reference.jiangkou
    banpan = Region.objects.create(name="坝盘镇", level=Region.Level.TOWN, parent=jiangkou)
    dewang = Region.objects.create(name="德旺乡", level=Region.Level.TOWN, parent=jiangkou)
    jia, yi = (
        Region.objects.create(name=name, level=Region.Level.VILLAGE, parent=banpan)
        for name in ("甲村", "乙村")
    )
    bing = Region.objects.create(name="丙村", level=Region.Level.VILLAGE, parent=dewang)
    given = handover(reference.pairing, jiangkou, "300000.00", datetime.date(2024, 5, 1))
    given.recipient_regions.set([banpan, jia, yi, bing])
    itemise(given, Decimal("50000.00"), yi)
    county = official_client.get(f"/regions/{jiangkou.pk}/").context["table"]
    rows = {row.region.pk: row for row in county.rows}
    assert rows[banpan.pk].cells[-1] == Decimal("50000.00")
    assert rows[banpan.pk].unknown[-1] == 1  # 5.00 ＋不详
    assert dewang.pk in rows and rows[dewang.pk].unknown[-1] == 1  # 不详
    town = official_client.get(f"/regions/{banpan.pk}/").context["table"]
    assert town.unknown_shares == {2024: 1}
    by_village = {row.region.pk: row for row in town.rows}
    assert by_village[jia.pk].unknown[-1] == 1 and not any(by_village[yi.pk].unknown or [])
    # Once every named place's share is itemised, nothing is marked.
    itemise(given, Decimal("10000.00"), jia)
    itemise(given, Decimal("10000.00"), bing)
    county = official_client.get(f"/regions/{jiangkou.pk}/").context["table"]
    assert not any(any(row.unknown or []) for row in county.rows if row.region.pk == banpan.pk)
    assert official_client.get(f"/regions/{banpan.pk}/").context["table"].unknown_shares == {}
    # Given whole to the town, naming it and its 甲村: the town's figure is known (甲村's, on
    # the town's own page, is not), though no line goes to 甲村.
    given.delete()
    whole = handover(reference.pairing, jiangkou, "300000.00", datetime.date(2024, 6, 1))
    whole.recipient_regions.set([banpan, jia])
    itemise(whole, Decimal("300000.00"), banpan)
    county = official_client.get(f"/regions/{jiangkou.pk}/").context["table"]
    rows = {row.region.pk: row for row in county.rows}
    assert rows[banpan.pk].cells[-1] == Decimal("300000.00")
    assert not any(rows[banpan.pk].unknown or [])
    town = official_client.get(f"/regions/{banpan.pk}/").context["table"]
    assert town.unknown_shares == {}
    assert {row.region.pk: row for row in town.rows}[jia.pk].unknown[-1] == 1


def test_a_handover_naming_no_recipient_shows_its_receiving_region(official_client, reference):
    """A fifth of the generated handovers name only a receiving region: their recipients'
    cell was empty."""
    handover(reference.pairing, reference.jiangkou, "800.00", datetime.date(2023, 6, 1))
    for language, cell in (
        ("zh-hans", '>江口县</a><small class="note">（接收地区，未列出受赠方）</small></td>'),
        (
            "en",
            '><span lang="zh-Hans">江口县</span></a> '
            '<small class="note">(receiving region; no recipient named)</small>',
        ),
    ):
        page = page_text(
            official_client.get(f"/regions/{reference.jiangkou.pk}/", HTTP_ACCEPT_LANGUAGE=language)
        )
        assert cell in page, language
        assert page.count(cell) == 1  # not on the reference handover, which names them


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_the_donations_list_reads_its_order_from_the_index():
    """The admin's donations list reads one page from the index (131 ms at a million lines):
    the NULLS LAST order needs an index built NULLS LAST, or PostgreSQL sorts every row.

    Sorting is discouraged as well as reading the whole table: on the test database's few
    rows, after earlier tests left statistics of nine donations, PostgreSQL chose to read
    the year index and sort each year's rows (an incremental sort), which is right for nine
    rows. Without the index the plan still sorts, so the test still fails."""
    analyzed(Donation)
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_sort", "enable_incremental_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        plan = Donation.objects.order_by(*LIST_ORDER)[:100].explain()
    assert "donation_list_order" in plan and "Sort" not in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_a_years_first_and_last_day_are_two_index_lookups():
    """The donation list's date hierarchy, filtered by year, asks for MIN and MAX of the date:
    the list-order index (NULLS LAST) cannot give them, and PostgreSQL read the date index up
    to the year (0.3 s at a million lines); the (year, date) index does.

    The donations' other indexes are dropped inside the test's transaction (and come back
    with its rollback): on the test's few rows PostgreSQL rightly preferred reading the
    year's one entry from whichever index held the year (the list order, the pairing's
    figures). What is tested is that this index answers without a filter."""
    analyzed(Donation)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'partnerships_donation' "
            "AND indexname NOT IN ('donation_year_date', 'partnerships_donation_pkey')"
        )
        for (index,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{index}"')
        cursor.execute(
            "EXPLAIN SELECT MIN(date), MAX(date) FROM partnerships_donation WHERE year = 2023"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "donation_year_date" in plan and "Filter" not in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics")
def test_pairing_paths_keep_fine_statistics_and_region_paths_the_default():
    """Fixed-width paths share long prefixes: with default statistics a county pairing's
    subtree was estimated at 19 pairings, not 6, and its page read every donation. Region
    paths keep the default: 10,000 of their 54,767 paths made every LIKE on them cost 2–3.5 ms
    of planning, and region pages chose worse plans (migration 0029)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attrelid::regclass::text, COALESCE(attstattarget, -1) FROM pg_attribute "
            "WHERE attname = 'path' AND attrelid IN "
            "('partnerships_partnership'::regclass, 'partnerships_region'::regclass)"
        )
        assert dict(cursor.fetchall()) == {
            "partnerships_partnership": 10000,
            "partnerships_region": -1,
        }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
@pytest.mark.parametrize(
    "model, key, columns, grouped_by, figures, by_one, chosen",
    [
        # Migration 0030: a province pairing's 80,000 place rows were read from the table and
        # hashed against its pairings (136 → 90 ms at a million lines).
        (
            PlaceYearTotal,
            "place_year_total_key",
            "partnership_id, year, region_id",
            "region_id",
            ("amount", "lines", "unknown"),
            "partnerships_placeyeartotal_region_id_7cba598c",
            {},
        ),
        # Migration 0032: its 45,000 donor rows likewise (23 → 7–11 ms).
        (
            DonorYearTotal,
            "donor_year_total_key",
            "partnership_id, year, organisation_id",
            "organisation_id",
            ("amount", "sole", "count"),
            "partnerships_donoryeartotal_organisation_id_96d524b8",
            {},
        ),
        # Migration 0037: its place rows under one donor kind, 59,000 of 2.7 million (from
        # the table: 520 ms at a million lines, until its visibility map was set).
        (
            PlaceFacetYearTotal,
            "place_facet_year_total_key",
            "partnership_id, facet, value, year, region_id",
            "region_id",
            ("amount", "lines", "unknown"),
            "place_facet_year_total_region",  # migration 0042: by region first
            {"facet": "donor_kind", "value": "government"},
        ),
        # Migration 0038: its totals per child pairing under a donor kind (45 → 9 ms).
        (
            DonorKindSummary,
            "donor_kind_summary_key",
            "partnership_id, donor_kind, year, kind, category, funding",
            "partnership_id",
            ("amount", "count"),
            None,
            {"donor_kind": "government"},
        ),
        # Migration 0039: its donors under a category.
        (
            DonorFacetYearTotal,
            "donor_facet_year_total_key",
            "partnership_id, facet, value, year, organisation_id",
            "organisation_id",
            ("amount", "sole", "count"),
            "partnerships_donorfacetyeartotal_organisation_id_2012b3f8",
            {"facet": "category", "value": "other"},
        ),
        # Migration 0040: its yearly totals under a category (30 → 5 ms).
        (
            DonationSummary,
            "donation_summary_key",
            "partnership_id, year, kind, category, funding",
            "year",
            ("amount", "count"),
            None,
            {"category": "other"},
        ),
    ],
    ids=[
        "village figures",
        "top donors",
        "village figures by filter",
        "totals by donor kind",
        "top donors by filter",
        "totals by category",
    ],
)
def test_a_pairings_figures_come_from_the_totals_key_alone(
    reference, model, key, columns, grouped_by, figures, by_one, chosen
):
    """The stored totals' keys carry the figures, so a pairing's village table, top donors
    and yearly totals are read from the index alone.

    The index by region or donor alone is dropped inside the test's transaction (and comes
    back with its rollback): on the test's few rows PostgreSQL rightly preferred reading it,
    in the order the rows are grouped by, and the table. Without the figures in the key the
    key is read with the table, and the test fails."""
    rows = (
        model.objects.filter(partnership__path__startswith=reference.pairing.path, **chosen)
        .order_by()
        .values(grouped_by)
        .annotate(*(Sum(figure) for figure in figures))
    )
    sql, params = rows.query.sql_with_params()
    analyzed(model, Partnership)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        if by_one:
            cursor.execute(f"DROP INDEX {by_one}")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Only Scan using {key}" in plan, plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [key])
        (definition,) = cursor.fetchone()
    assert definition.endswith(f"({columns}) INCLUDE ({', '.join(figures)})"), definition


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_a_regions_table_and_count_come_from_the_index_by_region_alone(reference):
    """A region's table of places and the count of its list read the regions' totals by
    region, whose index carries the pairing and the figures (migration 0041): the pairings
    in view and the sums come from it without the table's pages."""
    region = reference.jiangkou.parent
    filters = reports.Filters()
    table = (
        filters.area_totals()
        .filter(region__in=Region.objects.filter(parent=region).values("pk"), lines__gt=0)
        .order_by()
        .values("region_id", "year")
        .annotate(Sum("amount"))
    )
    count = filters.area_totals().filter(region=region).values("year").annotate(Sum("handovers"))
    analyzed(AreaYearTotal, Region)
    for rows in (table, count):
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Index Only Scan using area_year_total_region" in plan, plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('area_year_total_region'::regclass)")
        (definition,) = cursor.fetchone()
    assert definition.endswith(
        "(region_id, year) INCLUDE (partnership_id, amount, lines, handovers)"
    ), definition


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_a_regions_table_under_a_filter_reads_its_places_by_region(reference):
    """Under a filter on what the donations are, a region's table sums the places' totals by
    filter of the places under it, of every pairing in view: read by region and value from
    an index carrying the pairing and the figures (migration 0042). Without it, PostgreSQL
    scanned all the places' totals by filter for a province's table (2.7 million rows at a
    million lines, 126 ms; 40 ms by region)."""
    region = reference.jiangkou.parent
    filters = reports.Filters(category="education")
    analyzed(PlaceFacetYearTotal, Region)
    with CaptureQueriesContext(connection) as queries:
        reports.region_year_table(filters=filters, region=region)
    (sql,) = [
        q["sql"] for q in queries.captured_queries if PlaceFacetYearTotal._meta.db_table in q["sql"]
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        # On the test's few rows PostgreSQL may as well read the whole key by its filter and
        # value (not at a million lines): dropped inside the test's transaction, the key is
        # back with its rollback. Its rows' checks first, as ALTER TABLE asks.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            f"ALTER TABLE {PlaceFacetYearTotal._meta.db_table} "
            "DROP CONSTRAINT place_facet_year_total_key"
        )
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT pg_get_indexdef('place_facet_year_total_region'::regclass)")
        (definition,) = cursor.fetchone()
    assert "Index Only Scan using place_facet_year_total_region" in plan, plan
    assert definition.endswith(
        "(region_id, facet, value, year) INCLUDE (partnership_id, amount, lines, unknown)"
    ), definition


def test_a_pairings_ancestors_cost_one_query_at_any_depth(
    official_client, reference, django_assert_num_queries
):
    """Walking up the parents cost two queries per level above the parent (the pairing and
    its two sides): three for a county pairing, six for a town's."""
    town_pairing = Partnership.objects.get(pk=reference.town_pairing.pk)
    with django_assert_num_queries(1):
        names = [str(pairing) for pairing in views._ancestors(town_pairing)]
    assert names == ["粤黔（广东省—贵州省）", "莞铜（东莞市—铜仁市）", "樟木头镇—江口县"]
    city_pairing = Partnership.objects.select_related(
        "parent__helping_region", "parent__assisted_region"
    ).get(name="莞铜")
    with django_assert_num_queries(0):  # its parent comes with it
        assert [str(pairing) for pairing in views._ancestors(city_pairing)] == names[:1]
    page = re.sub(r"<[^>]+>", "", page_text(official_client.get(f"/pairings/{town_pairing.pk}/")))
    assert "粤黔（广东省—贵州省） › 莞铜（东莞市—铜仁市） › 樟木头镇—江口县" in page


def test_a_filter_left_out_reads_as_one_left_empty(official_client, reference):
    """The dashboard's script leaves empty filters out of the address (a shared link names
    only what was chosen): each page, and its htmx panel, answer as if they were sent empty."""
    empty = "&year_to=&category=&donor_kind=&kind=&funding="
    pages = [
        ("/", "&helping_province=&assisted_province="),
        (f"/pairings/{reference.pairing.pk}/", ""),
        (f"/regions/{reference.jiangkou.pk}/", ""),
        (f"/donors/{reference.town_government.pk}/", ""),
    ]
    for path, more in pages:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            short = official_client.get(f"{path}?year_from=2023", **headers)
            full = official_client.get(
                f"{path}?year_from=2023{empty}{more}", follow=True, **headers
            )
            assert short.status_code == full.status_code == 200, path
            # Without htmx (a form sent without JavaScript) the address loses them first.
            chain = [] if headers else [(f"{path}?year_from=2023", 302)]
            assert full.redirect_chain == chain, path
            assert grand_totals(short) == grand_totals(full) != [], path
            assert '<option value="2023" selected>2023</option>' in page_text(short), path


@pytest.mark.parametrize("written", ["2023.0", "+2023", "２０２３", " 2023 "])
def test_a_year_written_otherwise_is_shown_chosen(official_client, reference, written):
    """The form read "2023.0" as 2023, but no option matched it: the filter showed
    "earliest" over figures from 2023, and the next change of a filter dropped the year."""
    from urllib.parse import quote

    response = official_client.get(f"/?year_from={quote(written)}")
    assert response.status_code == 200
    assert '<option value="2023" selected>2023</option>' in page_text(response)
    assert response.context["filters"].year_from == 2023


def test_a_chart_with_nothing_to_draw_says_so(official_client, reference):
    """/?donor_kind=school drew an empty 0–1 grid: a chart with no figure for the filters is
    now a line of text in its place, written by the server (no JavaScript needed)."""
    pk = reference.pairing.pk
    empty = [
        "/?donor_kind=school",
        "/?year_from=2000&year_to=2001",  # years shown, all of them 0.00
        f"/pairings/{pk}/?donor_kind=school",
        f"/regions/{reference.jiangkou.pk}/?year_from=2000&year_to=2001",
        f"/donors/{reference.town_government.pk}/?year_from=2000&year_to=2001",
    ]
    for path in empty:
        body = official_client.get(path).content.decode()
        assert "data-chart" not in body, path
        assert '<p class="note chart-empty">当前筛选条件下无数据。</p>' in body, path
    english = official_client.get("/?donor_kind=school", HTTP_ACCEPT_LANGUAGE="en")
    assert "No data for these filters." in english.content.decode()
    # with figures, the chart and no such line
    donor = reference.town_government
    for path in ("/", f"/regions/{reference.jiangkou.pk}/", f"/donors/{donor.pk}/"):
        body = official_client.get(path).content.decode()
        assert "data-chart" in body and "chart-empty" not in body, path


def test_a_village_chart_with_only_unknown_shares_does_not_say_no_data(official_client, reference):
    """The reference pairing's handover names six villages without their shares: its village
    chart has nothing to draw, but "no data for these filters" stood above a table of those
    villages at "unknown" and 105.00 not itemised to a village."""
    above = reference.pairing.parent  # the city pairing counts the same handover
    assert above is not None
    for path in (f"/pairings/{reference.pairing.pk}/", f"/pairings/{above.pk}/"):
        body = page_text(official_client.get(path))
        assert "data-chart" not in body and "当前筛选条件下无数据" not in body, path
        assert "在当前筛选条件下，没有哪个村的帮扶金额是已知数额，因此没有图表" in body, path
        assert "105.00" in body, path


def test_every_year_of_a_chart_has_its_own_colour(official_client, reference):
    """With years from 1990 a pairing's chart gave 1997, 2007 and 2017 one colour (year % 10):
    each year shown now has its own, the latest ten those of the colour-blind-safe palette."""
    from partnerships.charts import PALETTE

    itemise(reference.donation, Decimal("200000.00"), reference.qixin)
    # a record in 1990, or a table leaves out the years before the first one
    handover(reference.pairing, reference.qixin, "10.00", datetime.date(1990, 6, 1))
    chart = official_client.get(f"/pairings/{reference.pairing.pk}/?year_from=1990").context[
        "chart"
    ]
    colours = {int(dataset["label"]): dataset["color"] for dataset in chart["datasets"]}
    assert min(colours) == 1990 and len(colours) > 30
    assert len(set(colours.values())) == len(colours)
    assert len({colours[1997], colours[2007], colours[2017]}) == 3
    latest = sorted(colours, reverse=True)[: len(PALETTE)]
    assert [colours[year] for year in latest] == PALETTE
    # distinct however many years a chart shows, and a year keeps its colour when the
    # range widens to earlier years
    from partnerships.charts import year_colours

    assert len(set(year_colours(range(1990, 2050)).values())) == 60
    assert year_colours(range(2015, 2027))[2020] == year_colours(range(1990, 2027))[2020]


def test_headline_counts_have_thousands_separators(official_client, reference, monkeypatch):
    """考察交流 8798, 座谈会 13201 and 覆盖村 19549 had no separators beside 3,859,092.12:
    counts now read 8,798, in either language."""
    from dataclasses import replace

    headline, reach = reports.headline, reports.reach
    monkeypatch.setattr(
        reports, "headline", lambda **kw: replace(headline(**kw), visits=8798, meetings=13201)
    )
    monkeypatch.setattr(
        reports, "reach", lambda **kw: replace(reach(**kw), villages=19549, donors=1234567)
    )
    for language in ("zh-hans", "en"):
        overview = official_client.get("/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert '<span class="value">8,798</span>' in overview, language
        assert '<span class="value">13,201</span>' in overview, language
        panel = official_client.get("/reach/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert '<span class="value">19,549</span>' in panel, language
        assert '<span class="value">1,234,567</span>' in panel, language


def test_the_charts_legend_names_kinds_as_the_table_does(official_client, reference):
    """The English legend said "funds" and "materials" where the table's header says "Funds"."""
    handover(reference.pairing, reference.qixin, "500.00", datetime.date(2024, 5, 1))
    for language, labels in (
        ("en", ["Funds", "Funds and materials (not split)"]),
        ("zh-hans", ["资金", "资金及物资（未拆分）"]),
    ):
        response = official_client.get("/", HTTP_ACCEPT_LANGUAGE=language)
        legend = [dataset["label"] for dataset in response.context["chart"]["datasets"]]
        assert legend == labels, language
        headers = re.findall(r'<th scope="col" class="num">([^<]+)</th>', page_text(response))
        assert set(labels) <= set(headers), (language, headers)


def pager_links(response) -> dict[str, str]:
    """The pager's links by their rel (first, prev, next, last): each href, checked to be
    the same as its hx-get."""
    nav = re.search(r'<nav class="pager"[^>]*>(.*?)</nav>', page_text(response), re.S).group(1)
    links = {}
    for attributes in re.findall(r"<a ([^>]*)>", nav):
        href = re.search(r'href="([^"]*)"', attributes).group(1)
        assert f'hx-get="{href}"' in attributes
        assert 'hx-target="#panel" hx-swap="outerHTML" hx-push-url="true"' in attributes
        rel = re.search(r'rel="(\w+)"', attributes)
        links[rel.group(1) if rel else attributes] = href.replace("&amp;", "&")
    return links


def test_the_pager_offers_first_and_last_pages_and_counts_rows(
    official_client, sample, monkeypatch
):
    """A county's page said only "第 1 页，共 621 页" and 下一页: it now links 首页, 上一页,
    下一页 and 末页 and says how many handovers the list holds."""
    monkeypatch.setattr(views, "PAGE_SIZE", 10)
    county = Region.objects.get(name="示例西县")
    url = f"/regions/{county.pk}/?year_from=1990"
    first = official_client.get(url)
    paginator = first.context["page"].paginator
    last_number = paginator.num_pages
    assert last_number >= 3 and paginator.count > 20
    assert pager_links(first) == {
        "next": "?year_from=1990&page=2",
        "last": f"?year_from=1990&page={last_number}",
    }
    assert f"共 {paginator.count:,} 条" in page_text(first)
    middle = official_client.get(f"{url}&page=2")
    assert pager_links(middle) == {
        "first": "?year_from=1990&page=1",
        "prev": "?year_from=1990&page=1",
        "next": "?year_from=1990&page=3",
        "last": f"?year_from=1990&page={last_number}",
    }
    assert "首页" in page_text(middle) and "末页" in page_text(middle)
    last = official_client.get(f"{url}&page={last_number}")
    assert pager_links(last) == {
        "first": "?year_from=1990&page=1",
        "prev": f"?year_from=1990&page={last_number - 1}",
    }
    english = official_client.get(f"{url}&page=2", HTTP_ACCEPT_LANGUAGE="en")
    assert f"{paginator.count:,} entries in all" in page_text(english)
    assert "First page" in page_text(english) and "Last page" in page_text(english)
    # a page number typed by hand: below 1, or not in ASCII digits, is the first page (0 and
    # -1 gave the last, "٢" the second); past the end, the last
    for typed, shown in [("0", 1), ("-1", 1), ("٢", 1), ("abc", 1), ("9" * 30, last_number)]:
        response = official_client.get(f"{url}&page={typed}")
        assert response.context["page"].number == shown, typed


def test_an_organisations_page_lists_what_it_received(official_client, reference):
    """A handover's recipients link to their organisation's page, which listed only what it
    gave: 江口县红十字会, one of the reference handover's eight recipients, read "no
    donations". Its page now also lists the handovers naming it, with what was itemised to it
    (unknown for the reference handover: the report gives one total)."""
    red_cross = reference.red_cross
    url = f"/donors/{red_cross.pk}/"
    page = official_client.get(url)
    text = page_text(page)
    assert "作为受赠方的捐赠" in text and "细分至本单位" in text
    received = page.context["received_page"].object_list
    assert [d.pk for d in received] == [reference.donation.pk]
    assert received[0].received == Decimal("0.00")  # shown as unknown
    rows = text.split('id="received-heading"')[1]
    assert "105.00" in rows and "不详" in rows
    # a part itemised to it is shown as such
    itemise(reference.donation, Decimal("20000.00"), reference.jiangkou, organisation=red_cross)
    page = official_client.get(url)
    assert page.context["received_page"].object_list[0].received == Decimal("20000.00")
    # named its only recipient, it received what was itemised to no one (not "unknown")
    sole = handover(reference.pairing, reference.jiangkou, "3000.00", datetime.date(2024, 5, 6))
    sole.recipient_organisations.set([red_cross])
    listed = official_client.get(url).context["received_page"].object_list
    assert {d.pk: d.received for d in listed}[sole.pk] == Decimal("3000.00")
    # the page of an organisation that received nothing has no such section
    town = page_text(official_client.get(f"/donors/{reference.town_government.pk}/"))
    assert "作为捐赠方的捐赠" in town and "作为受赠方的捐赠" not in town


def test_an_organisations_two_lists_page_apart(official_client, reference, monkeypatch):
    """What it gave and what it received each have their own pages in the address."""
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    _many_handovers(reference)  # given by the Red Cross
    for number in range(5):
        day = datetime.date(2023, 1, number + 1)
        received = handover(reference.pairing, reference.jiangkou, f"{number + 1}.00", day)
        received.recipient_organisations.set([reference.red_cross])
    url = f"/donors/{reference.red_cross.pk}/"
    page = official_client.get(f"{url}?page=2&received_page=3")
    assert page.context["page"].number == 2 and page.context["received_page"].number == 3
    links = re.findall(r'href="(\?[^"]*page=[^"]*)"', page.content.decode())
    assert "?page=2&amp;received_page=2" in links  # the received list's previous page
    assert "?page=1&amp;received_page=3" in links  # the given list's first page
    # too many ids to send: the database looks them up, and lists the same handovers
    listed = page.context["received_page"].paginator.count
    monkeypatch.setattr(reports, "MANY_IDS", 2)
    again = official_client.get(f"{url}?page=2&received_page=3")
    assert again.context["received_page"].paginator.count == listed == 6
    assert [d.pk for d in again.context["received_page"].object_list] == [
        d.pk for d in page.context["received_page"].object_list
    ]


def _many_handovers(reference, count: int = 11) -> None:
    """Handovers into 江口县 that tie in the list order: several on one day, so only the
    key orders them, and by a donor, so a page's donors are fetched with it."""
    for number in range(count):
        day = datetime.date(2024, 3, 1) if number % 3 else datetime.date(2022, 5, number + 1)
        handover(
            reference.pairing,
            reference.qixin if number % 2 else reference.jiangkou,
            f"{100 + number}.00",
            day,
            donors=[reference.red_cross],
        )


@pytest.mark.parametrize(("per_page", "orphans"), [(1, 0), (4, 0), (5, 2)])
def test_a_lists_pages_hold_the_rows_plain_slicing_gives(reference, per_page, orphans):
    """KeysFirstPaginator chooses a page's keys, then reads those rows: every page holds the
    rows, the shares received and the donors that slicing the list gives, in its order, the
    last page too (with orphans)."""
    from django.core.paginator import Paginator

    from partnerships.paging import KeysFirstPaginator

    _many_handovers(reference)
    for rows in (
        reports.donations_to_region(filters=reports.Filters(), region=reference.jiangkou),
        reports.donations_by_donor(filters=reports.Filters(), organisation=reference.red_cross),
    ):
        rows = reports.donation_list(rows)
        plain = Paginator(rows, per_page, orphans=orphans)
        paginators = [KeysFirstPaginator(rows, per_page, orphans=orphans)]
        if hasattr(rows.first(), "received"):  # a region's list: also counted by year
            per_year = reports.handovers_to_region_per_year(
                filters=reports.Filters(), region=reference.jiangkou
            )
            assert len(per_year) > 1
            paginators.append(
                KeysFirstPaginator(rows, per_page, orphans=orphans, rows_per_year=per_year)
            )
        for keys_first in paginators:
            assert keys_first.num_pages == plain.num_pages > 1
            for number in plain.page_range:
                expected = [
                    (d.pk, getattr(d, "received", None), d.listed_donors)
                    for d in plain.page(number)
                ]
                found = [
                    (d.pk, getattr(d, "received", None), d.listed_donors)
                    for d in keys_first.page(number)
                ]
                assert found == expected, number


@pytest.mark.parametrize("kind", ["region", "donor"])
def test_a_deep_page_skips_rows_by_their_keys_alone(official_client, reference, monkeypatch, kind):
    """Only the query of a page's keys skips rows (OFFSET): the one that reads a handover in
    full, with its share received in the region and its receiving region, reads the page's
    rows by key. Skipping full rows made PostgreSQL compute them all: page 2,000 of a
    province's handovers took 0.8 s at a million lines."""
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    _many_handovers(reference)
    url = (
        f"/regions/{reference.jiangkou.pk}/?page=4"
        if kind == "region"
        else f"/donors/{reference.red_cross.pk}/?page=4"
    )
    with CaptureQueriesContext(connection) as queries:
        response = official_client.get(url)
    assert response.context["page"].number == 4
    skipping = [q["sql"] for q in queries.captured_queries if "OFFSET" in q["sql"]]
    assert len(skipping) == 1, skipping
    assert re.match(r'SELECT "partnerships_donation"\."id"( AS "pk")? FROM ', skipping[0]), skipping


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
@pytest.mark.parametrize("scoped", [False, True])
def test_a_lists_keys_come_from_the_list_order_index_alone(reference, monkeypatch, scoped):
    """A region's list of many handovers (a province's, found by where they were received)
    chooses a page's keys from the list-order index, which carries the receiving region and
    the pairing, without reading the handovers (an index-only scan), for an official of all
    pairings or of some (a condition on the pairing). Sorting and reading the table are
    discouraged, as in the admin list's test: without the region, or for the scoped official
    without the pairing, in the index the plan reads the handovers, and the test fails."""
    monkeypatch.setattr(reports, "MANY_IDS", 0)  # 江口县 as a province: by where received
    _many_handovers(reference)
    scope = access.Scope(paths=(reference.pairing.path,)) if scoped else access.ALL
    filters = reports.Filters(scope=scope)
    rows = reports.donations_to_region(filters=filters, region=reference.jiangkou)
    analyzed(Donation, DonationLine, Region, Partnership)
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_sort", "enable_incremental_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        plan = rows.values_list("pk", flat=True)[4:8].explain()
    assert "Index Only Scan using donation_list_order on partnerships_donation" in plan, plan


def test_an_official_of_a_child_pairing_gets_no_link_to_the_parents_visit(
    client, reference, django_user_model
):
    """The reference's 村企结对帮扶座谈会 belongs to the town pairing, held during the county
    pairing's visit: an official of the town pairing was linked to that visit's page, a 404
    that the log recorded as a refused request. The meeting is listed, its title unlinked;
    handovers of the pairing held during that visit likewise."""
    official = django_user_model.objects.create_user(username="town_official")
    official.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
    Assignment.objects.create(user=official, partnership=reference.town_pairing)
    town_handover = handover(
        reference.town_pairing, reference.qixin, "100.00", reference.visit.start_date
    )
    Donation.objects.filter(pk=town_handover.pk).update(visit=reference.visit, date=None)
    client.force_login(official)
    visit_url = f"/visits/{reference.visit.pk}/"
    assert client.get(visit_url).status_code == 404
    for url in (f"/pairings/{reference.town_pairing.pk}/", f"/regions/{reference.qixin.pk}/"):
        page = page_text(client.get(url))
        assert "樟木头镇·闵孝镇村企结对帮扶座谈会" in page or "100.00" in page, url
        assert f'href="{visit_url}"' not in page, url
    # Whoever may open the visit keeps the link.
    client.force_login(django_user_model.objects.create_superuser("chief", password="x"))
    page = page_text(client.get(f"/pairings/{reference.town_pairing.pk}/"))
    assert f'href="{visit_url}"' in page


def test_a_child_pairings_meeting_during_the_parents_visit_is_in_its_downloads_and_report(
    client, reference, django_user_model
):
    """The town pairing's page lists its 村企结对帮扶座谈会 (held during the county
    pairing's visit), but its visits download was empty and its annual report said nothing
    of it. The download gives it a row of its own; the report lists the year's meetings."""
    title = "樟木头镇·闵孝镇村企结对帮扶座谈会"
    official = django_user_model.objects.create_user(username="town_official")
    official.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
    Assignment.objects.create(user=official, partnership=reference.town_pairing)
    client.force_login(official)
    for url in ("/export/visits.csv", f"/export/visits.csv?pairing={reference.town_pairing.pk}"):
        rows = list(
            csv.reader(io.StringIO(b"".join(client.get(url).streaming_content).decode("utf-8-sig")))
        )
        assert len(rows) == 2, (url, rows)
        start, end, note, _helping, assisted, direction, leader, size, places, meetings = rows[1][
            :10
        ]
        assert (start, end, meetings) == ("2023-01-10", "2023-01-12", title)
        assert note == reference.visit.date_note  # its days are the visit's: inferred year
        assert assisted.endswith("闵孝镇") and not (direction or leader or size or places)
        assert rows[1][-2:] == ["", "座谈会"]  # no handover of the county's visit; a meeting
    report = page_text(client.get(f"/pairings/{reference.town_pairing.pk}/report/2023/"))
    assert "该年度无考察交流记录" in report and title in report
    # Whoever sees the county's visit finds the meeting in the visit's row, once.
    client.force_login(django_user_model.objects.create_superuser("chief", password="x"))
    text = b"".join(client.get("/export/visits.csv").streaming_content).decode("utf-8-sig")
    assert text.count(title) == 1 and len(text.strip().splitlines()) == 2


def test_a_printed_filtered_page_says_its_filters(official_client, reference):
    """Print hides the filters: a page printed under 教育 read as the whole's figures."""
    url = f"/pairings/{reference.pairing.pk}/"
    filtered = page_text(official_client.get(f"{url}?category=education&year_from=2023"))
    assert '<p class="print-only">筛选条件：2023年起、教育</p>' in filtered
    assert 'class="print-only"' not in page_text(official_client.get(url))
    # in English, a province's name among them is marked as Chinese, as every other name is
    province = reference.jiangkou.parent.parent
    english = page_text(
        official_client.get(f"/?assisted_province={province.pk}", HTTP_ACCEPT_LANGUAGE="en")
    )
    assert f'<span lang="zh-Hans">{province.name}</span></p>' in english, english.split(
        'class="print-only"'
    )[1][:200]
    css = (settings.BASE_DIR / "static/css/dashboard.css").read_text()
    assert ".print-only { display: none; }" in css
    assert "@media print {" in css.split(".print-only { display: none; }")[1]


def test_a_panel_comes_in_the_language_of_its_page(official_client, reference):
    """English chosen in another tab since: a filter changed on a Chinese page swapped in an
    English panel under the Chinese header, and the other way round. An htmx request says
    its page's language (dashboard.js), and its part of the page is in it; a whole page
    follows the language chosen."""
    url = f"/pairings/{reference.pairing.pk}/?category=education"
    official_client.cookies["django_language"] = "en"
    chinese_page = official_client.get(url, HTTP_HX_REQUEST="true", HTTP_X_PAGE_LANGUAGE="zh-Hans")
    assert chinese_page["Content-Language"] == "zh-hans"
    assert "各村年度帮扶金额" in chinese_page.content.decode()
    assert "Aid per village and year" not in chinese_page.content.decode()
    assert "X-Page-Language" in chinese_page["Vary"]
    official_client.cookies["django_language"] = "zh-hans"
    english_page = official_client.get(url, HTTP_HX_REQUEST="true", HTTP_X_PAGE_LANGUAGE="en")
    assert "Aid per village and year" in english_page.content.decode()
    # a language the site does not speak, or a whole page: the choice
    for headers in ({"HTTP_X_PAGE_LANGUAGE": "fr"}, {}):
        page = official_client.get(url, HTTP_HX_REQUEST="true", **headers)
        assert page["Content-Language"] == "zh-hans"
    whole = official_client.get(url, HTTP_X_PAGE_LANGUAGE="en")
    assert whole["Content-Language"] == "zh-hans"


def test_a_head_request_is_answered_as_a_get(official_client, reference):
    """An uptime monitor's HEAD / was answered 405."""
    from django.test import Client

    assert Client().head("/").status_code == 302  # to the sign-in page, as a GET is
    response = official_client.head(f"/pairings/{reference.pairing.pk}/")
    assert response.status_code == 200 and response.content == b""
    assert official_client.post("/").status_code == 405
