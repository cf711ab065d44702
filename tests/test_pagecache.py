"""Reused dashboard content (pagecache.py): never older than the data, never another user's.

These tests commit (transactional_db): the cache is skipped inside a transaction, which is
where the rest of the suite runs, so the rest checks the figures rendered afresh and these
check that what is reused is the same.
"""

import datetime
import io
import re
import threading
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from partnerships import pagecache
from partnerships.access import OFFICIAL_ALL, OFFICIAL_ASSIGNED
from partnerships.management.commands import load_reference_data
from partnerships.models import (
    Assignment,
    DataVersion,
    Donation,
    Organisation,
    Partnership,
    Region,
)

from .conftest import Reference

pytestmark = pytest.mark.django_db(transaction=True)

GRAND_TOTAL = re.compile(r'class="num total grand-total"><data value="([0-9.]+)"')


@pytest.fixture
def committed(transactional_db):
    load_reference_data.load()
    return Reference()


def login(client, django_user_model, name, group, *, staff=False, pairing=None):
    user = django_user_model.objects.create_user(
        username=name, password="pw-Official-1", is_staff=staff
    )
    user.groups.add(Group.objects.get(name=group))
    if pairing is not None:
        Assignment.objects.create(user=user, partnership=pairing)
    client.force_login(user)
    return client


@pytest.fixture
def reader(client, django_user_model):
    return login(client, django_user_model, "reader", OFFICIAL_ALL)


def version() -> str | None:
    return pagecache.data_version()


def pairing_total(response) -> Decimal:
    return Decimal(GRAND_TOTAL.findall(response.content.decode())[0])


@pytest.fixture
def renders(monkeypatch) -> list[str]:
    """The content and panels rendered afresh (not reused), by template name."""
    done = []
    render = pagecache.render_to_string

    def counting(template_name, *args, **kwargs):
        done.append(template_name)
        return render(template_name, *args, **kwargs)

    monkeypatch.setattr(pagecache, "render_to_string", counting)
    return done


class TestTheVersion:
    def test_every_table_of_the_app_is_watched(self, transactional_db):
        app_tables = {
            table
            for table in connection.introspection.table_names()
            if table.startswith("partnerships_")
            and not table.startswith("partnerships_historical")
            and table not in (pagecache.VERSION_TABLE, pagecache.CHANGE_TABLE)
            and table not in pagecache.NOT_SHOWN  # files waiting for an import
        }
        assert len(app_tables) > 20
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname = %s",
                    [pagecache.TRIGGER],
                )
                watched = {row[0] for row in cursor.fetchall()}
            else:
                cursor.execute(
                    "SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' "
                    "AND name LIKE %s GROUP BY tbl_name",
                    [pagecache.TRIGGER + "%"],
                )
                counts = dict(cursor.fetchall())
                assert set(counts.values()) == {3}  # insert, update, delete
                watched = set(counts)
        assert watched == app_tables

    def test_each_kind_of_write_changes_it_once_committed(self, committed):
        seen = [version()]
        assert seen[0] is not None

        def changed():
            now = version()
            assert now not in seen
            seen.append(now)

        donation = committed.donation
        donation.notes = "改"
        donation.save()
        changed()
        Donation.objects.filter(pk=donation.pk).update(notes="再改")
        changed()
        Organisation.objects.bulk_create([Organisation(name="新捐赠方", kind="company")])
        changed()
        donation.donors.add(Organisation.objects.get(name="新捐赠方"))
        changed()
        Organisation.objects.filter(name="新捐赠方").delete()
        changed()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE partnerships_region SET name = name WHERE id = %s", [committed.qixin.pk]
            )
        changed()
        with transaction.atomic():
            Region.objects.filter(pk=committed.qixin.pk).update(name="齐心村")
            Donation.objects.filter(pk=donation.pk).update(notes="三改")
        changed()

    def test_reads_rollbacks_and_savepoints_leave_it(self, committed, reader):
        before = version()
        reader.get(f"/pairings/{committed.pairing.pk}/")
        reader.get("/")
        assert version() == before
        with pytest.raises(RuntimeError), transaction.atomic():
            Donation.objects.filter(pk=committed.donation.pk).update(notes="不存")
            raise RuntimeError
        assert version() == before
        with transaction.atomic():
            try:
                with transaction.atomic():
                    Donation.objects.filter(pk=committed.donation.pk).update(notes="不存")
                    raise RuntimeError
            except RuntimeError:
                pass
        assert version() == before
        # The first write, in a savepoint rolled back, does not hide the next one.
        with transaction.atomic():
            try:
                with transaction.atomic():
                    Donation.objects.filter(pk=committed.donation.pk).update(notes="不存")
                    raise RuntimeError
            except RuntimeError:
                pass
            Donation.objects.filter(pk=committed.donation.pk).update(notes="存")
        assert version() != before

    def test_the_cache_is_off_inside_a_transaction_and_when_turned_off(self, committed, settings):
        assert version() is not None
        with transaction.atomic():
            assert version() is None
        settings.DASHBOARD_CACHE = False
        assert version() is None

    def test_migrating_back_removes_the_triggers_and_forward_restores_them(self, committed):
        before = version()
        pagecache.uninstall_triggers()
        try:
            Donation.objects.filter(pk=committed.donation.pk).update(notes="无触发器")
            assert version() == before
        finally:
            pagecache.install_triggers()
        Donation.objects.filter(pk=committed.donation.pk).update(notes="有触发器")
        assert version() != before

    def test_a_rebuild_draws_a_new_epoch(self, committed):
        from django.core.management import call_command

        epoch = DataVersion.objects.get().epoch
        call_command("rebuild_summary", stdout=io.StringIO())
        assert DataVersion.objects.get().epoch != epoch

    def test_migrate_keeps_every_table_watched_and_counts_a_change(self, committed):
        before = version()
        pagecache.install_triggers()
        assert version() != before
        assert pagecache.triggered_tables(connection) == set(pagecache.watched_tables(connection))

    def test_a_file_waiting_for_its_import_changes_no_version(self, committed, admin_user):
        """Every upload to an import page cleared and stored a waiting file, and so threw
        away every reader's reused pages, though no figure had changed."""
        from partnerships.models import StagedImport

        assert "partnerships_stagedimport" not in pagecache.watched_tables(connection)
        before = version()
        StagedImport.objects.create(user=admin_user, kind="donations", name="a.csv", data=b"x")
        StagedImport.objects.all().delete()
        assert version() == before

    def test_a_flushed_database_starts_a_new_epoch(self, committed):
        epoch = DataVersion.objects.get().epoch
        DataVersion.objects.all().delete()
        assert version() is None  # no row: nothing is reused
        Donation.objects.filter(pk=committed.donation.pk).update(notes="新")
        new = DataVersion.objects.get()
        assert new.epoch != epoch and version().startswith(new.epoch + ":")


class TestReusedContent:
    def test_a_second_view_reuses_the_content_without_reading_the_figures(
        self, committed, reader, renders
    ):
        url = f"/pairings/{committed.pairing.pk}/"
        with CaptureQueriesContext(connection) as first:
            cold = reader.get(url)
        with CaptureQueriesContext(connection) as second:
            warm = reader.get(url)
        assert cold.status_code == warm.status_code == 200
        assert renders == ["partnerships/pairing.html#content"]
        assert len(second.captured_queries) < len(first.captured_queries) - 5
        assert pairing_total(warm) == pairing_total(cold) == Decimal("1050000.00")
        content = re.compile(r"<main[^>]*>.*</main>", re.S)
        assert content.search(warm.content.decode())[0] == content.search(cold.content.decode())[0]

    @pytest.mark.parametrize(
        ("path", "template"),
        [
            ("/reach/", "partnerships/reach.html#panel"),
            ("/pairings/{pk}/targets/", "partnerships/_targets.html"),
        ],
    )
    def test_the_panels_loaded_after_the_page_are_reused_too(
        self, committed, reader, renders, path, template
    ):
        url = path.format(pk=committed.pairing.pk)
        first = reader.get(url, HTTP_HX_REQUEST="true")
        second = reader.get(url, HTTP_HX_REQUEST="true")
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        assert renders == [template]
        Donation.objects.filter(pk=committed.donation.pk).update(notes="新")
        reader.get(url, HTTP_HX_REQUEST="true")
        assert renders == [template, template]

    def test_an_answer_to_a_bad_year_is_not_kept(self, committed, reader, renders):
        url = f"/pairings/{committed.pairing.pk}/targets/"
        for _ in range(2):
            response = reader.get(url + "?year=1066", HTTP_HX_REQUEST="true")
            assert response.status_code == 400
        assert renders == ["partnerships/_targets.html"] * 2
        assert reader.get(url, HTTP_HX_REQUEST="true").status_code == 200

    def test_a_reused_overview_does_not_read_the_pairings_sides(self, committed, reader):
        """The province choices are only worked out to render the filters afresh."""
        reader.get("/")
        with CaptureQueriesContext(connection) as second:
            assert reader.get("/").status_code == 200
        assert not [q for q in second.captured_queries if "partnerships_partnership" in q["sql"]]

    @pytest.mark.parametrize("htmx", [False, True])
    def test_a_committed_change_shows_at_once(self, committed, reader, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        url = f"/pairings/{committed.pairing.pk}/"
        assert pairing_total(reader.get(url, **headers)) == Decimal("1050000.00")
        donation = Donation.objects.get(pk=committed.donation.pk)
        donation.amount = Decimal("1060000.01")
        donation.save()
        assert pairing_total(reader.get(url, **headers)) == Decimal("1060000.01")

    def test_the_panel_and_the_page_are_kept_apart(self, committed, reader, renders):
        url = f"/pairings/{committed.pairing.pk}/"
        panel = reader.get(url, HTTP_HX_REQUEST="true").content.decode()
        page = reader.get(url).content.decode()
        assert panel.lstrip().startswith('<div id="panel"')
        assert "<html" in page and "<h1>" in page
        assert reader.get(url, HTTP_HX_REQUEST="true").content.decode() == panel
        assert reader.get(url).content.decode().count("<h1>") == 1
        assert renders == ["partnerships/pairing.html#panel", "partnerships/pairing.html#content"]

    def test_each_scope_and_language_has_its_own(self, committed, client, django_user_model):
        everything = login(client, django_user_model, "all", OFFICIAL_ALL)
        wide = everything.get("/").content.decode()
        assert "广东省" in wide or "广东" in wide
        assigned = login(
            client,
            django_user_model,
            "town-only",
            OFFICIAL_ASSIGNED,
            pairing=committed.town_pairing,
        )
        narrow = assigned.get("/").content.decode()
        other_pairings = Partnership.objects.exclude(path__startswith=committed.town_pairing.path)
        for pairing in other_pairings:
            assert f'href="/pairings/{pairing.pk}/' not in narrow
        assert f'href="/pairings/{committed.town_pairing.pk}/' in narrow
        english = assigned.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Aid total" in english and "Aid total" not in narrow

    def test_the_header_is_each_users_own(self, committed, client, django_user_model):
        staff = login(client, django_user_model, "staff", OFFICIAL_ALL, staff=True)
        url = f"/pairings/{committed.pairing.pk}/"
        first = staff.get(url).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', first)[1]
        assert 'href="/admin/"' in first
        official = login(client, django_user_model, "plain", OFFICIAL_ALL)
        second = official.get(url).content.decode()
        assert 'href="/admin/"' not in second
        assert token not in second
        main = re.compile(r"<main[^>]*>.*</main>", re.S)
        assert "csrfmiddlewaretoken" not in main.search(second)[0]

    def test_another_day_renders_afresh(self, committed, reader, renders, monkeypatch):
        url = f"/pairings/{committed.pairing.pk}/"
        reader.get(url)
        reader.get(url)
        tomorrow = datetime.date.today() + datetime.timedelta(days=1)
        monkeypatch.setattr(pagecache.timezone, "localdate", lambda: tomorrow)
        reader.get(url)
        assert len(renders) == 2

    def test_bad_filters_are_rendered_afresh(self, committed, reader, monkeypatch):
        reused = []
        render = pagecache.rendered
        monkeypatch.setattr(
            pagecache, "rendered", lambda *a, **k: reused.append(a[1]) or render(*a, **k)
        )
        for url in ("/", f"/pairings/{committed.pairing.pk}/"):
            assert reader.get(f"{url}?year_from=x").status_code == 400
            assert reader.get(f"{url}?year_from=x", HTTP_HX_REQUEST="true").status_code == 400
        assert reused == []
        assert reader.get("/?year_from=2023").status_code == 200
        assert reused == ["partnerships/overview.html#content"]

    def test_the_version_is_read_before_anything_the_content_shows(self, committed, reader):
        with CaptureQueriesContext(connection) as captured:
            reader.get(f"/pairings/{committed.pairing.pk}/")
        sql = [q["sql"] for q in captured.captured_queries]
        version_read = next(i for i, q in enumerate(sql) if pagecache.VERSION_TABLE in q)
        first_data = next(i for i, q in enumerate(sql) if "partnerships_partnership" in q)
        assert version_read < first_data


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="two connections writing and reading at once: PostgreSQL (SQLite's test database "
    "is in memory, one connection at a time)",
)
def test_a_write_in_progress_is_shown_once_it_commits(committed, reader):
    """A reader that renders while another transaction is writing stores the old figures
    under the old version; the commit moves the version, so the next view is fresh."""
    url = f"/pairings/{committed.pairing.pk}/"
    written, commit = threading.Event(), threading.Event()

    def staff_save():
        try:
            with transaction.atomic():
                donation = Donation.objects.get(pk=committed.donation.pk)
                donation.amount = Decimal("1050000.01")
                donation.save()
                written.set()
                assert commit.wait(30)
        finally:
            connection.close()

    writer = threading.Thread(target=staff_save)
    writer.start()
    try:
        assert written.wait(30)
        assert pairing_total(reader.get(url)) == Decimal("1050000.00")
    finally:
        commit.set()
        writer.join(30)
    assert pairing_total(reader.get(url)) == Decimal("1050000.01")


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="COPY, TRUNCATE and compaction: PostgreSQL"
)
class TestPostgreSQLWrites:
    def test_copy_and_truncate_change_it(self, committed):
        before = version()
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY partnerships_lockedyear (year, locked_at, note) FROM STDIN"
            ) as copy,
        ):
            copy.write_row((2020, "2026-01-01 00:00+08", "COPY"))
        after_copy = version()
        assert after_copy != before
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE partnerships_lockedyear")
        assert version() not in (before, after_copy)

    def test_compaction_keeps_counting_one_per_transaction(self, committed):
        numbers = []
        for i in range(2 * pagecache.COMPACT_EVERY + 10):
            Donation.objects.filter(pk=committed.donation.pk).update(notes=str(i))
            numbers.append(int(version().split(":")[1]))
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {pagecache.CHANGE_TABLE}")
            assert cursor.fetchone()[0] <= pagecache.COMPACT_EVERY

    def test_two_saves_waiting_on_each_other_do_not_deadlock(self, committed):
        """Staff A edits an organisation (its row locked until A commits) while staff B links
        a donation to it: B's commit waits for A's. Neither waits for the version."""
        organisation = committed.red_cross
        locked, release = threading.Event(), threading.Event()
        errors = []

        def staff_a():
            try:
                with transaction.atomic():
                    Organisation.objects.select_for_update().get(pk=organisation.pk)
                    Region.objects.filter(pk=committed.qixin.pk).update(name="齐心村")
                    locked.set()
                    assert release.wait(30)
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        def staff_b():
            try:
                with transaction.atomic():
                    Donation.objects.filter(pk=committed.donation.pk).update(notes="B")
                    # The link's foreign key is checked at commit: B waits for A there.
                    committed.donation.donors.add(organisation)
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        a = threading.Thread(target=staff_a)
        a.start()
        assert locked.wait(30)
        b = threading.Thread(target=staff_b)
        b.start()
        time.sleep(0.5)  # B is now waiting for A's lock
        release.set()
        a.join(30)
        b.join(30)
        assert errors == []
        assert committed.donation.donors.filter(pk=organisation.pk).exists()
