"""The web process's statement timeout (PostgreSQL): a runaway query ends in a 503 page that
says so; the ledger's COPY, which streams to a client at its own pace, is exempt."""

import secrets
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import override_settings

from partnerships import exports, reports, startup

from .process_helpers import run_python

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no statement timeout"),
    # A cancelled statement aborts the transaction around it: no test-wide transaction.
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def limited():
    """This test's connection limited as a web process's is, to one second."""
    with override_settings(STATEMENT_TIMEOUT=1):
        connection.ensure_connection()
        startup.apply_statement_timeout(connection=connection)
        yield connection
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    del connection.statement_timeout_ms


def current_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def test_a_page_stopped_by_the_limit_says_so(
    official_client, reference, limited, monkeypatch, django_user_model
):
    def slow(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(3)")
        return []

    monkeypatch.setattr(reports, "top_donors", slow)
    assert current_timeout() == "1s"
    response = official_client.get(f"/pairings/{reference.pairing.pk}/?year_from=2020")
    assert response.status_code == 503
    text = response.content.decode()
    assert "本页加载超过 1 秒，已停止，未作任何修改。" in text
    assert "请缩小筛选范围" in text
    # In the admin (a save, an import), the advice is to try again, not to narrow filters.
    monkeypatch.setattr(reports, "top_donors", slow)
    from partnerships import admin as partnerships_admin

    def slow_list(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(3)")

    monkeypatch.setattr(partnerships_admin.DonationAdmin, "get_queryset", slow_list)
    official_client.force_login(django_user_model.objects.create_superuser("slow-admin"))
    in_admin = official_client.get("/admin/partnerships/donation/")
    assert in_admin.status_code == 503
    assert "请几分钟后再试" in in_admin.content.decode()
    assert "请缩小筛选范围" not in in_admin.content.decode()
    # The connection is still usable, and still limited.
    assert current_timeout() == "1s"
    assert official_client.get("/").status_code == 200


def test_the_ledger_copy_is_exempt_and_the_limit_comes_back(limited):
    sql = "SELECT current_setting('statement_timeout'), pg_sleep(1.5)"
    body = b"".join(exports.copy_stream("header\r\n", sql, []))
    assert body == b'header\r\n0,""\r\n'  # no limit while it ran, and it ran past one
    assert current_timeout() == "1s"
    # A download cut short restores it too.
    stream = exports.copy_stream("header\r\n", "SELECT generate_series(1, 5000)", [])
    next(stream), next(stream)
    stream.close()
    assert current_timeout() == "1s"


# What a process sees of the limit once it has loaded the project: the setting on a new
# connection, and whether a statement longer than STATEMENT_TIMEOUT=1 runs to its end.
PROBE = """
from django.db import OperationalError, connection

with connection.cursor() as cursor:
    cursor.execute("SHOW statement_timeout")
    print(cursor.fetchone()[0])
    try:
        cursor.execute("SELECT pg_sleep(1.5)")
        print("finished")
    except OperationalError as error:
        print(type(error.__cause__).__name__)
"""


def probe(args: list[str], **env) -> list[str]:
    """Run `python <args>` against this test's database with STATEMENT_TIMEOUT=1, as a
    server or a command would start (production settings), and return the PROBE's lines."""
    database = connection.settings_dict
    credentials = quote(database["USER"] or "")
    if database["PASSWORD"]:
        credentials += ":" + quote(database["PASSWORD"])
    url = (
        f"postgres://{credentials}@{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}"
        f"/{quote(database['NAME'])}"
    )
    result = run_python(
        args,
        DATABASE_URL=url,
        STATEMENT_TIMEOUT="1",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-2:]


def test_commands_and_tests_are_not_limited():
    """Only the web process (wsgi.py) calls startup.limit_statement_time: a command (migrate,
    generate_dataset, rebuild_summary) runs as long as it needs, with the same settings, the
    same STATEMENT_TIMEOUT and the same apps loaded. Limiting it from settings or an app's
    ready() would stop a national dataset's migration after a minute."""
    assert probe(["manage.py", "shell", "--no-imports", "-c", PROBE]) == ["0", "finished"]
    assert current_timeout() == "0"  # nor this test process
    # The same probe in a process that loaded the web application is stopped: the limit the
    # command ran without is real.
    loaded_web = f"import partnerships.wsgi\n{PROBE}"
    assert probe(["-c", loaded_web], DJANGO_SETTINGS_MODULE="partnerships.settings") == [
        "1s",
        "QueryCanceled",
    ]
