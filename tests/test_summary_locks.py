"""PostgreSQL locking around the donation summary: rebuilds and concurrent writers."""

import contextlib
import datetime
import threading
import time
from contextlib import nullcontext
from decimal import Decimal
from functools import partial

import pytest
from django.db import connection, connections, transaction

from partnerships import summary
from partnerships.management.commands import load_reference_data
from partnerships.models import Donation, DonationLine, Region
from tests.conftest import Reference, handover

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(*bodies) -> list[str]:
    """Run each body in a thread of its own (named after it), each with its own database
    connection, closed at its end; the errors they raised."""
    errors = []

    def run(body):
        try:
            body()
        except Exception as exc:
            errors.append(repr(exc)[:200])
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(body,), name=getattr(body, "__name__", None))
        for body in bodies
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_save_during_a_rebuild_waits_for_it():
    load_reference_data.load()
    ref = Reference()
    started = threading.Event()

    def rebuild():
        with transaction.atomic():
            summary.rebuild()
            started.set()
            time.sleep(2)  # stands for a long INSERT ... SELECT over a big table

    def write():
        started.wait(10)
        Donation.objects.create(
            partnership=ref.pairing,
            visit=ref.visit,
            date=None,
            amount=Decimal("1.00"),
            kind=ref.donation.kind,
            category=ref.donation.category,
            funding=ref.donation.funding,
            region=ref.jiangkou,
        )

    errors = run_at_once(rebuild, write)
    assert errors == [], errors
    assert summary.differences() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_writers_of_two_pairings_in_opposite_orders_do_not_deadlock_when_deferred():
    """The admin saves a page under summary.deferred(): keys are locked together, sorted."""
    load_reference_data.load()
    ref = Reference()
    a = Donation.objects.create(
        partnership=ref.pairing,
        date=ref.visit.start_date,
        amount=Decimal("1.00"),
        kind="funds",
        region=ref.jiangkou,
    )
    b = Donation.objects.create(
        partnership=ref.town_pairing,
        date=ref.visit.start_date,
        amount=Decimal("2.00"),
        kind="funds",
        region=ref.minxiao,
    )
    a2 = Donation.objects.create(
        partnership=ref.pairing,
        date=ref.visit.start_date,
        amount=Decimal("3.00"),
        kind="funds",
        region=ref.jiangkou,
    )
    b2 = Donation.objects.create(
        partnership=ref.town_pairing,
        date=ref.visit.start_date,
        amount=Decimal("4.00"),
        kind="funds",
        region=ref.minxiao,
    )
    barrier = threading.Barrier(2, timeout=20)

    def work(first, second):
        with transaction.atomic(), summary.deferred():
            first.amount += 1
            first.save()  # deferred: no lock yet
            barrier.wait()
            second.amount += 1
            second.save()  # both pairings locked at the end, in id order

    errors = run_at_once(
        partial(work, Donation.objects.get(pk=a.pk), Donation.objects.get(pk=b.pk)),
        partial(work, Donation.objects.get(pk=b2.pk), Donation.objects.get(pk=a2.pk)),
    )
    assert errors == [], errors


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_file_confirmed_twice_at_once_is_imported_once():
    """A double click on 确认导入, or two tabs: each confirmation checked the file before the
    other had committed, and both saved it (found by the adversarial review)."""
    import csv
    import io

    from partnerships import imports

    load_reference_data.load()
    rows = [
        ["捐赠交接编号", "日期", "帮扶方", "受帮扶方", "捐赠方", "资金或物资", "交接总额（元）"],
        ["H1", "2024-05-06", "广东省 东莞市 樟木头镇", "贵州省 铜仁市 江口县"],
    ]
    rows[1] += ["樟木头镇人民政府", "资金", "12345.67"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    data = buffer.getvalue().encode()
    start = threading.Barrier(2)
    saved = []

    def confirm():
        start.wait(10)
        saved.append(imports.import_donations(data, "d.csv")[1])

    errors = run_at_once(confirm, confirm)
    assert errors == [], errors
    assert sorted(saved) == [0, 1]
    assert Donation.objects.filter(amount=Decimal("12345.67")).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_deleting_a_donor_while_its_key_is_refreshed_does_not_deadlock(monkeypatch):
    """Deleting an organisation removes its donor totals by CASCADE, before it recounts and
    refreshes the keys it gave to: a refresh of one of those keys in between (any save of the
    pairing) held the pairing's lock and waited for those rows, while the deletion waited for
    the pairing's lock."""
    from partnerships import models
    from partnerships.models import DonorYearTotal, Organisation

    load_reference_data.load()
    ref = Reference()
    donor = Organisation.objects.create(name="将被删除的捐赠方", kind="enterprise")
    ref.donation.donors.add(donor)
    key = (ref.donation.partnership_id, ref.donation.year)
    assert DonorYearTotal.objects.filter(organisation=donor).exists()
    deleting = threading.Event()
    recount = models.count_donors

    def slow_recount(donation_ids):
        if threading.current_thread().name == "delete":
            deleting.set()  # the donor's links and totals are gone, not yet committed
            time.sleep(2)
        recount(donation_ids)

    monkeypatch.setattr(models, "count_donors", slow_recount)

    def delete():
        with transaction.atomic():
            Organisation.objects.get(pk=donor.pk).delete()

    def save():
        deleting.wait(10)
        time.sleep(0.2)
        with transaction.atomic():
            summary.refresh([key])  # as a save of a donation of the pairing does

    errors = run_at_once(delete, save)  # the first thread is named "delete"
    assert errors == [], errors
    assert summary.differences() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
@pytest.mark.parametrize("deferred", [False, True], ids=["line by line", "deferred"])
def test_a_line_added_while_its_donation_moves_to_another_year_counts_in_the_new_year(deferred):
    """The line's transaction reads its donation's key (2023) while another moves the
    donation to 2024 and holds the pairing's lock; it must refresh 2024 once that commits,
    or 2024's place totals would lack the line."""
    load_reference_data.load()
    ref = Reference()
    donation = Donation.objects.create(
        partnership=ref.pairing,
        date=datetime.date(2023, 5, 1),
        amount=Decimal("10.00"),
        kind="funds",
        region=ref.jiangkou,
    )
    village = Region.objects.filter(path__startswith=ref.jiangkou.path, level=5).first()
    moving = threading.Event()

    def move():
        with transaction.atomic():
            moved = Donation.objects.get(pk=donation.pk)
            moved.date = datetime.date(2024, 5, 1)
            moved.save()  # refreshes 2023 and 2024, holding the pairing's lock
            moving.set()
            time.sleep(1.5)  # the line's transaction reads the key 2023 meanwhile

    def add_line():
        moving.wait(10)
        with transaction.atomic(), summary.deferred() if deferred else nullcontext():
            DonationLine.objects.create(
                donation_id=donation.pk, amount=Decimal("4.00"), region=village
            )

    errors = run_at_once(move, add_line)
    assert errors == [], errors
    assert Donation.objects.get(pk=donation.pk).year == 2024
    assert summary.differences() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_donors_new_kind_while_a_handover_gains_it_does_not_deadlock():
    """A new kind refreshes the place totals by donor kind of the donor's handovers' pairings.
    A save of a handover of one of them holds the pairing's lock, then adds the donor (which
    waits for the organisation's lock): the kind's save, holding the organisation, must not
    then wait for the pairing."""
    from partnerships.models import Organisation

    load_reference_data.load()
    ref = Reference()
    donor = ref.town_government  # gave the pairing's handover
    holding = threading.Event()

    def add():
        with transaction.atomic():
            # its refresh holds the pairing's lock
            donation = handover(ref.pairing, ref.jiangkou, "10.00", datetime.date(2023, 5, 1))
            holding.set()
            time.sleep(1)
            donation.donors.add(donor)

    def rekind():
        holding.wait(10)
        time.sleep(0.2)
        changed = Organisation.objects.get(pk=donor.pk)
        changed.kind = "school"
        changed.save()

    errors = run_at_once(add, rekind)
    assert errors == [], errors
    assert summary.differences() == []
    # Both handovers count it as a school, neither as government (it was their only one).
    masks = Donation.objects.filter(donors=donor).values_list("donor_kinds", flat=True)
    assert len(masks) == 2 and all(mask & 64 and not mask & 1 for mask in masks)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
@pytest.mark.parametrize("change", ["kind", "delete"])
def test_a_donors_change_while_one_of_its_handovers_is_saved_does_not_deadlock(change):
    """A handover's save locks its row, then its pairing (the refresh). A donor's new kind,
    or its deletion, rewrites its handovers' donor columns and refreshes their pairings: it
    must take them in the same order, or each waits for what the other holds."""
    from partnerships.models import Organisation

    load_reference_data.load()
    ref = Reference()
    donor = ref.town_government  # gave the pairing's handover
    holding = threading.Event()

    def save():
        with transaction.atomic():
            donation = Donation.objects.select_for_update(no_key=True).get(
                pk=ref.donation.pk
            )  # as Donation.save locks it, before its refresh locks the pairing
            holding.set()
            time.sleep(1)
            donation.notes = "改过"
            donation.save()

    def change_donor():
        holding.wait(10)
        time.sleep(0.2)
        changed = Organisation.objects.get(pk=donor.pk)
        if change == "kind":
            changed.kind = "school"
            changed.save()
        else:
            changed.delete()

    errors = run_at_once(save, change_donor)
    assert errors == [], errors
    assert summary.differences() == []
    assert Donation.objects.get(pk=ref.donation.pk).notes == "改过"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_handover_added_in_a_region_while_it_moves_counts_along_its_new_path():
    """The regions' totals sum a place along its path. A handover added in a village while
    the village moves into a town: its refresh must not read the old path after the move
    has read which keys to refresh (none: nothing lay in the village before), or the town's
    totals would lack it until a rebuild."""
    load_reference_data.load()
    ref = Reference()
    town = Region.objects.create(name="迁入镇", level=Region.Level.TOWN, parent=ref.jiangkou)
    new = Region.objects.create(name="迁移村", level=Region.Level.VILLAGE, parent=ref.jiangkou)
    moved = threading.Event()

    def move():
        with transaction.atomic():
            village = Region.objects.get(pk=new.pk)
            village.parent = town
            village.save()  # moves it and refreshes the keys of what lies in it
            moved.set()
            time.sleep(1.5)  # the handover is added meanwhile

    def add():
        moved.wait(10)
        with transaction.atomic():  # as the admin saves it: with its lines and refresh
            handover(ref.pairing, new, "100.00", datetime.date(2021, 5, 1))

    errors = run_at_once(move, add)
    assert errors == [], errors
    assert Region.objects.get(pk=new.pk).parent == town
    assert summary.differences() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_handover_gaining_a_donor_whose_kind_is_changing_counts_it_under_the_new_kind():
    """A new kind recounts the donor's handovers committed before it. One that gained the
    donor meanwhile, in another pairing, had stored the old kind, and the totals by donor kind
    counted it there until a rebuild (the foreign key's check, which would have waited for
    the change, comes only at commit): it now waits for the change, then stores the new kind
    (summary.settle_donor_kinds)."""
    from partnerships.models import Organisation

    load_reference_data.load()
    ref = Reference()
    donor = ref.town_government  # gave a handover of ref.pairing, none of ref.town_pairing
    changing = threading.Event()

    def rekind():
        with transaction.atomic():
            changed = Organisation.objects.get(pk=donor.pk)
            changed.kind = "school"
            changed.save()
            changing.set()
            time.sleep(1.5)  # the other pairing's handover names it meanwhile

    def add():
        changing.wait(10)
        with transaction.atomic():
            donation = handover(ref.town_pairing, ref.minxiao, "10.00", datetime.date(2023, 5, 1))
            donation.donors.add(donor)

    errors = run_at_once(rekind, add)
    assert errors == [], errors
    assert summary.differences() == []
    masks = Donation.objects.filter(donors=donor).values_list("donor_kinds", flat=True)
    assert len(masks) == 2 and all(mask & 64 and not mask & 1 for mask in masks)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_save_under_way_while_its_year_is_locked_is_refused():
    """An administrator locked 2023 while a clerk's save of a 2023 handover was under way:
    its check had read the years before the lock committed, and the save went through into
    the locked year. The save now waits for the lock, reads the years again and is refused
    in words (access.hold_locked_years, held by every admin page that writes)."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from partnerships.access import DATA_ENTRY
    from partnerships.models import Assignment, LockedYear
    from tests.admin_helpers import as_shown

    load_reference_data.load()
    ref = Reference()
    clerk = User.objects.create_user(username="clerk", password="pw-Clerk-123", is_staff=True)
    clerk.groups.add(Group.objects.get(name=DATA_ENTRY))
    Assignment.objects.create(user=clerk, partnership=ref.pairing)
    client = Client()
    client.force_login(clerk)
    url = f"/admin/partnerships/donation/{ref.donation.pk}/change/"
    data = as_shown(client.get(url))
    data["notes"] = "改过"
    locking = threading.Event()
    answers = []

    def lock_year():
        with transaction.atomic():
            LockedYear.objects.create(year=ref.donation.year)
            locking.set()
            time.sleep(1.5)  # the clerk presses save meanwhile

    def save():
        locking.wait(10)
        answers.append(client.post(url, data))

    errors = run_at_once(lock_year, save)
    assert errors == [], errors
    assert Donation.objects.get(pk=ref.donation.pk).notes != "改过"
    (answer,) = answers
    assert answer.status_code == 200
    assert f"{ref.donation.year}年" in answer.content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_donors_new_kind_saved_in_the_admin_while_a_handover_gains_it_does_not_deadlock():
    """The admin's form checked the organisation's version under FOR UPDATE, which a handover
    gaining it as a donor (holding its pairing, then key-share locking the organisation) waits
    for; the kind's save then waited for the pairing: a deadlock, a 503 for one of the two.
    The version is checked under FOR NO KEY UPDATE, which lets the key-share lock through."""
    from django.contrib.auth.models import User
    from django.test import Client

    from partnerships.models import Organisation
    from tests.admin_helpers import as_shown

    load_reference_data.load()
    ref = Reference()
    donor = ref.town_government  # gave the pairing's handover
    chief = User.objects.create_superuser("chief", password="pw-Chief-12345")
    client = Client()
    client.force_login(chief)
    url = f"/admin/partnerships/organisation/{donor.pk}/change/"
    data = as_shown(client.get(url))
    data["kind"] = "school"
    holding = threading.Event()
    answers = []

    def add():
        with transaction.atomic():
            # its refresh holds the pairing's lock
            donation = handover(ref.pairing, ref.jiangkou, "10.00", datetime.date(2023, 5, 1))
            holding.set()
            time.sleep(1.5)  # the kind is saved meanwhile
            donation.donors.add(donor)

    def rekind():
        holding.wait(10)
        time.sleep(0.2)
        answers.append(client.post(url, data).status_code)

    errors = run_at_once(add, rekind)
    assert errors == [], errors
    assert answers == [302]
    assert Organisation.objects.get(pk=donor.pk).kind == "school"
    assert summary.differences() == []
    masks = Donation.objects.filter(donors=donor).values_list("donor_kinds", flat=True)
    assert len(masks) == 2 and all(mask & 64 and not mask & 1 for mask in masks)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_two_administrators_locking_two_years_at_once_both_succeed(monkeypatch):
    """Every admin page that writes held the locked years shared, and a year's save then asked
    for them alone: two such saves each waited for the other's shared hold, a deadlock and a
    503 for one. The locked years' pages take them alone from the start."""
    from django.contrib.auth.models import User
    from django.test import Client

    from partnerships.admin import LockedYearAdmin
    from partnerships.models import LockedYear

    for name in ("a1", "a2"):
        User.objects.create_superuser(name, password="pw-Chief-12345")
    original = LockedYearAdmin.save_model
    saving = threading.Barrier(2, timeout=1)

    def save_model(self, request, obj, form, change):
        # both in their saves at once, as far as the locks let them: one waits for the other
        with contextlib.suppress(threading.BrokenBarrierError):
            saving.wait()
        return original(self, request, obj, form, change)

    monkeypatch.setattr(LockedYearAdmin, "save_model", save_model)
    answers = []

    def lock(name, year):
        def body():
            client = Client()
            client.force_login(User.objects.get(username=name))
            response = client.post("/admin/partnerships/lockedyear/add/", {"year": year})
            answers.append(response.status_code)

        body.__name__ = name
        return body

    errors = run_at_once(lock("a1", 2021), lock("a2", 2022))
    assert errors == [], errors
    assert answers == [302, 302]
    assert set(LockedYear.objects.values_list("year", flat=True)) == {2021, 2022}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_save_whose_commit_failed_leaves_no_word_of_success(admin_client, monkeypatch):
    """A foreign key is checked at commit: the save had already said "已成功添加…" for the
    next page, which greeted the clerk after the 503 that said nothing was saved."""
    import re

    from tests.test_admin_records import DONATION_ADD, donation_data

    load_reference_data.load()
    ref = Reference()
    original = summary.refresh_donations

    def refresh_donations(*args, **kwargs):
        original(*args, **kwargs)
        with connection.cursor() as cursor:  # a row naming one another session deleted
            cursor.execute(
                "INSERT INTO partnerships_assignment (user_id, partnership_id) VALUES (%s, %s)",
                [987654, ref.pairing.pk],
            )

    monkeypatch.setattr(summary, "refresh_donations", refresh_donations)
    before = Donation.objects.count()
    response = admin_client.post(DONATION_ADD, donation_data(ref))
    assert response.status_code == 503
    assert Donation.objects.count() == before
    monkeypatch.undo()
    page = admin_client.get("/admin/partnerships/donation/").content.decode()
    assert re.findall(r'<li class="success">', page) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_a_new_kind_meeting_handovers_of_a_pairing_it_had_not_locked_does_not_deadlock():
    """A handover gaining the donor in another pairing makes the kind change wait for it; once
    it commits, the change must refresh that pairing too, which a second handover of that
    pairing holds while it waits for the organisation. The change takes it without waiting,
    or is refused as one that met another save: no deadlock, and the totals exact."""
    from partnerships.models import Organisation

    load_reference_data.load()
    ref = Reference()
    donor = ref.town_government  # gave in ref.pairing only
    first_holds, changing = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            given = handover(ref.town_pairing, ref.minxiao, "10.00", datetime.date(2023, 5, 1))
            given.donors.add(donor)  # holds town_pairing, key-shares the donor
            first_holds.set()
            time.sleep(1.5)

    def rekind():
        first_holds.wait(10)
        time.sleep(0.2)
        changed = Organisation.objects.get(pk=donor.pk)
        changed.kind = "school"
        changing.set()
        changed.save()  # locks ref.pairing, then waits for `first` on the organisation

    def second():
        changing.wait(10)
        time.sleep(0.3)
        with transaction.atomic():
            given = handover(ref.town_pairing, ref.minxiao, "20.00", datetime.date(2023, 6, 1))
            given.donors.add(donor)

    errors = run_at_once(first, rekind, second)
    assert all("could not obtain lock" in error for error in errors), errors
    assert not any("deadlock" in error for error in errors), errors
    assert summary.differences() == []
