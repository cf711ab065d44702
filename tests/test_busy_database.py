"""A statement that lost to another transaction (a deadlock, a serialization failure, a lock
not granted; on SQLite the write lock held by another process past the busy timeout) is
answered with a 503 page that says so in the user's language and asks to try again, not
Django's bare 500; the save it interrupted left nothing behind. The statement timeout's 503
is tested in test_statement_timeout.py (PostgreSQL only)."""

import sqlite3

import psycopg
import pytest
from django.db import IntegrityError, OperationalError

from partnerships import reports, summary
from partnerships.models import Donation

from .admin_helpers import page_text
from .test_admin_records import DONATION_ADD, donation_data

pytestmark = pytest.mark.django_db

LOST = [
    psycopg.errors.DeadlockDetected("deadlock detected"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.LockNotAvailable("could not obtain lock"),
    sqlite3.OperationalError("database is locked"),
]


def failing(cause: Exception):
    """A stand-in that fails as Django reports a database error: OperationalError, caused by
    the driver's error."""

    def fail(*args, **kwargs):
        raise OperationalError(str(cause)) from cause

    return fail


@pytest.mark.parametrize("cause", LOST, ids=lambda cause: type(cause).__name__)
def test_a_save_that_lost_to_another_says_so_and_keeps_nothing(
    admin_client, reference, monkeypatch, cause
):
    """The donation is saved, then refreshing the summary loses to another save: the page
    says what happened and the donation is not kept (the admin's save is one transaction)."""
    before = Donation.objects.count()
    monkeypatch.setattr(summary, "refresh", failing(cause))
    response = admin_client.post(DONATION_ADD, donation_data(reference))
    assert response.status_code == 503
    text = page_text(response)
    assert "<h1>有他人同时在保存修改</h1>" in text
    assert "他人正在保存对相同记录的修改，本次操作已停止，未作任何修改。" in text
    assert "请重试；如反复出现，请告知系统管理员。" in text
    assert "页面计算超时" not in text
    assert Donation.objects.count() == before


def test_a_dashboard_page_says_so_in_english_too(official_client, reference, monkeypatch):
    monkeypatch.setattr(reports, "top_donors", failing(LOST[0]))
    url = f"/pairings/{reference.pairing.pk}/"
    response = official_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    text = page_text(response)
    assert "<h1>Another change was being saved at the same time</h1>" in text
    assert "Nothing was changed by it." in text
    assert "Narrow the filters" not in text
    monkeypatch.undo()
    assert official_client.get(url).status_code == 200


def test_a_statement_stopped_by_the_timeout_is_not_called_contention(
    official_client, reference, monkeypatch
):
    """The statement timeout's own page (its real cause is tested on PostgreSQL in
    test_statement_timeout.py), not the other save's."""
    monkeypatch.setattr(
        reports, "top_donors", failing(psycopg.errors.QueryCanceled("statement timeout"))
    )
    response = official_client.get(f"/pairings/{reference.pairing.pk}/")
    assert response.status_code == 503
    text = page_text(response)
    assert "<h1>页面计算超时</h1>" in text and "请缩小筛选范围" in text
    assert "有他人同时在保存修改" not in text


def test_a_delete_action_that_lost_keeps_no_record_of_deleting(
    admin_client, reference, monkeypatch
):
    """Django's "delete selected" writes its log of deletions before it deletes: the action
    runs in one transaction, so a delete that lost to another save leaves neither the
    donation deleted nor a log saying it was."""
    from django.contrib.admin.models import LogEntry

    from partnerships.admin import DonationAdmin

    monkeypatch.setattr(DonationAdmin, "delete_queryset", failing(LOST[0]))
    logged = LogEntry.objects.count()
    response = admin_client.post(
        "/admin/partnerships/donation/",
        {"action": "delete_selected", "_selected_action": [reference.donation.pk], "post": "yes"},
    )
    assert response.status_code == 503
    assert "有他人同时在保存修改" in page_text(response)
    assert LogEntry.objects.count() == logged
    assert Donation.objects.filter(pk=reference.donation.pk).exists()


def test_other_database_errors_are_not_called_busy(official_client, reference, monkeypatch):
    """Only those errors: any other is a fault to be logged and fixed, not a reason to try
    again (the test client raises what the server would log as a 500)."""
    monkeypatch.setattr(
        reports, "top_donors", failing(psycopg.errors.DiskFull("could not extend file"))
    )
    with pytest.raises(OperationalError):
        official_client.get(f"/pairings/{reference.pairing.pk}/")


RACED = [
    psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"),
    psycopg.errors.ForeignKeyViolation("violates foreign key constraint"),
]


@pytest.mark.parametrize("cause", RACED, ids=lambda cause: type(cause).__name__)
def test_a_save_that_lost_a_race_at_commit_says_so(admin_client, reference, monkeypatch, cause):
    """Two administrators adding the same locked year at once, or a handover naming a donor
    another was deleting: the loser's commit broke a unique or foreign key and got the bare
    500 page. It gets the "try again" page; sent again, its form says what is wrong."""

    def fail(*args, **kwargs):
        raise IntegrityError(str(cause)) from cause

    before = Donation.objects.count()
    monkeypatch.setattr(summary, "refresh", fail)
    response = admin_client.post(DONATION_ADD, donation_data(reference))
    assert response.status_code == 503
    assert "<h1>有他人同时在保存修改</h1>" in page_text(response)
    assert Donation.objects.count() == before


def test_other_integrity_errors_are_not_called_a_race(admin_client, reference, monkeypatch):
    cause = psycopg.errors.CheckViolation("violates check constraint")

    def fail(*args, **kwargs):
        raise IntegrityError(str(cause)) from cause

    monkeypatch.setattr(summary, "refresh", fail)
    with pytest.raises(IntegrityError):
        admin_client.post(DONATION_ADD, donation_data(reference))


def test_a_unique_key_broken_by_a_page_that_writes_nothing_is_a_fault(
    official_client, reference, monkeypatch
):
    """Only a write can lose a race: the same error from a GET is a fault, a 500 and its log."""
    cause = RACED[0]

    def fail(*args, **kwargs):
        raise IntegrityError(str(cause)) from cause

    monkeypatch.setattr(reports, "top_donors", fail)
    with pytest.raises(IntegrityError):
        official_client.get(f"/pairings/{reference.pairing.pk}/")
