"""What needs JavaScript: htmx swaps, pushed URLs, Back, the charts, the language switch."""

import datetime
import io
import re
import threading
import time
import unicodedata
from decimal import Decimal

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from partnerships.models import AnnualTarget, Donation, Organisation, Partnership, Region

from .conftest import Reference, handover

# A browser test takes seconds; one that waits on a stuck browser fails here, with every
# thread's stack printed, instead of holding the whole run until CI gives up on it.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


class RequestsInFlight:
    """Counts the live server's requests begun and not yet closed (a streamed download is
    closed when its last row is sent, or its reader leaves)."""

    def __init__(self):
        self.count = 0
        self.changed = threading.Condition()

    def started(self, **_kwargs):
        with self.changed:
            self.count += 1

    def finished(self, **_kwargs):
        with self.changed:
            self.count -= 1
            self.changed.notify_all()

    def wait_for_none(self, seconds: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.count <= 0, timeout=seconds)


@pytest.fixture
def site(live_server, django_user_model):
    """The live server with the reference and sample data and an official's account. A test
    may end while the server still answers the page (a panel loading, a file streaming):
    the database is emptied for the next test only once every request has ended, as SQLite's
    shared in-memory database cannot be emptied while a request reads it (a CI run failed
    so, and the next test then found this one's rows)."""
    from django.core.signals import request_finished, request_started

    in_flight = RequestsInFlight()
    request_started.connect(in_flight.started, weak=False, dispatch_uid="in-flight-start")
    request_finished.connect(in_flight.finished, weak=False, dispatch_uid="in-flight-end")
    try:
        yield _site(live_server, django_user_model)
        in_flight.wait_for_none(seconds=30)
    finally:
        request_started.disconnect(dispatch_uid="in-flight-start")
        request_finished.disconnect(dispatch_uid="in-flight-end")


def _site(live_server, django_user_model):
    from partnerships.management.commands import load_reference_data

    load_reference_data.load()
    call_command("load_sample_data", "--seed", "5", stdout=io.StringIO())
    from django.contrib.auth.models import Group

    from partnerships.access import OFFICIAL_ALL

    official = django_user_model.objects.create_user(username="official", password="pw-Official-1")
    official.groups.add(Group.objects.get(name=OFFICIAL_ALL))
    return live_server


@pytest.fixture
def console_errors(page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def route(page):
    """page.route, for tests that answer requests themselves: every route is removed before
    the page closes, whether the test passed or not, so no handler waits on a request still
    to come while the page closes."""
    yield page.route
    page.unroute_all(behavior="ignoreErrors")


def sign_in(page, base_url, next_path):
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("input[name=username]", "official")
    page.fill("input[name=password]", "pw-Official-1")
    page.click("form.login button[type=submit]")


def admin_sign_in(page, base_url, next_path, django_user_model):
    """An administrator at an office screen's width (1280 px), signed in to the admin."""
    django_user_model.objects.create_superuser("chief", password="pw-Chief-12345")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("input[name=username]", "chief")
    page.fill("input[name=password]", "pw-Chief-12345")
    page.click("input[type=submit]")


def wait_until(page, expression, timeout=15.0):
    """Poll a JavaScript expression until it is truthy, and return its value.

    Playwright's wait_for_function evaluates strings in the page, which the strict
    Content-Security-Policy (rightly) forbids; page.evaluate is not subject to it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        page.wait_for_timeout(50)


def wait_settled(page, selector):
    """Wait until htmx has settled the element swapped in as `selector`.

    htmx inserts new content with the class htmx-added and only attaches its listeners
    when it settles, 20 ms later; a change made in between goes unheard.
    """
    wait_until(
        page,
        f"(() => {{ const e = document.querySelector({selector!r});"
        " return e && !e.classList.contains('htmx-added'); })()",
    )


def choose(page, name, value):
    """Pick a filter and wait until htmx has swapped in, and settled, the new panel."""
    wait_settled(page, "#panel")
    page.evaluate("document.getElementById('panel').dataset.stale = 'yes'")
    page.select_option(f"#panel select[name={name}]", value)
    wait_until(page, "!document.getElementById('panel').dataset.stale")
    wait_settled(page, "#panel")
    expect(page.locator(f"#panel select[name={name}]")).to_have_value(value)


def grand_total(page):
    return page.locator("#villages-heading ~ .table-wrap .grand-total data").get_attribute("value")


def chart_count(page):
    return page.evaluate("Object.keys(window.Chart.instances).length")


def chart_series(page):
    """The series of the chart now drawn on the panel's canvas, once htmx has settled."""
    return wait_until(
        page,
        """(() => {
            const canvas = document.querySelector("#panel figure[data-chart] canvas");
            const chart = canvas && window.Chart && window.Chart.getChart(canvas);
            return chart ? chart.data.datasets.map((d) => d.label) : null;
        })()""",
    )


def test_filters_swap_the_chart_and_table_without_a_page_load(site, page, console_errors):
    pairing = Partnership.objects.get(name="示例东西")
    path = f"/pairings/{pairing.pk}/"
    sign_in(page, site.url, path)
    expect(page.locator("h1")).to_contain_text("示例东西")
    all_years_series = chart_series(page)  # waits for the deferred scripts to draw it
    assert chart_count(page) == 1
    # The value axis is in 万元: its ticks show the decimals they have, not ".00" on each.
    ticks = page.evaluate(
        """(() => {
            const chart = window.Chart.getChart(document.querySelector("#panel canvas"));
            return chart.scales[chart.options.indexAxis === "y" ? "x" : "y"].ticks.map(
                (tick) => tick.label);
        })()"""
    )
    assert ticks and not any(label.endswith(".00") for label in ticks), ticks
    # A marker on window survives swaps and disappears with any full page load.
    page.evaluate("window.__sameDocument = true")
    all_years_total = grand_total(page)

    choose(page, "year_from", "2023")
    expect(page).to_have_url(f"{site.url}{path}?year_from=2023")
    filtered_total = grand_total(page)
    assert filtered_total != all_years_total
    series = chart_series(page)
    assert series[0] == "2023" and len(series) < len(all_years_series)

    choose(page, "category", "education")
    education_total = grand_total(page)
    assert education_total != filtered_total
    assert page.evaluate("window.__sameDocument") is True
    assert chart_count(page) == 1
    # the links above the form follow the filters: they kept those of the first load
    crumb = page.locator("#heading nav.crumbs a").first
    expect(crumb).to_have_attribute("href", "/?year_from=2023&category=education")
    expect(page.locator("#heading")).to_have_count(1)

    page.go_back()
    expect(page).to_have_url(f"{site.url}{path}?year_from=2023")
    expect(page.locator("#panel select[name=category]")).to_have_value("")
    assert grand_total(page) == filtered_total
    expect(page.locator("#heading nav.crumbs a").first).to_have_attribute(
        "href", "/?year_from=2023"
    )

    # Repeated swaps leave exactly one live chart.
    for year in ["2021", "2022", "2024", "2022", "2021"]:
        choose(page, "year_from", year)
        assert chart_series(page)[0] == year
    assert chart_count(page) == 1
    assert console_errors == []


def test_the_language_switch_keeps_the_page_and_filters(site, page, console_errors):
    pairing = Partnership.objects.get(name="示例东西")
    path = f"/pairings/{pairing.pk}/"
    sign_in(page, site.url, path)
    expect(page.locator("#villages-heading")).to_have_text("各村年度帮扶金额")
    choose(page, "year_from", "2022")
    page.click("button[name=language][value=en]")
    expect(page.locator("#villages-heading")).to_have_text("Aid per village and year")
    assert "year_from=2022" in page.url and page.url.startswith(f"{site.url}{path}")
    expect(page.locator("#panel select[name=year_from]")).to_have_value("2022")
    assert console_errors == []


def test_the_first_tab_offers_a_skip_to_the_content(site, page, console_errors):
    sign_in(page, site.url, "/")
    # the dashboard, and a printable record (its toolbar comes first)
    for path in ("/", f"/visits/{Reference().visit.pk}/record/"):
        page.goto(site.url + path)
        expect(page.locator("h1")).to_be_visible()
        skip = page.locator("a.skip-link")
        assert skip.bounding_box()["y"] < 0, path  # off screen until focused
        page.keyboard.press("Tab")
        expect(skip).to_be_focused()
        expect(skip).to_have_text("跳到正文")
        assert skip.bounding_box()["y"] >= 0, path
        page.keyboard.press("Enter")
        expect(page.locator("main")).to_be_focused()
    assert console_errors == []


def test_the_overview_fills_in_villages_reached_and_donors(site, page, console_errors):
    from partnerships import reports

    every_year = reports.reach(filters=reports.Filters())
    one_year = reports.reach(filters=reports.Filters(year_from=2024, year_to=2024))
    assert one_year != every_year
    sign_in(page, site.url, "/")
    values = page.locator("#panel .reach .stat .value")
    expect(values).to_have_text([str(every_year.villages), str(every_year.donors)])
    page.evaluate("window.__sameDocument = true")
    choose(page, "year_from", "2024")
    choose(page, "year_to", "2024")
    expect(values).to_have_text([str(one_year.villages), str(one_year.donors)])
    assert page.evaluate("window.__sameDocument") is True
    assert console_errors == []


def test_a_panel_that_cannot_be_loaded_links_to_its_page(site, page, route):
    reference = Reference()
    route("**/targets/", lambda routed: routed.fulfill(status=500, body="down"))
    sign_in(page, site.url, f"/pairings/{reference.pairing.pk}/")
    link = page.locator("#targets a[data-if-failed]")
    expect(link).to_be_visible()
    assert link.get_attribute("href") == f"/pairings/{reference.pairing.pk}/targets/"
    expect(page.locator("#targets")).not_to_have_attribute("aria-busy", "true")


def test_a_filter_whose_answer_fails_says_the_figures_are_the_old_ones(site, page, route):
    """A failed answer (a restart, a proxy's 502) left the old figures under the new choice,
    with nothing on the page to say so."""
    pairing = Partnership.objects.get(name="示例东西")
    sign_in(page, site.url, f"/pairings/{pairing.pk}/")
    before = grand_total(page)
    route("**/*category=education*", lambda routed: routed.fulfill(status=502, body="x"))
    page.locator("#panel select[name=category]").select_option("education")
    notice = page.locator("#panel .request-failed[role=alert]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("未能更新")
    assert grand_total(page) == before
    page.unroute("**/*category=education*")
    page.locator("#panel select[name=category]").select_option("")
    expect(notice).to_have_count(0)  # the next answer replaces the figures and the notice
    # The search box's list holds no figures: a failed search says nothing of them.
    route("**/search/**", lambda routed: routed.fulfill(status=502, body="x"))
    page.evaluate(
        "document.addEventListener('htmx:responseError', () => { window.__searchFailed = true; },"
        " {once: true})"
    )
    with page.expect_response("**/search/**") as failed:
        page.locator("#site-search-q").fill("示例")
    assert failed.value.status == 502
    wait_until(page, "window.__searchFailed === true")  # dashboard.js has handled it too
    assert page.locator("#search-suggestions .request-failed").count() == 0


@pytest.mark.parametrize("width", [360, 375])
def test_pages_fit_a_phone_screen(site, page, width):
    """At 360 px (many Android phones) the annual report's progress bars stuck out 16 px."""
    page.set_viewport_size({"width": width, "height": 800})
    reference = Reference()
    sign_in(page, site.url, f"/pairings/{reference.pairing.pk}/")
    expect(page.locator("h1")).to_be_visible()
    # Wide tables scroll inside their box; the page itself does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # A wide table's caption (its unit at the end) wraps in view, not cut off with the
    # columns that scroll: "年度帮扶金额（按资金和物资分列，万…".
    page.goto(site.url + "/")
    expect(page.locator("h1")).to_be_visible()
    rights = page.evaluate(
        "[...document.querySelectorAll('.table-wrap caption')]"
        ".map(c => Math.round(c.getBoundingClientRect().right))"
    )
    assert rights and max(rights) <= width, rights
    # The printable pages too, read on a phone (not laid out 980 px wide and shrunk).
    targeted = AnnualTarget.objects.filter(year=2023).order_by("pk").first().partnership
    for path in (
        f"/visits/{reference.visit.pk}/record/",
        f"/pairings/{reference.pairing.pk}/report/2023/",
        f"/pairings/{targeted.pk}/report/2023/",  # with its targets' progress bars
    ):
        page.goto(site.url + path)
        expect(page.locator("h1")).to_be_visible()
        assert page.evaluate("window.innerWidth") == width, path
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path


def test_the_visit_record_prints_on_one_a4_page(site, page, console_errors):
    import pypdf

    reference = Reference()
    sign_in(page, site.url, f"/visits/{reference.visit.pk}/record/")
    page.wait_for_url(f"**/visits/{reference.visit.pk}/record/")
    expect(page.locator("h1")).to_contain_text("活动纪实")
    toolbar = page.locator("nav.toolbar")
    expect(toolbar).to_be_visible()
    page.emulate_media(media="print")
    expect(toolbar).to_be_hidden()  # the buttons do not print
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 1
    # Chromium's PDF text maps some characters to Kangxi radicals (⼝ for 口): NFKC undoes it.
    text = unicodedata.normalize("NFKC", pages[0].extract_text())
    assert "活动纪实" in text and "江口县政府会议室" in text
    assert console_errors == []


def test_the_targets_panel_changes_year_in_place(site, page, console_errors):
    reference = Reference()
    path = f"/pairings/{reference.pairing.pk}/"
    sign_in(page, site.url, path)
    page.wait_for_url(f"**{path}")
    wait_until(page, "window.htmx !== undefined")
    heading = page.locator("#targets-heading")
    select = page.locator("#targets select[name=year]")
    # The panel loads after the page: its form listens once htmx has settled it.
    wait_until(page, "document.querySelector('#targets form') !== null")
    wait_settled(page, "#targets")
    # A year other than the one the panel opened on (which depends on today's date).
    year = "2023" if select.input_value() != "2023" else "2024"
    with page.expect_response(lambda response: f"/targets/?year={year}" in response.url) as asked:
        page.select_option("#targets select[name=year]", year)
    assert asked.value.headers.get("hx-push-url") == f"{path}?year={year}"
    expect(heading).to_contain_text(year)
    # The page stayed: the panel was swapped, the aid table is still there; the year went into
    # the page's address.
    wait_until(page, f"location.search === '?year={year}'")
    expect(page.locator("#villages-heading")).to_be_visible()
    report = page.locator("#targets a", has_text="A4")
    assert report.count() == 0 or report.first.get_attribute("href").endswith(f"/report/{year}/")
    # A filter change keeps the year in the address, and a reload shows it again.
    choose(page, "year_from", "2022")
    assert {"year_from=2022", f"year={year}"} <= set(page.url.split("?")[1].split("&")), page.url
    page.reload()
    expect(heading).to_contain_text(year)
    expect(page.locator("#targets select[name=year]")).to_have_value(year)
    assert console_errors == []


def test_the_annual_report_prints_on_a4_with_its_charts(site, page, console_errors):
    import pypdf

    pairing = Partnership.objects.get(name="", assisted_region__name="示例西县")
    path = f"/pairings/{pairing.pk}/report/2023/"
    sign_in(page, site.url, path)
    page.wait_for_url(f"**{path}")
    expect(page.locator("svg.bars")).to_have_count(2)
    expect(page.locator("table.indicators progress").first).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("nav.toolbar")).to_be_hidden()
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    width, height = (float(x) for x in reader.pages[0].mediabox[2:])
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    text = unicodedata.normalize("NFKC", "".join(p.extract_text() for p in reader.pages))
    assert "2023" in text and "示例" in text
    assert console_errors == []


def test_the_donations_list_fits_an_office_screen(site, page, django_user_model):
    """Eight donors and a county's full path once made each row wrap and push columns off."""
    reference = Reference()
    for day in (23, 24):
        gift = handover(
            reference.town_pairing,
            Region.objects.get(name="沙坝河村"),
            "100",
            datetime.date(2024, 11, day),
            donors=Organisation.objects.filter(name__contains="公司"),
        )
        Donation.objects.filter(pk=gift.pk).update(category="rural")
    admin_sign_in(page, site.url, "/admin/partnerships/donation/", django_user_model)
    expect(page.locator("#result_list")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    # nor does the table scroll inside its box: every column is in view
    widths = page.evaluate(
        """[document.querySelector('#result_list').scrollWidth,
            document.querySelector('#changelist .results').clientWidth]"""
    )
    assert widths[0] <= widths[1], widths
    reference = page.locator("#result_list tr", has_text="1,050,000.00")
    donors = reference.locator("td.field-donor_names")
    expect(donors).to_contain_text("等（另有 5 个）")
    # the report gives the handover's year, not its day; the place by its own name
    expect(reference.locator(".field-handed_over")).to_have_text("2023年（具体日期未见报道）")
    expect(reference.locator(".field-region_name")).to_have_text("江口县")
    # a day, a category and a place each on one line ("2026年11月23 / 日" read as two words)
    lines = page.evaluate(
        """[...document.querySelectorAll(
              '#result_list .field-handed_over .day, #result_list td.field-category,'
              + ' #result_list td.field-region_name')]
            .map(cell => {
              const range = document.createRange();
              range.selectNodeContents(cell);
              return [cell.textContent, new Set([...range.getClientRects()].map(r => r.top)).size];
            })"""
    )
    assert lines and all(count == 1 for _, count in lines), lines
    # names wrap between names ("…有限公司、/ …"), not inside one ("…有限公 / 司"); so do
    # fiscal or social and the rest
    assert not words_broken(page, "#result_list td"), words_broken(page, "#result_list td")
    expect(page.locator("#user-tools")).to_contain_text("欢迎，chief。")


def words_broken(page, selector) -> list[str]:
    """The cells under `selector` whose text wraps between two Chinese characters, each with
    " / " where it wraps ("社会帮扶资 / 金"). Between a Chinese mark and what follows ("…、/
    广东…") is where Chinese wraps; at a <br> a line ends, and is not counted."""
    return page.evaluate(
        """selector => {
          const ideograph = /[\u4e00-\u9fff]/;
          const broken = [];
          for (const cell of document.querySelectorAll(selector)) {
            const walker = document.createTreeWalker(
              cell, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
            const chars = [];
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              if (node.nodeName === "BR") chars.push(["¶", -Infinity]);  // a line ends here
              if (node.nodeType !== Node.TEXT_NODE) continue;
              for (let i = 0; i < node.length; i++) {
                const range = document.createRange();
                range.setStart(node, i);
                range.setEnd(node, i + 1);
                const rect = range.getClientRects()[0];
                if (rect) chars.push([node.data[i], rect.top]);
              }
            }
            let text = "", wrapped = false;
            for (let i = 0; i < chars.length; i++) {
              if (i && chars[i][1] > chars[i - 1][1] + 2) {
                text += " / ";
                const before = chars[i - 1][0], after = chars[i][0];
                if (ideograph.test(before) && ideograph.test(after)) wrapped = true;
              }
              text += chars[i][0];
            }
            if (wrapped) broken.push(text);
          }
          return broken;
        }""",
        selector,
    )


def test_the_people_sent_list_keeps_words_whole(site, page, django_user_model):
    """ "支医医护人 / 员", "东部赴 / 西部" at 1280 px."""
    admin_sign_in(page, site.url, "/admin/partnerships/posting/", django_user_model)
    expect(page.locator("#result_list")).to_be_visible()
    assert page.locator("#result_list tbody tr").count() > 10
    cells = "#result_list td, #result_list tbody th"
    assert not words_broken(page, cells), words_broken(page, cells)
    widths = page.evaluate(
        """[document.querySelector('#result_list').scrollWidth,
            document.querySelector('#changelist .results').clientWidth]"""
    )
    assert widths[0] <= widths[1], widths


def test_a_donations_lines_fit_an_office_screen(site, page, django_user_model):
    """The lines table ran 120 px past a 1280 px window, its note and delete box cut off."""
    reference = Reference()
    donation = reference.donation
    donation.lines.create(amount=200000, region=reference.qixin, is_itemised=True)
    donation.rebalance()
    admin_sign_in(
        page, site.url, f"/admin/partnerships/donation/{donation.pk}/change/", django_user_model
    )
    expect(page.locator("#lines-group")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    note = page.locator("#lines-group td.field-note input").first
    assert note.bounding_box()["x"] + note.bounding_box()["width"] <= 1280


def test_a_choice_above_the_clerks_pairing_offers_no_link_to_a_404(site, page, django_user_model):
    """A town clerk's meeting held during the county pairing's visit: the pencil and eye beside
    the visit picker opened that visit's page, a 404 to them. They stay without an address,
    saying why, until a visit of their own pairing is chosen, and lose it again when the
    county's visit is found by searching."""
    from django.contrib.auth.models import Group

    from partnerships.access import DATA_ENTRY
    from partnerships.models import Assignment, Meeting, Visit

    reference = Reference()
    own = Visit.objects.create(
        partnership=reference.town_pairing,
        direction="east_to_west",
        start_date=datetime.date(2023, 3, 2),
        end_date=datetime.date(2023, 3, 2),
    )
    clerk = django_user_model.objects.create_user(
        username="town_clerk", password="pw-Town-Clerk-1", is_staff=True
    )
    clerk.groups.add(Group.objects.get(name=DATA_ENTRY))
    Assignment.objects.create(user=clerk, partnership=reference.town_pairing)
    meeting = Meeting.objects.get(partnership=reference.town_pairing, visit=reference.visit)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{site.url}/admin/login/?next=/admin/partnerships/meeting/{meeting.pk}/change/")
    page.fill("input[name=username]", "town_clerk")
    page.fill("input[name=password]", "pw-Town-Clerk-1")
    page.click("input[type=submit]")

    reason = "此项属于上级结对：可以选用，不能打开。"
    change, view = page.locator("#change_id_visit"), page.locator("#view_id_visit")
    for link in (change, view):
        expect(link).to_have_attribute("aria-disabled", "true")
        expect(link).to_have_attribute("title", reason)
        assert link.get_attribute("href") is None
    expect(page.locator("#id_visit-outside-scope")).to_have_text(reason)

    def pick(term):
        page.click("#id_visit + .select2")
        page.fill(".select2-search__field", term)
        page.locator(".select2-results__option", has_text=term).first.click()

    pick("2023年3月2日")
    own_page = f"/admin/partnerships/visit/{own.pk}/change/?_to_field=id&_popup=1"
    expect(change).to_have_attribute("href", own_page)
    expect(view).not_to_have_attribute("aria-disabled", "true")
    assert change.get_attribute("title") != reason
    note = page.locator("#id_visit-outside-scope")
    expect(note).to_have_count(0)
    assert "id_visit-outside-scope" not in (
        page.get_attribute("#id_visit", "aria-describedby") or ""
    )
    pick("2023年1月10日")
    expect(change).to_have_attribute("aria-disabled", "true")
    expect(change).to_have_attribute("title", reason)
    assert change.get_attribute("href") is None and view.get_attribute("href") is None
    # The reason is also written under the picker, which names it as its description: a
    # keyboard or screen-reader user never meets the links' titles.
    expect(note).to_have_text(reason)
    for described in ("#id_visit", "#id_visit + .select2 .select2-selection"):
        expect(page.locator(described)).to_have_attribute(
            "aria-describedby", re.compile(r"\bid_visit-outside-scope\b")
        )
    # On a new meeting, the county's visit is known only from the search's answer.
    page.goto(f"{site.url}/admin/partnerships/meeting/add/")
    assert page.locator("#id_visit option[data-outside-scope]").count() == 0
    pick("2023年1月10日")
    expect(change).to_have_attribute("aria-disabled", "true")
    expect(change).to_have_attribute("title", reason)
    assert change.get_attribute("href") is None


SHOWS_WHOLE = """el => {
  // whether a box's text (a text box's value, a select's chosen option) is shown whole
  const style = getComputedStyle(el);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const select = el.tagName === "SELECT";
  const text = select ? el.options[el.selectedIndex].text : el.value;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return context.measureText(text).width <= room - (select ? 16 : 0);
}"""


def test_entry_forms_show_whole_words_at_1366(site, page, django_user_model):
    """At 1366 × 768 the lines' "删除?" broke into 删 / 除?, the visit chosen for a handover
    read "2023-01-10考…", and an activity's title and kind were cut (江口县·樟木头镇东西部…,
    看望慰问选派干部人…)."""
    reference = Reference()
    donation = reference.donation
    donation.lines.create(amount=200000, region=reference.qixin, is_itemised=True)
    donation.rebalance()
    admin_sign_in(
        page, site.url, f"/admin/partnerships/donation/{donation.pk}/change/", django_user_model
    )
    page.set_viewport_size({"width": 1366, "height": 768})
    expect(page.locator("#lines-group")).to_be_visible()
    assert not words_broken(page, "#lines-group thead th"), words_broken(page, "#lines-group th")
    chosen = page.locator("#select2-id_visit-container")
    expect(chosen).to_contain_text("樟木头镇—江口县 2023年1月10日考察交流")
    assert chosen.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.goto(f"{site.url}/admin/partnerships/visit/{reference.visit.pk}/change/")
    rows = "#activities-group tr.form-row:not(.empty-form)"
    title = page.locator(
        f"{rows} td.field-title input[value='江口县·樟木头镇东西部协作工作座谈会']"
    )
    kinds = page.locator(f"{rows} td.field-kind select")
    expect(title).to_be_visible()
    assert title.evaluate(SHOWS_WHOLE)
    assert kinds.count() >= 5 and all(kind.evaluate(SHOWS_WHOLE) for kind in kinds.all())
    assert "看望慰问选派干部人才" in kinds.evaluate_all(
        "selects => selects.map(s => s.options[s.selectedIndex].text)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366


def test_a_history_pages_tables_line_up(site, page, django_user_model):
    """The record's versions and the tables of its page's entries, one width, one column
    grid: they were each as narrow as their content, and headers broke (已修 / 改)."""
    visit = Reference().visit
    admin_sign_in(
        page, site.url, f"/admin/partnerships/visit/{visit.pk}/history/", django_user_model
    )
    expect(page.locator("table.child-history").first).to_be_visible()
    boxes = page.evaluate(
        """[...document.querySelectorAll('#change-history, table.child-history')].map(t => [
              t.getBoundingClientRect().width,
              t.querySelector('th:nth-child(3)').getBoundingClientRect().left,
            ])"""
    )
    assert len(boxes) > 2 and len({round(w) for w, _ in boxes}) == 1, boxes
    assert len({round(left) for _, left in boxes}) == 1, boxes


def test_the_visit_form_fits_an_office_screen(site, page, console_errors, django_user_model):
    """The activities table has six columns: at 1280 px nothing runs off to the right, in
    either language (the English headers are the wider)."""
    visit = Reference().visit
    admin_sign_in(
        page, site.url, f"/admin/partnerships/visit/{visit.pk}/change/", django_user_model
    )
    expect(page.locator("#activities-group")).to_be_visible()
    assert page.locator("#activities-group tbody tr.form-row").count() >= 5
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": site.url}])
    page.reload()
    expect(page.locator("#activities-group")).to_contain_text("Delete?")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert console_errors == []


def test_a_charts_tooltip_says_where_part_of_a_figure_is_unknown(site, page, console_errors):
    """The table said "0.05 ＋不详" for a village, the chart's tooltip only "2023: 0.05"."""
    reference = Reference()
    handover(
        reference.pairing,
        reference.qixin,
        "500.00",
        datetime.date(2023, 5, 1),
        [reference.town_government],
    )
    sign_in(page, site.url, f"/pairings/{reference.pairing.pk}/")
    wait_until(page, "window.Chart && document.querySelector('#pairing-chart')")
    labels = wait_until(
        page,
        """(() => {
            const canvas = document.querySelector("#pairing-chart canvas")
                || document.querySelector("figure[data-chart] canvas");
            const chart = canvas && window.Chart.getChart(canvas);
            if (!chart) return null;
            const label = chart.options.plugins.tooltip.callbacks.label;
            return chart.data.datasets.flatMap((dataset, i) => dataset.data.map((value, j) =>
              value === null ? null : label({
                parsed: {x: Number(value), y: Number(value)}, dataset: dataset,
                datasetIndex: i, dataIndex: j})).filter(Boolean));
        })()""",
    )
    assert "2023：0.05 万元 ＋不详" in labels, labels
    assert not console_errors


@pytest.mark.browser_context_args(
    has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844}
)
def test_a_tap_on_a_figure_shows_its_exact_amount(site, page, console_errors):
    """A figure's exact amount in yuan, and why a share is unknown, were in its title only,
    which a mouse shows on hover and a phone never shows."""
    reference = Reference()
    sign_in(page, site.url, f"/pairings/{reference.pairing.pk}/")
    wait_settled(page, "#panel")
    expect(page.locator("#targets")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("footer")).to_contain_text("点按数字")
    note = page.locator(".figure-note")
    figure = page.locator("#villages-heading ~ .table-wrap .grand-total data")
    exact = f"{Decimal(figure.get_attribute('value')):,.2f} 元"
    figure.tap()
    expect(note).to_be_visible()
    expect(note).to_have_text(exact)
    expect(page.locator("#swap-status")).to_have_text(exact)
    # under the figure, and on the screen even at its right edge
    shown, tapped = note.bounding_box(), figure.bounding_box()
    assert shown["y"] >= tapped["y"] + tapped["height"] - 1, (shown, tapped)
    assert shown["x"] >= 0 and shown["x"] + shown["width"] <= 390, shown
    figure.tap()  # a second tap hides it
    expect(note).to_be_hidden()
    figure.tap()
    expect(note).to_be_visible()
    page.locator("h1").tap()  # as does a tap elsewhere
    expect(note).to_be_hidden()
    # a share the report does not give says why
    unknown = page.locator("main .unknown[title]").first
    reason = unknown.get_attribute("title")
    assert reason, reason
    unknown.tap()
    expect(note).to_have_text(reason)
    page.keyboard.press("Escape")
    expect(note).to_be_hidden()
    # a table scrolled sideways leaves no box pointing at nothing
    wide = page.locator(".table-wrap", has=page.locator(".unknown[title]")).first
    unknown.tap()
    expect(note).to_be_visible()
    wide.evaluate("box => { box.style.width = '120px'; box.scrollBy(40, 0); }")
    expect(note).to_be_hidden()
    # a filter's swap takes it away with the figure it belonged to
    figure = page.locator("#villages-heading ~ .table-wrap .grand-total data")
    figure.tap()
    expect(note).to_be_visible()
    choose(page, "funding", "social")
    expect(note).to_be_hidden()
    # Back replaces the page's body (htmx's history from the server): taps still show it
    page.go_back()
    expect(page.locator("#panel select[name=funding]")).to_have_value("")
    wait_settled(page, "#panel")
    page.locator("#villages-heading ~ .table-wrap .grand-total data").tap()
    expect(note).to_be_visible()
    expect(note).to_have_text(exact)
    assert console_errors == []


def dashboard_tables(page):
    """Each dashboard table on the page: its scroll box's widths and its right edge once
    scrolled to the end (whether every column can be brought into view)."""
    return page.evaluate(
        """[...document.querySelectorAll('table.figures')].map(table => {
              const box = table.closest('.table-wrap');
              if (!box) return {caption: table.caption && table.caption.textContent, box: null};
              box.scrollLeft = box.scrollWidth;
              const boxRight = box.getBoundingClientRect().right;
              const tableRight = table.getBoundingClientRect().right;
              box.scrollLeft = 0;
              return {caption: table.caption && table.caption.textContent,
                      box: [box.scrollWidth, box.clientWidth, boxRight],
                      tableRight: tableRight};
            })"""
    )


def dates_on_two_lines(page) -> list[str]:
    """The dates in dashboard tables that wrap ("2021年9月3 / 日")."""
    return page.evaluate(
        """[...document.querySelectorAll('table.figures time')].filter(time => {
              const range = document.createRange();
              range.selectNodeContents(time);
              return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
            }).map(time => time.textContent)"""
    )


def sample_dashboard_paths() -> list[str]:
    """A page of each kind with its tables: the overview (pairings and ranking), the ranking,
    a visit with handovers and their lines, a county with two pages of handovers, a pairing
    with its donors, a donor."""
    from django.db.models import Count

    from partnerships.models import Visit

    visit = (
        Visit.objects.annotate(n=Count("donations"))
        .filter(n__gt=1, partnership__name="")
        .order_by("pk")
        .first()
    )
    county = Region.objects.get(name="示例西县")
    pairing = Partnership.objects.get(name="示例东西")
    donor = Organisation.objects.get(name="示例服饰有限公司")
    return [
        "/",
        "/targets/",
        f"/visits/{visit.pk}/",
        f"/regions/{county.pk}/",
        f"/regions/{county.pk}/?page=2",
        f"/pairings/{pairing.pk}/",
        f"/donors/{donor.pk}/",
    ]


def test_dashboard_tables_read_on_a_phone(site, page, console_errors):
    """At 390 px names stood one character a line (示/例/东/市), headers broke (帮扶/方) and
    the last columns were cut off: each table now keeps its words whole and scrolls inside
    its own box, and the page does not scroll sideways."""
    page.set_viewport_size({"width": 390, "height": 844})
    paths = sample_dashboard_paths()
    sign_in(page, site.url, paths[0])
    for path in paths:
        page.goto(site.url + path)
        expect(page.locator("table.figures").first).to_be_visible()
        # a panel loaded after the page (the targets) is in and labelled before measuring
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        cells = "table.figures th, table.figures td"
        assert not words_broken(page, cells), (path, words_broken(page, cells))
        assert not dates_on_two_lines(page), (path, dates_on_two_lines(page))
        # a table that scrolls in its box makes the box a named stop for the keyboard
        scrollers = page.evaluate(
            """[...document.querySelectorAll('.table-wrap')]
                .filter(box => box.scrollWidth > box.clientWidth + 1)
                .map(box => [box.getAttribute('role'), box.tabIndex,
                             box.getAttribute('aria-label') || '',
                             box.querySelector('caption').textContent.trim()])"""
        )
        assert scrollers, path
        for role, tab_index, label, caption in scrollers:
            assert (role, tab_index, label) == ("region", 0, caption), (path, label)
        for table in dashboard_tables(page):
            assert table["box"] is not None, (path, table)
            box_right = table["box"][2]
            assert box_right <= 390, (path, table)
            # scrolled to its end, its last column is in view
            assert table["tableRight"] <= box_right + 1, (path, table)
        # a column of names or places is wide enough for a name, not one character
        narrowest = page.evaluate(
            """Math.min(...[...document.querySelectorAll(
                  'table.figures tbody th, table.figures tbody td:not(.num)')]
                .filter(cell => cell.colSpan === 1)
                .map(cell => cell.getBoundingClientRect().width))"""
        )
        assert narrowest >= 80, (path, narrowest)
    assert console_errors == []


def test_named_rows_keep_their_names_in_view_on_a_phone(site, page, console_errors):
    """On a phone, scrolling a village table sideways took the villages' names off screen with
    the first years: the column of names now stays while the figures scroll under it."""
    page.set_viewport_size({"width": 390, "height": 844})
    paths = sample_dashboard_paths()
    sign_in(page, site.url, paths[0])
    scrolled = 0
    for path in paths:
        page.goto(site.url + path)
        expect(page.locator("table.figures").first).to_be_visible()
        # a panel loaded after the page (the targets) is in and labelled before measuring
        page.wait_for_load_state("networkidle")
        tables = page.evaluate(
            """[...document.querySelectorAll('.table-wrap')].filter(wrap =>
                  wrap.scrollWidth > wrap.clientWidth
                  && wrap.querySelector('tbody > tr > th:first-child')
               ).map(wrap => {
                  const name = wrap.querySelector('tbody > tr > th:first-child');
                  name.scrollIntoView({block: 'center', inline: 'nearest'});
                  wrap.scrollLeft = wrap.scrollWidth;
                  const after = name.getBoundingClientRect().left;
                  const hit = document.elementFromPoint(
                      after + 2, name.getBoundingClientRect().top + 2);
                  return {after, wrapLeft: wrap.getBoundingClientRect().left,
                          covered: name.contains(hit),
                          background: getComputedStyle(name).backgroundColor};
               })"""
        )
        for table in tables:
            scrolled += 1
            assert abs(table["after"] - table["wrapLeft"]) <= 1, (path, table)
            # opaque and on top: the figures scroll under the names, not over them
            assert table["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), (path, table)
            assert table["covered"], (path, table)
    assert scrolled, "no table of these pages scrolls sideways at 390 px"
    assert console_errors == []


def test_a_phone_keeps_room_for_the_figures_beside_names_and_totals(site, page, console_errors):
    """In English at 390 px a village table's names and its total ("283.16 + unknown" on one
    line), both kept in view, took 269 of the box's 374 px: about one year's column was left
    to scroll in. They leave at least a third of the box, in either language."""
    page.set_viewport_size({"width": 390, "height": 844})
    paths = sample_dashboard_paths()
    sign_in(page, site.url, paths[0])
    measured = 0
    for language in ("en", "zh-hans"):
        page.context.add_cookies([{"name": "django_language", "value": language, "url": site.url}])
        for path in paths:
            page.goto(site.url + path)
            expect(page.locator("table.figures").first).to_be_visible()
            # a panel loaded after the page (the targets) is in and labelled before measuring
            page.wait_for_load_state("networkidle")
            boxes = page.evaluate(
                """[...document.querySelectorAll('.table-wrap')]
                    .filter(wrap => wrap.scrollWidth > wrap.clientWidth
                        && wrap.querySelector('table.with-total tbody > tr > th:first-child'))
                    .map(wrap => {
                        const widest = cells => Math.max(...[...wrap.querySelectorAll(cells)]
                            .map(cell => cell.getBoundingClientRect().width));
                        return {caption: wrap.querySelector('caption').textContent.trim(),
                                box: wrap.clientWidth,
                                names: widest('tr > :first-child'),
                                totals: widest('tr > :last-child')};
                    })"""
            )
            for box in boxes:
                measured += 1
                room = box["box"] - box["names"] - box["totals"]
                assert room >= box["box"] / 3, (language, path, box)
    assert measured, "no table with names and a total scrolls sideways at 390 px"
    assert console_errors == []


def test_a_printed_tables_total_row_is_printed_once(site, page, console_errors):
    """Printed, a long table repeated its 合计 row at the foot of every page, under rows that
    do not add up to it."""
    paths = sample_dashboard_paths()
    sign_in(page, site.url, paths[0])
    page.goto(site.url + paths[-2])  # the pairing: its villages' table ends in a total row
    expect(page.locator("table.figures tfoot").first).to_be_attached()
    feet = """[...document.querySelectorAll('table.figures tfoot')]
        .map(foot => getComputedStyle(foot).display)"""
    assert set(page.evaluate(feet)) == {"table-footer-group"}  # on screen, as a foot
    page.emulate_media(media="print")
    assert set(page.evaluate(feet)) == {"table-row-group"}
    assert console_errors == []


def test_a_printed_visit_record_keeps_names_whole(site, page, console_errors):
    """Printed from the browser, a visit's record broke names inside a word (广东 /
    小猪班纳服饰股份有限公司, 净 / 河村): they wrap between words, as the dashboard's do."""
    from partnerships.models import Visit

    paths = sample_dashboard_paths()
    sign_in(page, site.url, paths[0])
    page.set_viewport_size({"width": 718, "height": 1000})  # A4's 190 mm of text
    page.emulate_media(media="print")
    visit = Visit.objects.filter(donations__isnull=False).order_by("pk").first()
    page.goto(f"{site.url}/visits/{visit.pk}/record/")
    expect(page.locator("table").first).to_be_visible()
    assert not words_broken(page, "td, th"), words_broken(page, "td, th")
    assert console_errors == []


def test_dashboard_words_stay_whole_at_office_width(site, page, console_errors):
    """At 1280 px dates broke (2021年9月3 / 日), and so did a headline tile (资金及物资（未拆
    / 分）) and a header (资金或物 / 资); the tables still fit without scrolling."""
    page.set_viewport_size({"width": 1280, "height": 900})
    paths = sample_dashboard_paths()
    sign_in(page, site.url, paths[0])
    for path in paths:
        page.goto(site.url + path)
        expect(page.locator("table.figures").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280, path
        cells = "table.figures th, table.figures td, .stat .label"
        assert not words_broken(page, cells), (path, words_broken(page, cells))
        assert not dates_on_two_lines(page), (path, dates_on_two_lines(page))
        for table in dashboard_tables(page):
            scroll_width, client_width, _right = table["box"]
            assert scroll_width <= client_width, (path, table)
    assert console_errors == []


def test_a_filter_change_pushes_only_the_filters_chosen(site, page, console_errors):
    """The address read /?year_from=2023&year_to=&category=&donor_kind=&…: every empty
    filter was sent and pushed. A shared link now names only what was chosen."""
    sign_in(page, site.url, "/")
    expect(page.locator("h1")).to_be_visible()
    wait_settled(page, "#panel")
    with page.expect_request(lambda request: "year_from=2023" in request.url) as asked:
        page.select_option("#panel select[name=year_from]", "2023")
    assert asked.value.url == f"{site.url}/?year_from=2023"
    expect(page).to_have_url(f"{site.url}/?year_from=2023")
    expect(page.locator("#panel select[name=year_from]")).to_have_value("2023")
    choose(page, "category", "education")
    expect(page).to_have_url(f"{site.url}/?year_from=2023&category=education")
    choose(page, "year_from", "")
    expect(page).to_have_url(f"{site.url}/?category=education")
    # the pushed link, opened afresh, shows the same choice
    page.reload()
    expect(page.locator("#panel select[name=category]")).to_have_value("education")
    expect(page.locator("#panel select[name=year_from]")).to_have_value("")
    assert console_errors == []


def focused(page) -> str:
    """What has keyboard focus: a short description, "BODY" when nothing has."""
    return page.evaluate(
        """(() => { const e = document.activeElement;
              return !e || e === document.body ? "BODY"
                : e.tagName + (e.id ? "#" + e.id : "") + " " + e.textContent.trim().slice(0, 30);
            })()"""
    )


def press_and_wait_for_swap(page, selector, region):
    """Focus `selector`, press Enter, and wait until htmx has swapped and settled `region`."""
    wait_settled(page, region)
    page.evaluate(f"document.querySelector({region!r}).dataset.stale = 'yes'")
    page.locator(selector).focus()
    page.keyboard.press("Enter")
    wait_until(page, f"!document.querySelector({region!r}).dataset.stale")
    wait_settled(page, region)
    page.wait_for_timeout(100)


def test_keyboard_focus_survives_a_swap(site, page, console_errors):
    """Enter on 应用, 重置, 下一页 or a year of the strip swapped the control away and left
    focus on <body>; after 下一页 the window stayed near the bottom of the new list."""
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, site.url, "/")
    expect(page.locator("h1")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    choose(page, "year_from", "2023")

    press_and_wait_for_swap(page, "#panel form.filters button[type=submit]", "#panel")
    expect(page.locator("#panel form.filters button[type=submit]")).to_be_focused()

    press_and_wait_for_swap(page, "#panel form.filters a.reset", "#panel")
    expect(page.locator("#panel form.filters a.reset")).to_be_focused()
    expect(page).to_have_url(f"{site.url}/")
    expect(page.locator("#panel select[name=year_from]")).to_have_value("")
    assert page.evaluate("window.__sameDocument") is True  # reset swapped, no page load

    county = Region.objects.get(name="示例西县")
    page.goto(f"{site.url}/regions/{county.pk}/")
    next_page = "#panel nav.pager a:last-child"
    expect(page.locator(next_page)).to_be_visible()
    page.locator(next_page).scroll_into_view_if_needed()
    press_and_wait_for_swap(page, next_page, "#panel")
    assert "page=2" in page.url
    heading = page.locator("#donations-heading")
    expect(heading).to_be_focused()
    top = page.evaluate("document.getElementById('donations-heading').getBoundingClientRect().top")
    assert 0 <= top < 100, top  # the new list starts at the top of the window

    pairing = Reference().pairing
    page.goto(f"{site.url}/pairings/{pairing.pk}/")
    wait_until(page, "document.querySelector('#targets .year-strip a') !== null")
    year_link = page.locator("#targets .year-strip li:not(.current) a").first
    year = year_link.text_content()
    press_and_wait_for_swap(page, "#targets .year-strip li:not(.current) a >> nth=0", "#targets")
    expect(page.locator("#targets-heading")).to_contain_text(year)
    expect(page.locator("#targets-heading")).to_be_focused()
    assert focused(page) != "BODY"
    assert console_errors == []


def test_a_filter_change_keeps_its_place_and_is_announced(site, page, console_errors):
    """Chosen with the panel's top just above the window, a filter's swap moved the page by
    thousands of pixels (the browser's scroll anchoring), leaving the select just used out of
    view; and a screen reader was told nothing of the new figures."""
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, site.url, "/")
    wait_settled(page, "#panel")
    status = page.locator("#swap-status")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_have_text("")
    # the panel's top out of view above, the select (low in the form on a phone) in view
    select = "#panel select[name=funding]"
    page.evaluate(
        f"window.scrollTo(0, document.querySelector({select!r}).getBoundingClientRect().top"
        " + window.scrollY - 40)"
    )
    assert page.evaluate("document.getElementById('panel').getBoundingClientRect().top") < 0
    before = page.evaluate(f"document.querySelector({select!r}).getBoundingClientRect().top")
    assert 0 <= before < 844, before
    choose(page, "funding", "social")
    page.wait_for_timeout(300)
    after = page.evaluate(f"document.querySelector({select!r}).getBoundingClientRect().top")
    assert abs(after - before) < 50, (before, after)
    expect(status).to_have_text(re.compile(r"^数据已更新。 筛选条件：.*社会帮扶资金及物资"))
    # a reset is said to leave no filter
    press_and_wait_for_swap(page, "#panel form.filters a.reset", "#panel")
    expect(status).to_have_text("数据已更新。 未设筛选条件。")
    assert console_errors == []


def cards_cut_off(page) -> list[str]:
    """The headline cards whose figure is hidden in part: wider than its card (cut off under
    the next card or spilling over its border), or a card past the window's edge."""
    return page.evaluate(
        """[...document.querySelectorAll('.headline .stat')].filter(stat => {
              const card = stat.getBoundingClientRect();
              const value = stat.querySelector('.value');
              const figure = value.getBoundingClientRect();
              return value.scrollWidth > value.clientWidth
                || figure.left < card.left || figure.right > card.right
                || card.left < 0 || card.right > document.documentElement.clientWidth;
            }).map(stat => stat.textContent.replace(/\\s+/g, ' ').trim())"""
    )


def test_headline_figures_show_in_full(site, page, console_errors):
    """帮扶总额 3,859,092.12 read "3,859,092.1…" at 1366 px, hidden under the next card, and
    ran past the card's border at 390 px: every figure up to 99,999,999.99 万元 now shows
    whole, in both languages."""
    pairing = Reference().pairing
    county = Region.objects.get(name="江口县")
    # 99,999,999.99 万元 in all in 1995, a year of nothing else, split across the three kinds
    for kind in ("funds", "materials", "both"):
        Donation.objects.create(
            partnership=pairing,
            date=datetime.date(1995, 6, 1),
            amount=Decimal("333333333300.00"),
            kind=kind,
            region=county,
        ).rebalance()
    path = "/?year_from=1995&year_to=1995"
    sign_in(page, site.url, path)
    for language, total in (("zh-hans", "99,999,999.99"), ("en", "99,999,999.99")):
        page.set_extra_http_headers({"Accept-Language": language})
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(site.url + path)
            expect(page.locator(".headline .stat .value").first).to_have_text(total)
            expect(page.locator(".reach .stat .value").first).not_to_have_text("…")
            assert not cards_cut_off(page), (language, width, cards_cut_off(page))
            assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert console_errors == []


def totals_out_of_view(page) -> list[dict]:
    """Each table with a total column that scrolls sideways, scrolled back to its start: where
    its total column is (in view at the box's right edge, opaque and on top of the figures
    scrolling under it)."""
    return page.evaluate(
        """[...document.querySelectorAll('.table-wrap')].filter(wrap =>
              wrap.scrollWidth > wrap.clientWidth && wrap.querySelector('table.with-total')
           ).map(wrap => {
              wrap.scrollIntoView({block: 'start'});
              wrap.scrollLeft = 0;
              const right = wrap.getBoundingClientRect().right;
              const cells = [...wrap.querySelectorAll('tr')].map(row => row.lastElementChild);
              const hidden = cells.filter(cell => {
                  const box = cell.getBoundingClientRect();
                  // on top of the figures, where the window shows it
                  const shown = box.top >= 0 && box.bottom <= window.innerHeight;
                  const hit = shown && document.elementFromPoint(box.left + 2, box.top + 2);
                  const background = getComputedStyle(cell).backgroundColor;
                  return Math.abs(box.right - right) > 1 || (shown && !cell.contains(hit))
                      || background === 'rgba(0, 0, 0, 0)';
              });
              return {caption: wrap.querySelector('caption').textContent,
                      hidden: hidden.map(cell => cell.textContent)};
           })"""
    )


def test_totals_stay_in_view_while_a_table_scrolls(site, page, console_errors):
    """At 1366 px the 合计 column of a pairing's village table with years from 1990 was off
    screen, and so was a county's place table's; at 390 px the overview's pairing table hid
    帮扶总额. The total column now stays at the right of the box while the figures scroll."""
    pairing = Partnership.objects.get(name="示例东西")
    county = Region.objects.get(name="示例西县")
    # a record in 1995, or the tables leave out the years before the first one
    handover(pairing, county, "1000.00", datetime.date(1995, 3, 1))
    pages = {
        1366: [f"/pairings/{pairing.pk}/?year_from=1990", f"/regions/{county.pk}/?year_from=1990"],
        390: ["/", f"/pairings/{pairing.pk}/", f"/regions/{county.pk}/?year_from=2010"],
    }
    sign_in(page, site.url, "/")
    for width, paths in pages.items():
        page.set_viewport_size({"width": width, "height": 800})
        for path in paths:
            page.goto(site.url + path)
            expect(page.locator("table.figures").first).to_be_visible()
            tables = totals_out_of_view(page)
            assert tables, (width, path, "no table with a total scrolls")
            for table in tables:
                assert not table["hidden"], (width, path, table)
    assert console_errors == []


def test_a_timeline_date_range_reads_as_one(site, page, console_errors):
    """The pairing page's timeline read "2026年11月26日 —2026年11月29日", a gap before the dash
    only (the first date's margin), beside "2026年10月24日—2026年10月25日": every span now has
    nothing but the dash between its days."""
    pairing = Partnership.objects.get(name="示例东西")
    sign_in(page, site.url, f"/pairings/{pairing.pk}/")
    expect(page.locator(".timeline li").first).to_be_visible()
    gaps = page.evaluate(
        """[...document.querySelectorAll('.timeline li')].filter(li =>
              li.querySelectorAll('time').length === 2
           ).map(li => {
              const [first, last] = li.querySelectorAll('time');
              const dash = document.createRange();
              dash.setStartAfter(first);
              dash.setEndBefore(last);
              return {text: li.textContent.trim().slice(0, 30),
                      dash: dash.toString(),
                      gap: last.getBoundingClientRect().left - first.getBoundingClientRect().right
                           - dash.getBoundingClientRect().width};
           })"""
    )
    assert gaps, "no visit of several days on the timeline"
    for entry in gaps:
        assert entry["dash"] == "—", entry
        assert abs(entry["gap"]) < 1, entry
    assert console_errors == []


@pytest.mark.parametrize("width", [390, 1366])
def test_the_search_box_lists_matches_as_one_types(site, page, console_errors, width):
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, site.url, "/")
    expect(page.locator("h1")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    box = page.locator("#site-search-q")
    box.fill("江口")
    place = page.locator(
        '#search-suggestions a[href^="/regions/"]', has_text="贵州省 铜仁市 江口县"
    )
    expect(place).to_be_visible()
    expect(page.locator('#search-suggestions a[href^="/pairings/"]').first).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True  # no page load: htmx
    # a screen reader hears how many were found, not every suggestion
    assert page.get_attribute("#search-suggestions", "aria-live") is None
    count = page.locator('#search-suggestions [role="status"]').text_content().strip()
    expect(page.locator("#swap-status")).to_have_text(count)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    found = box.bounding_box()
    assert found["x"] >= 0 and found["x"] + found["width"] <= width
    # emptied, the list closes
    box.fill("")
    wait_until(page, "!document.querySelector('#search-suggestions *')")
    # Enter opens the results as a page of their own
    box.fill("樟木头")
    box.press("Enter")
    page.wait_for_url("**/search/?q=*")
    expect(page.locator("main a", has_text="樟木头镇—江口县")).to_be_visible()
    expect(box).to_have_value("樟木头")
    page.locator("main a", has_text="樟木头镇—江口县").click()
    expect(page.locator("h1")).to_have_text("樟木头镇—江口县")
    assert console_errors == []


def test_a_download_that_cannot_be_made_says_why(site, page, monkeypatch, console_errors):
    """The links carried `download`, so the browser took every answer for a file: the page
    saying that an XLSX would be too large, and offering the CSV, ended as a failed download
    and the reader saw nothing. A file still downloads; a refusal is shown."""
    from partnerships import exports

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, site.url, "/")
    ledger = page.locator("p.exports", has_text="下载全部捐赠明细").first
    with page.expect_download() as csv_file:
        ledger.locator("a", has_text="CSV").click()
    assert csv_file.value.suggested_filename.endswith(".csv")
    # Wait for the whole file: a test that ended while the server still streamed it left
    # SQLite's shared database locked, so the next test found the last one's rows.
    assert csv_file.value.path().read_bytes().startswith(b"\xef\xbb\xbf")
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 1)
    ledger.locator("a", has_text="XLSX").click()
    expect(page.locator("h1")).to_have_text("行数过多，无法生成 XLSX 文件")
    with page.expect_download() as instead:
        page.locator("main a", has_text="CSV").first.click()
    assert instead.value.suggested_filename.endswith(".csv")
    assert instead.value.path().read_bytes().startswith(b"\xef\xbb\xbf")


NAMES_OF_BOXES = """root => [...root.querySelectorAll('tr.form-row .select2-selection')]
.map(box => {
  const select = box.closest('td').querySelector('select');
  const ids = (box.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean);
  return [select.getAttribute('aria-label') || '',
          ids.map(id => (document.getElementById(id) || {}).textContent || '').join(' ').trim()];
})"""


def test_pickers_in_a_table_of_rows_say_their_column(site, page, django_user_model):
    """A handover's line's region, organisation and donor pickers were read out as their
    choice alone ("齐心村, combo box"): each is labelled by its column, then its choice; so
    are those of a row added on the page."""
    reference = Reference()
    donation = reference.donation
    donation.lines.create(amount=200000, region=reference.qixin, is_itemised=True)
    donation.rebalance()
    admin_sign_in(
        page, site.url, f"/admin/partnerships/donation/{donation.pk}/change/", django_user_model
    )
    lines = page.locator("#lines-group")
    expect(lines).to_be_visible()
    named = lines.evaluate(NAMES_OF_BOXES)
    assert named, named
    for column, name in named:
        assert column and name.startswith(column), named
    assert any(name.endswith("齐心村") for _column, name in named), named
    page.locator("#lines-group .add-row a").click()
    added = lines.evaluate(NAMES_OF_BOXES)
    assert len(added) > len(named), added
    for column, name in added:
        assert column and name.startswith(column), added


def test_an_idle_session_warns_and_keeps_what_the_form_holds(
    site, page, console_errors, django_user_model
):
    """Typing sends no request: a clerk writing a record for half an hour was signed out
    unseen, and Save then lost what was typed, the sign-in page saying nothing."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from partnerships.middleware import RENEWED_AT

    page.clock.install()
    admin_sign_in(page, site.url, "/admin/partnerships/organisation/add/", django_user_model)
    page.fill("input[name=name]", "江口县新合作社")
    page.select_option("select[name=kind]", "enterprise")
    notice = page.locator("#session-notice")
    expect(notice).to_be_hidden()

    # 26 minutes without a request: the server's clock is the real one, so the session's
    # last use is moved back too.
    key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=key)
    session[RENEWED_AT] = int(time.time()) - 26 * 60
    session.save()
    page.clock.fast_forward("26:00")
    expect(notice.locator("[data-kind=warning]")).to_be_visible(timeout=20_000)
    expect(notice).to_contain_text("约 5 分钟后将自动退出登录")
    notice.locator("[data-stay]").click()
    expect(notice).to_be_hidden()

    # Then signed out (the session ended on the server), the page left open.
    Session.objects.update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
    page.clock.fast_forward("31:00")
    expect(notice.locator("[data-kind=ended]")).to_be_visible(timeout=20_000)
    page.click("input[name=_save]")
    page.clock.fast_forward("00:05")
    expect(notice.locator("[data-kind=ended]")).to_be_visible()
    assert page.url.endswith("/admin/partnerships/organisation/add/")
    assert page.input_value("input[name=name]") == "江口县新合作社"
    assert not Organisation.objects.filter(name="江口县新合作社").exists()

    # Signed in again in another tab (a new CSRF token), Save sends what the page held.
    other = page.context.new_page()
    other.goto(f"{site.url}/admin/login/")
    other.fill("input[name=username]", "chief")
    other.fill("input[name=password]", "pw-Chief-12345")
    other.click("input[type=submit]")
    expect(other.locator("#site-name")).to_be_visible()
    other.close()
    page.click("input[name=_save]")
    page.clock.fast_forward("00:05")
    expect(page.locator(".messagelist")).to_contain_text("江口县新合作社", timeout=20_000)
    assert Organisation.objects.filter(name="江口县新合作社").exists()
    assert console_errors == []


CLIPPED = """(root) => {
    // Boxes (fields, pickers, help text) running past the edge of an ancestor that hides
    // what overflows: their ends are cut off unseen (a help line lost its last character).
    const out = [];
    const boxes = root.querySelectorAll(
        'input:not([type=hidden]), select, textarea, .select2-container, .help');
    for (const box of boxes) {
        const rect = box.getBoundingClientRect();
        if (!rect.width) continue;
        let clipper = box.parentElement;
        while (clipper && clipper !== document.body) {
            if (['hidden', 'clip'].includes(getComputedStyle(clipper).overflowX)) break;
            clipper = clipper.parentElement;
        }
        if (!clipper || clipper === document.body) continue;
        if (rect.right > clipper.getBoundingClientRect().right + 0.5) {
            out.push((box.id || box.name || box.className) + ' in ' + clipper.className);
        }
    }
    return out;
}"""


def test_a_visits_handover_and_meeting_rows_fit_a_phone(site, page, django_user_model):
    """On a phone, Django's rows of several fields hide what runs past their edge: the last
    character of each help line, and the right edges of pickers, were cut off."""
    admin_sign_in(page, site.url, "/admin/partnerships/visit/add/", django_user_model)
    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    for group in ("#meetings-group", "#donations-group"):
        page.locator(f"{group} .add-row a").first.click()
    for group in ("#meetings-group", "#donations-group"):
        assert page.locator(group).evaluate(CLIPPED) == [], group


def test_a_form_is_sent_only_under_its_users_sign_in(site, page, console_errors, django_user_model):
    """Signed out in another tab, a form was sent and answered by the sign-in page, what it
    held lost; after someone else signed in there (a shared office computer), it was saved,
    and recorded in the audit trail, as theirs."""
    django_user_model.objects.create_superuser("deputy", password="pw-Deputy-12345")
    admin_sign_in(page, site.url, "/admin/partnerships/organisation/add/", django_user_model)
    page.fill("input[name=name]", "江口县新合作社")
    page.select_option("select[name=kind]", "enterprise")
    notice = page.locator("#session-notice")
    other = page.context.new_page()

    def sign_in_there(username, password):
        other.goto(f"{site.url}/admin/login/")
        other.fill("input[name=username]", username)
        other.fill("input[name=password]", password)
        other.click("input[type=submit]")
        expect(other.locator("#logout-form")).to_be_attached()

    def sign_out_there():
        other.goto(f"{site.url}/admin/")
        other.click("#logout-form button")
        expect(other.locator("input[name=username]")).to_be_attached()

    sign_out_there()
    page.click("input[name=_save]")
    expect(notice.locator("[data-kind=ended]")).to_be_visible()
    sign_in_there("deputy", "pw-Deputy-12345")
    page.click("input[name=_save]")
    expect(notice.locator("[data-kind=other]")).to_be_visible()
    expect(notice).to_contain_text("请先退出")
    assert page.input_value("input[name=name]") == "江口县新合作社"
    assert not Organisation.objects.filter(name="江口县新合作社").exists()
    sign_out_there()
    sign_in_there("chief", "pw-Chief-12345")
    other.close()
    page.dblclick("input[name=_save]")  # a second click while the page asks: sent once
    expect(page.locator(".messagelist")).to_contain_text("江口县新合作社")
    saved = Organisation.objects.get(name="江口县新合作社")
    assert saved.history.get().history_user.username == "chief"
    assert console_errors == []
