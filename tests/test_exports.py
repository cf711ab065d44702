"""CSV, XLSX and JSON summaries: their content, spreadsheet safety, and streaming."""

import csv
import datetime
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl.utils import get_column_letter

from partnerships import exports
from partnerships.models import Donation, DonationLine, Organisation, Region

from .admin_helpers import page_text
from .conftest import handover

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(response) -> list[list[str]]:
    text = body(response).decode("utf-8")
    assert text.startswith("\ufeff"), "Excel on Chinese Windows needs the BOM"
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def itemise(donation, amount, region):
    DonationLine.objects.create(donation=donation, amount=amount, region=region)
    donation.rebalance()


def summary_urls(reference):
    return {
        "yearly": "/export/yearly.csv",
        "pairings": "/export/pairings.csv",
        "villages": f"/export/villages.csv?pairing={reference.pairing.pk}",
        "places": f"/export/places.csv?region={reference.jiangkou.pk}",
        "donors": f"/export/donors.csv?pairing={reference.pairing.pk}",
        "ledger": f"/export/ledger.csv?pairing={reference.pairing.pk}",
        "visits": f"/export/visits.csv?pairing={reference.pairing.pk}",
    }


@pytest.mark.parametrize(
    "name", ["yearly", "pairings", "villages", "places", "donors", "ledger", "visits"]
)
def test_each_summary_matches_its_golden_file(official_client, reference, name):
    itemise(reference.donation, Decimal("200000.00"), reference.qixin)
    response = official_client.get(summary_urls(reference)[name])
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = body(response).decode("utf-8")
    # Handover numbers come from primary keys, which differ between databases.
    text = re.sub(r"\bD\d+\b", "D#", text)
    golden = GOLDEN / f"{name}.csv"
    assert text == golden.read_bytes().decode("utf-8"), f"{name}.csv differs from {golden}"


def test_the_file_name_says_what_and_when(official_client, reference):
    response = official_client.get(f"/export/villages.csv?pairing={reference.pairing.pk}")
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''")
    from urllib.parse import unquote

    name = unquote(disposition.split("''", 1)[1])
    assert re.fullmatch(r"各村年度帮扶金额-樟木头镇—江口县-\d{8}-\d{4}\.csv", name), name

    def name_of(url):
        disposition = official_client.get(url)["Content-Disposition"]
        return unquote(disposition.split("''", 1)[-1].split("filename=", 1)[-1]).strip('"')

    # one visit's downloads and printed records name what they are about, so two do not collide
    visit = reference.visit
    assert f"考察交流与座谈会-{visit}-" in name_of(f"/export/visits.csv?visit={visit.pk}")
    assert name_of(f"/visits/{visit.pk}/record.pdf") == "活动纪实-樟木头镇—江口县-2023-01-10.pdf"
    report = name_of(f"/pairings/{reference.pairing.pk}/report/2023.pdf")
    assert report == "结对年度报告-樟木头镇—江口县-2023.pdf"
    # a filtered download says so: saved, it must not pass for the whole programme's figures
    guangdong = Region.objects.get(name="广东省")
    named = name_of(
        f"/export/yearly.xlsx?year_from=2023&category=education&donor_kind=enterprise"
        f"&kind=funds&funding=fiscal&helping_province={guangdong.pk}"
    )
    assert re.fullmatch(
        r"年度帮扶金额-2023年起-教育-企业-资金-财政援助资金-帮扶方广东省-\d{8}-\d{4}\.xlsx", named
    ), named
    assert "-2021至2023年-" in name_of("/export/ledger.json?year_from=2021&year_to=2023")
    assert "-至2023年-" in name_of("/export/ledger.csv?year_to=2023")
    assert "-2023年-" in name_of("/export/ledger.csv?year_from=2023&year_to=2023")
    assert re.fullmatch(r"年度帮扶金额-\d{8}-\d{4}\.csv", name_of("/export/yearly.csv"))
    # visits and meetings are narrowed by years and provinces only: the other filters a page
    # passes along do not narrow them, and their file does not claim them
    visits = name_of("/export/visits.csv?year_from=2023&category=education&kind=funds")
    assert re.fullmatch(r"考察交流与座谈会-2023年起-\d{8}-\d{4}\.csv", visits), visits
    # the ranking is one year's targets: the filters a page passes along do not narrow it
    ranking = name_of("/export/ranking.csv?year=2023&category=education")
    assert "教育" not in ranking, ranking
    english = official_client.get(
        "/export/yearly.csv?year_from=2023&category=education", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Aid per year-from 2023-education-" in english["Content-Disposition"]
    # a name holding what Windows refuses in a file's name ("/" anywhere) has it as "-"
    from partnerships.models import Partnership

    Partnership.objects.filter(pk=reference.pairing.pk).update(name='开发区/高新区:试验区"*?')
    report = name_of(f"/pairings/{reference.pairing.pk}/report/2023.pdf")
    assert report == "结对年度报告-开发区-高新区-试验区---（樟木头镇—江口县）-2023.pdf", report
    villages = name_of(f"/export/villages.csv?pairing={reference.pairing.pk}")
    assert villages.startswith("各村年度帮扶金额-开发区-高新区-试验区---"), villages


def test_a_pairing_visit_or_donor_not_there_answers_as_one_out_of_scope(
    client, reference, django_user_model
):
    """For an official of one pairing, another pairing's id gave 404 and an id of none 400:
    downloads told which ids exist, which the pages (404 for both) do not."""
    from django.contrib.auth.models import Group

    from partnerships import access
    from partnerships.models import Assignment

    official = django_user_model.objects.create_user(username="town_official")
    official.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
    Assignment.objects.create(user=official, partnership=reference.town_pairing)
    client.force_login(official)
    city = reference.jiangkou.parent  # 铜仁市: on no side of the town pairing
    for name, other in (
        ("pairing", reference.pairing.pk),
        ("visit", reference.visit.pk),
        ("donor", Organisation.objects.create(name="他处企业", kind="enterprise", region=city).pk),
    ):
        for summary in ("villages" if name == "pairing" else "ledger", "yearly", "visits"):
            # whatever else the address holds: a bad filter, a subject the download cannot
            # be narrowed by (checked after the subject's scope)
            for extra in ("", "&year_from=abc"):
                there = client.get(f"/export/{summary}.csv?{name}={other}{extra}")
                missing = client.get(f"/export/{summary}.csv?{name}=987654{extra}")
                assert there.status_code == missing.status_code == 404, (name, summary, extra)
            # written as the form reads an id too: a sign, a space, full-width digits
            for written in ("+{}", " {}", "{} "):
                there = client.get("/export/yearly.csv", {name: written.format(other)})
                missing = client.get("/export/yearly.csv", {name: written.format(987654)})
                assert there.status_code == missing.status_code == 404, (name, written)
            wide = str(other).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
            assert client.get("/export/yearly.csv", {name: wide}).status_code == 404
            assert client.get("/export/yearly.csv", {name: "９８７６５４"}).status_code == 404
    # a region's page is open to all: one that names nothing is not found, as its page
    assert client.get("/export/places.csv", {"region": " 987654"}).status_code == 404
    assert client.get("/regions/987654/").status_code == 404


def test_a_parent_pairing_outside_the_scope_is_named_as_on_the_page(
    client, reference, django_user_model
):
    """The town pairing's page names its parent (unlinked) to an official of the town
    pairing alone; the download of pairings left it empty."""
    from django.contrib.auth.models import Group

    from partnerships import access
    from partnerships.models import Assignment

    official = django_user_model.objects.create_user(username="town_official")
    official.groups.add(Group.objects.get(name=access.OFFICIAL_ASSIGNED))
    Assignment.objects.create(user=official, partnership=reference.town_pairing)
    client.force_login(official)
    parent = str(reference.town_pairing.parent)
    assert parent in page_text(client.get(f"/pairings/{reference.town_pairing.pk}/"))
    rows = json.loads(client.get("/export/pairings.json").getvalue())
    assert [(row["pairing"], row["parent"]) for row in rows] == [
        (str(reference.town_pairing), parent)
    ]
    assert csv_rows(client.get("/export/pairings.csv"))[1][:2] == [
        str(reference.town_pairing),
        parent,
    ]


def test_a_bad_filter_is_refused_in_plain_chinese(official_client, reference):
    response = official_client.get("/export/villages.csv?pairing=99999999999999999999")
    assert response.status_code == 400
    assert response.content.decode() == (
        "以下筛选条件无法应用：结对关系：请选择有效的选项：所选项不在可选范围内。"
    )
    english = official_client.get("/export/villages.csv?pairing=x", HTTP_ACCEPT_LANGUAGE="en")
    assert english.content.decode().startswith("These filters could not be applied: Pairing: ")


def test_the_yearly_csv_ends_with_the_pages_total_row(official_client, reference):
    """As the page's table does; and each amount column says its unit."""
    handover(reference.pairing, reference.qixin, "0.10", datetime.date(2024, 5, 1))
    rows = csv_rows(official_client.get("/export/yearly.csv"))
    assert rows[0] == ["年份", "资金（元）", "物资（元）", "资金及物资（未拆分，元）", "合计（元）"]
    assert rows[-1] == ["合计", "0.10", "0.00", "1050000.00", "1050000.10"]
    assert len(json.loads(official_client.get("/export/yearly.json").getvalue())) == 2
    # the XLSX sheet ends with it too (it ended at the last year), its 万元 on the totals' sheet
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(body(official_client.get("/export/yearly.xlsx"))))
    sheet = [[cell.value for cell in row] for row in workbook.worksheets[0].iter_rows()]
    assert sheet[0] == rows[0] and [row[0] for row in sheet[1:-1]] == [2023, 2024]
    assert sheet[-1] == ["合计", 0.1, 0, 1050000, 1050000.1]
    assert workbook.worksheets[0]["B4"].number_format == "#,##0.00"
    assert [row[:2] for row in totals_sheet(workbook)[2:]] == [
        ["资金（元）", 0.1],
        ["物资（元）", 0],
        ["资金及物资（未拆分，元）", 1050000],
        ["合计（元）", 1050000.1],
    ]


def test_exports_carry_the_filters(official_client, reference):
    assert csv_rows(official_client.get("/export/yearly.csv?year_from=2024"))[1:] == []
    rows = csv_rows(official_client.get("/export/yearly.csv?year_from=2023&year_to=2023"))
    assert rows[1][0] == "2023" and rows[1][-1] == "1050000.00"
    rows = csv_rows(official_client.get("/export/ledger.csv?category=education"))
    assert rows[1:] == []


def test_panels_link_to_their_exports_with_the_same_filters(official_client, reference):
    page = official_client.get(f"/pairings/{reference.pairing.pk}/?year_from=2023&kind=both")
    html = page.content.decode()
    expected = (
        f"/export/villages.csv?year_from=2023&amp;kind=both&amp;pairing={reference.pairing.pk}"
    )
    assert expected in html
    for summary in ("donors", "ledger", "visits"):
        assert f"/export/{summary}.xlsx?year_from=2023" in html
    overview = official_client.get("/?year_from=2023").content.decode()
    assert "/export/yearly.csv?year_from=2023" in overview
    assert "/export/pairings.json?year_from=2023" in overview


@pytest.mark.parametrize(
    "url",
    [
        "/export/villages.csv",
        "/export/places.csv?region=abc",
        "/export/ledger.csv?year_from=1800",
        "/export/unknown.csv",
        "/export/ledger.pdf",
    ],
)
def test_bad_export_requests_get_a_400_in_words(official_client, reference, url):
    response = official_client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert len(response.content.decode()) > 5


@pytest.mark.parametrize(
    ("summary", "query", "field"),
    [
        ("yearly", "pairing={pairing}", "结对关系"),
        ("places", "region={county}&pairing={pairing}", "结对关系"),
        ("villages", "pairing={pairing}&year=2023", "年份"),
        ("visits", "pairing={pairing}&donor={donor}", "捐赠方"),
        ("ranking", "year=2023&region={county}", "地区"),
    ],
)
def test_an_export_refuses_what_it_cannot_be_narrowed_by(
    official_client, reference, summary, query, field
):
    """A pairing's yearly download is not the programme's: it is refused, not silently widened."""
    query = query.format(
        pairing=reference.pairing.pk,
        county=reference.jiangkou.pk,
        donor=reference.visit.donations.first().donors.first().pk,
    )
    response = official_client.get(f"/export/{summary}.csv?{query}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert response.content.decode() == f"此下载不能按“{field}”限定。"


def test_download_links_take_the_filters_not_the_pages_own_parameters(official_client, reference):
    page = official_client.get("/?year=2024&year_from=2023&pairing=1").content.decode()
    assert "/export/yearly.csv?year_from=2023&amp;" not in page
    assert '/export/yearly.csv?year_from=2023"' in page
    assert "pairing=1" not in page.split("/export/ledger.csv", 1)[1].split('"', 1)[0]


def test_download_links_take_only_the_filters_their_page_applies(official_client, reference):
    """A province typed into a pairing's address, which its page ignores, went into its
    downloads, which came out empty; a visit's page has no filters at all, yet its ledger
    was narrowed by a category typed into its address."""
    province = Region.objects.get(name="广东省").pk  # the helping side's
    pages = {
        f"/pairings/{reference.pairing.pk}/": "ledger_exports",
        f"/regions/{reference.jiangkou.pk}/": "ledger_exports",
        f"/visits/{reference.visit.pk}/": "ledger_exports",
    }
    for url, links in pages.items():
        response = official_client.get(f"{url}?helping_province={province}&category=education")
        [csv_link] = [link for label, link in response.context[links] if label == "CSV"]
        assert "province" not in csv_link, csv_link
        assert ("category=education" in csv_link) != url.startswith("/visits/"), csv_link
    # the targets and ranking downloads are of a year, whatever the page's filters: a
    # category in the address made their links a 400 ("以下筛选条件无法应用")
    targets = official_client.get(f"/pairings/{reference.pairing.pk}/targets/?category=education")
    [csv_link] = [link for label, link in targets.context["target_exports"] if label == "CSV"]
    assert "category" not in csv_link and official_client.get(csv_link).status_code == 200
    overview = official_client.get(f"/?helping_province={province}")
    [csv_link] = [link for label, link in overview.context["ledger_exports"] if label == "CSV"]
    assert f"helping_province={province}" in csv_link  # the overview's own filter


def test_exports_need_a_signed_in_user(client, reference):
    response = client.get("/export/ledger.csv")
    assert response.status_code == 302


class TestSpreadsheetSafety:
    NASTY = ['=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)", 'A,"B"\nC', "\tTab"]

    @pytest.fixture
    def nasty(self, reference):
        donors = [
            Organisation.objects.create(name=name, kind="enterprise", region=reference.zhangmutou)
            for name in self.NASTY
        ]
        reference.donation.donors.add(*donors)
        return reference

    def test_csv_neutralises_formulas_and_quotes_awkward_text(self, official_client, nasty):
        rows = csv_rows(official_client.get(f"/export/donors.csv?pairing={nasty.pairing.pk}"))
        names = {row[0] for row in rows[1:]}
        assert '\'=HYPERLINK("http://x","y")' in names
        assert {"'+1", "'-1", "'@SUM(A1)", "'\tTab"} <= names
        assert 'A,"B"\nC' in names  # a comma, a quote and a newline survive intact
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), cell
        ledger = csv_rows(official_client.get("/export/ledger.csv"))
        donors_cell = ledger[1][6]
        assert "=HYPERLINK" in donors_cell and not donors_cell.startswith("=")

    def test_xlsx_stores_them_as_text_not_formulas(self, official_client, nasty):
        from openpyxl import load_workbook

        response = official_client.get(f"/export/donors.xlsx?pairing={nasty.pairing.pk}")
        sheet = load_workbook(io.BytesIO(body(response))).active
        values = [cell for row in sheet.iter_rows() for cell in row]
        assert all(cell.data_type != "f" for cell in values)
        rows = {row[0].value: row[0] for row in sheet.iter_rows(min_row=2)}
        # marked as text by Excel's quote prefix, which it does not show: no apostrophe
        assert rows['=HYPERLINK("http://x","y")'].quotePrefix
        assert rows["-1"].quotePrefix and rows["+1"].data_type == "s"
        assert not any(str(name).startswith("'") for name in rows)


def totals_sheet(workbook) -> list[list]:
    """The values of an XLSX download's second sheet, its totals."""
    assert workbook.sheetnames[1] == "合计"
    return [[cell.value for cell in row] for row in workbook.worksheets[1].iter_rows()]


def test_xlsx_has_a_frozen_header_numbers_and_totals_apart(official_client, reference):
    """A 万元 total row under a column of yuan was summed with it by Excel's status bar and
    pivot tables: the totals are on a sheet of their own, in yuan and in 万元."""
    from openpyxl import load_workbook

    itemise(reference.donation, Decimal("200000.01"), reference.qixin)
    response = official_client.get(f"/export/ledger.xlsx?pairing={reference.pairing.pk}")
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = load_workbook(io.BytesIO(body(response)))
    sheet = workbook.worksheets[0]
    assert sheet.freeze_panes == "A2"
    header = [cell.value for cell in sheet[1]]
    amount_column = header.index("金额（元）") + 1
    amounts = [sheet.cell(row=r, column=amount_column).value for r in (2, 3)]
    assert sorted(amounts) == [200000.01, 849999.99]
    assert sheet.max_row == 3  # the two lines, nothing under them
    assert totals_sheet(workbook) == [
        ["合计", None, None],
        ["列", "元", "万元"],
        ["金额（元）", 1050000, 105],
    ]


@pytest.mark.parametrize("url", ["/export/ledger.csv", "/export/visits.csv"])
def test_names_in_one_cell_are_joined_as_the_page_joins_them(official_client, reference, url):
    """English downloads joined the donors, recipients and meetings with the Chinese 、, the
    rest of the row in English punctuation (the imports read either)."""
    for language, separator, other in (("zh-hans", "、", ", "), ("en", ", ", "、")):
        rows = csv_rows(official_client.get(url, HTTP_ACCEPT_LANGUAGE=language))
        lists = [cell for row in rows[1:] for cell in row if separator in cell]
        assert lists, (url, language)
        assert not any(other in cell for row in rows[1:] for cell in row), (url, language)


def test_xlsx_columns_are_wide_enough_for_their_figures(official_client, reference):
    """No column had a width: Excel and WPS showed "###" for every amount and date wider
    than the default 8.43 (they never spill into the next cell), and cut the headers."""
    from openpyxl import load_workbook

    response = official_client.get(f"/export/ledger.xlsx?pairing={reference.pairing.pk}")
    workbook = load_workbook(io.BytesIO(body(response)))
    sheet = workbook.worksheets[0]
    header = [cell.value for cell in sheet[1]]

    def width(name):
        return sheet.column_dimensions[get_column_letter(header.index(name) + 1)].width

    assert width("金额（元）") >= len("1,050,000,000.00")
    assert width("日期") >= len("2023-01-10")
    for number, name in enumerate(header, start=1):
        shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in name)  # a Chinese character is two
        assert sheet.column_dimensions[get_column_letter(number)].width >= min(shown, 40), name
    totals = workbook.worksheets[1]
    assert all(totals.column_dimensions[letter].width >= 16 for letter in "BC")


def test_an_xlsx_cell_holds_no_more_than_excel_can(official_client, reference):
    """A whole report pasted as a handover's source: past 32,767 characters Excel offered to
    "repair" the file. The cell ends with "…" at the limit; the CSV keeps every character."""
    from openpyxl import load_workbook

    Donation.objects.filter(pk=reference.donation.pk).update(source="报" * 40_000)
    url = f"/export/ledger.xlsx?pairing={reference.pairing.pk}"
    sheet = load_workbook(io.BytesIO(body(official_client.get(url)))).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    column = next(i for i, name in enumerate(header) if name.startswith("来源"))
    cell = sheet.cell(row=2, column=column + 1).value
    assert len(cell) == 32_767 and cell.endswith("报…")
    rows = csv_rows(official_client.get(url.replace(".xlsx", ".csv")))
    assert "报" * 40_000 in rows[1]
    # Excel counts UTF-16 units: a rare character (in some names) is two, and is not split
    cut = exports._cut_for_excel("𠀀" * 20_000)
    assert exports._excel_length(cut) == 32_767 and cut == "𠀀" * 16_383 + "…"


def test_an_xlsx_of_too_many_rows_points_to_the_csv(official_client, reference, monkeypatch):
    """The whole ledger as XLSX took 125 s at 200,000 lines, nothing sent before the end: past
    XLSX_MAX_ROWS it is refused in words with a link to the same rows as CSV."""
    rows = reference.donation.lines.count()
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", rows - 1)
    query = "?year_from=2023&category=&pairing=" + str(reference.pairing.pk)
    response = official_client.get(f"/export/ledger.xlsx{query}", follow=True)
    assert response.status_code == 400
    text = page_text(response)
    assert f"这份下载有 {rows} 行" in text and f"超过 {rows - 1} 行" in text
    csv_url = f"/export/ledger.csv?year_from=2023&pairing={reference.pairing.pk}"
    assert f'<a href="{csv_url}">下载同样内容的 CSV 文件</a>' in text
    csv = official_client.get(csv_url)
    assert csv.status_code == 200
    assert len(b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()) == rows + 1
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", rows)
    assert official_client.get(f"/export/ledger.xlsx{query}", follow=True).status_code == 200


def test_the_ledger_lists_a_years_undated_handovers_after_its_dated_ones(
    official_client, reference
):
    """SQLite listed the reference's handover (no day reported) first in 2023, PostgreSQL
    last: the same download differed by database."""
    dated = handover(reference.pairing, reference.jiangkou, "100.00", datetime.date(2023, 5, 4))
    response = official_client.get("/export/ledger.json")
    ids = [row["handover"] for row in json.loads(b"".join(response.streaming_content))]
    assert list(dict.fromkeys(ids)) == [f"D{dated.pk}", f"D{reference.donation.pk}"]


def test_json_has_stable_keys_and_exact_amounts(official_client, reference):
    response = official_client.get(f"/export/ledger.json?pairing={reference.pairing.pk}")
    records = json.loads(body(response), parse_float=Decimal)
    assert len(records) == 1
    record = records[0]
    assert record["handover_total"] == Decimal("1050000.00")
    assert record["amount"] == Decimal("1050000.00")
    assert record["county"] == "江口县" and record["village"] == ""
    assert record["date"] is None and record["visit"] == "2023-01-10"


def test_the_ledger_streams_in_chunks(official_client, reference, monkeypatch):
    """A large export never holds every row: rows are fetched chunk by chunk as they are sent."""
    monkeypatch.setattr(exports, "copy_available", lambda: False)  # the Python path
    monkeypatch.setattr(exports, "CHUNK", 10)
    donation = reference.donation
    DonationLine.objects.bulk_create(
        DonationLine(donation=donation, amount=Decimal("1.00"), region=reference.qixin)
        for _ in range(45)
    )
    donation.rebalance()
    response = official_client.get("/export/ledger.csv")
    assert response.streaming
    stream = iter(response.streaming_content)
    next(stream)  # header
    next(stream)  # first row: only the first chunk has been read
    with CaptureQueriesContext(connection) as rest:
        remaining = list(stream)
    assert len(remaining) == 45
    # Each further chunk of ten lines fetched its donors and recipients only when reached.
    assert len(rest) >= 4


def test_the_admin_exports_selected_donations(admin_client, reference):
    other = Donation.objects.create(
        partnership=reference.pairing,
        date=reference.visit.start_date,
        amount=Decimal("10.00"),
        kind="funds",
        region=reference.jiangkou,
    )
    other.rebalance()
    response = admin_client.post(
        "/admin/partnerships/donation/",
        {"action": "export_donations", "_selected_action": [other.pk]},
    )
    rows = csv_rows(response)
    assert len(rows) == 2 and rows[1][14] == "10.00"
    # named as a choice, not as the whole ledger ("捐赠台账-20261206-1658.csv")
    assert "捐赠台账-选中的1条-" in unquote(response["Content-Disposition"])


def test_the_visits_download_puts_meetings_of_no_visit_in_order_of_their_days(
    official_client, reference
):
    """Meetings of no visit listed come on rows of their own, among the visits by day; on
    one day, the visit first."""
    from partnerships.models import Meeting, Visit

    Visit.objects.create(
        partnership=reference.pairing,
        direction="west_to_east",
        start_date=datetime.date(2023, 3, 1),
        end_date=datetime.date(2023, 3, 2),
    )
    for day, title in (
        ("2022-12-01", "岁末会"),
        ("2023-01-11", "会期之外"),
        ("2023-03-01", "同日会"),
        ("2023-06-01", "年中会"),
    ):
        Meeting.objects.create(
            partnership=reference.town_pairing, date=datetime.date.fromisoformat(day), title=title
        )
    rows = csv_rows(official_client.get(f"/export/visits.csv?pairing={reference.pairing.pk}"))
    listed = [(row[0], row[-1], row[9] if row[-1] == "座谈会" else "") for row in rows[1:]]
    assert listed == [
        ("2022-12-01", "座谈会", "岁末会"),
        ("2023-01-10", "考察交流", ""),
        ("2023-01-11", "座谈会", "会期之外"),
        ("2023-03-01", "考察交流", ""),
        ("2023-03-01", "座谈会", "同日会"),
        ("2023-06-01", "座谈会", "年中会"),
    ]


def test_the_admin_exports_selected_visits(admin_client, reference):
    response = admin_client.post(
        "/admin/partnerships/visit/",
        {"action": "export_visits", "_selected_action": [reference.visit.pk]},
    )
    rows = csv_rows(response)
    assert rows[1][:2] == ["2023-01-10", "2023-01-12"]
    assert rows[1][-2:] == ["1050000.00", "考察交流"]
    assert "-选中的1条-" in unquote(response["Content-Disposition"])


def test_xlsx_totals_only_add_up_what_adds_up(official_client, reference):
    from openpyxl import load_workbook

    itemise(reference.donation, Decimal("200000.00"), reference.qixin)
    workbook = load_workbook(io.BytesIO(body(official_client.get("/export/ledger.xlsx"))))
    totaled = [row[0] for row in totals_sheet(workbook)[2:]]
    assert totaled == ["金额（元）"]  # a handover's total is repeated per line: no total
    pairings = load_workbook(io.BytesIO(body(official_client.get("/export/pairings.xlsx"))))
    assert pairings.worksheets[0].max_row == 1 + 4  # header and the four pairings
    assert len(pairings.sheetnames) == 1  # no totals


def test_the_child_pairings_and_the_visit_panels_have_their_downloads(official_client, reference):
    page = official_client.get(f"/pairings/{reference.pairing.pk}/").content.decode()
    assert f"/export/pairings.csv?pairing={reference.pairing.pk}" in page
    rows = csv_rows(official_client.get(f"/export/pairings.csv?pairing={reference.pairing.pk}"))
    assert [row[:2] for row in rows[1:]] == [["樟木头镇—闵孝镇", "樟木头镇—江口县"]]
    visit = official_client.get(f"/visits/{reference.visit.pk}/").content.decode()
    assert f"/export/visits.csv?visit={reference.visit.pk}" in visit
    rows = csv_rows(official_client.get(f"/export/visits.csv?visit={reference.visit.pk}"))
    assert len(rows) == 2 and rows[1][10] == "王颖"
    assert rows[1][2] == reference.visit.date_note  # the year is inferred, and said so


@pytest.mark.parametrize("summary", ["visits", "ledger"])
def test_a_visit_of_another_pairing_is_refused_not_an_empty_file(
    official_client, reference, summary
):
    """visits.csv?visit=1&pairing=6, a visit outside the pairing, was an empty file."""
    visit = reference.visit
    url = f"/export/{summary}.csv?visit={visit.pk}"
    outside = official_client.get(f"{url}&pairing={reference.town_pairing.pk}")
    assert outside.status_code == 400
    assert outside.content.decode() == (
        f"{visit}不是樟木头镇—闵孝镇或其下级结对关系的考察交流：请分别下载二者。"
    )
    above = reference.pairing.parent  # the visit's pairing is under it
    assert official_client.get(f"{url}&pairing={above.pk}").status_code == 200
    assert official_client.get(f"{url}&pairing={reference.pairing.pk}").status_code == 200


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY is PostgreSQL's; SQLite has the Python path"
)


@pytest.fixture
def awkward_ledger(reference):
    """Lines whose cells test every rule of the CSV: formulas, quotes, commas, line breaks,
    empty and missing values, several donors, undated and dated handovers."""
    itemise(reference.donation, Decimal("200000.00"), reference.qixin)
    nasty = Organisation.objects.create(name='=HYPERLINK("x"),"y"', kind="enterprise")
    other = Donation.objects.create(
        partnership=reference.town_pairing,
        date=reference.visit.start_date,
        amount=Decimal("1234.56"),
        kind="materials",
        category="medical",
        funding="social",
        materials_description="-药品\n第二行",
        region=reference.minxiao,
        source="@来源, 含逗号",
        notes="+note",
    )
    other.donors.set([nasty, reference.town_government])
    other.recipient_regions.set([reference.minxiao])
    DonationLine.objects.create(
        donation=other,
        amount=Decimal("0.01"),
        region=reference.minxiao,
        recipient_organisation=reference.red_cross,
        donor=nasty,
        note='\t制表符开头 "引号"\r\n换行',
    )
    other.rebalance()
    return reference


@postgres_only
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?year_from=2023&kind=materials",
        "?category=education",
        "?donor_kind=enterprise",
        "?pairing={pairing}",
        "?region={minxiao}",
        "?donor={government}",
        "?visit={visit}",
    ],
)
def test_copy_and_python_paths_write_the_same_bytes(
    official_client, awkward_ledger, monkeypatch, query
):
    ref = awkward_ledger
    url = "/export/ledger.csv" + query.format(
        pairing=ref.pairing.pk,
        minxiao=ref.minxiao.pk,
        government=ref.town_government.pk,
        visit=ref.visit.pk,
    )
    copied = body(official_client.get(url))
    monkeypatch.setattr(exports, "copy_available", lambda: False)
    written = body(official_client.get(url))
    assert copied == written
    assert copied.startswith("\ufeff".encode())


@postgres_only
def test_the_copy_path_streams_in_batches(official_client, reference, monkeypatch):
    monkeypatch.setattr(exports, "COPY_BATCH", 10)
    DonationLine.objects.bulk_create(
        DonationLine(donation=reference.donation, amount=Decimal("1.00"), region=reference.qixin)
        for _ in range(45)
    )
    reference.donation.rebalance()
    response = official_client.get("/export/ledger.csv")
    chunks = list(response.streaming_content)
    # The header, four batches of ten lines and the last six (45 itemised + the rest).
    assert [chunk.count(b"\r\n") for chunk in chunks] == [1, 10, 10, 10, 10, 6]


def test_an_official_with_no_pairing_yet_downloads_an_empty_ledger(client, django_user_model):
    """On PostgreSQL the COPY path could not build a query that can match nothing: a 500
    (found by the adversarial review)."""
    from django.contrib.auth.models import Group

    from partnerships.access import OFFICIAL_ASSIGNED
    from partnerships.management.commands import load_reference_data

    load_reference_data.load()
    user = django_user_model.objects.create_user(username="new", password="pw-New-123456")
    user.groups.add(Group.objects.get(name=OFFICIAL_ASSIGNED))
    client.force_login(user)
    response = client.get("/export/ledger.csv")
    assert response.status_code == 200
    assert len(csv_rows(response)) == 1  # the header


def test_a_download_asked_for_signed_out_signs_in_back_to_its_page(client, reference):
    """Sent back to the file after signing in, a phone saved it and stayed on the sign-in
    form, its name and password filled in, as if nothing had happened."""
    page = f"/pairings/{reference.pairing.pk}/?year_from=2023"
    response = client.get("/export/ledger.csv", HTTP_REFERER=f"http://testserver{page}")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=" + quote(page, safe="/")
    # From no page, or another site's: to the file, as before.
    for referer in ({}, {"HTTP_REFERER": "https://example.com/pairings/1/"}):
        response = client.get("/export/ledger.csv", **referer)
        assert response["Location"] == "/accounts/login/?next=/export/ledger.csv"
