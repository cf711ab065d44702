"""The benchmark's baseline of a page's own SQL (`make bench`): which queries it replays."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from partnerships.management.commands.bench import Command, data_queries

pytestmark = pytest.mark.django_db


def test_only_the_queries_for_what_a_page_shows_are_replayed():
    captured = [
        {"sql": 'SELECT "django_session"."session_key" FROM "django_session"'},
        {"sql": 'SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."id" = 1'},
        {"sql": "SELECT epoch, number FROM partnerships_dataversion WHERE id = 1"},
        {"sql": 'SELECT SUM("amount") FROM "partnerships_donation"'},
        {"sql": '(SELECT "donation_id" FROM "a") UNION (SELECT "donation_id" FROM "b")'},
        {"sql": "\n    WITH figures AS (SELECT 1) SELECT * FROM figures"},
        {"sql": "BEGIN"},
        {"sql": """UPDATE "django_session" SET "session_data" = 'x'"""},
        {"sql": "COMMIT"},
    ]
    assert data_queries(captured) == [
        'SELECT SUM("amount") FROM "partnerships_donation"',
        '(SELECT "donation_id" FROM "a") UNION (SELECT "donation_id" FROM "b")',
        "\n    WITH figures AS (SELECT 1) SELECT * FROM figures",
    ]


# SQLite: the bare connection sees only committed rows.
@pytest.mark.django_db(transaction=connection.vendor == "sqlite")
def test_a_pages_logged_queries_run_again_through_a_bare_connection(
    official_client, reference, settings
):
    """Django logs a query with its parameters inlined; the benchmark runs that text as is
    (on SQLite with the functions Django's backend adds to its connections)."""
    settings.DASHBOARD_CACHE = False
    url = f"/regions/{reference.jiangkou.pk}/?year_from=2023"
    official_client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert official_client.get(url).status_code == 200
    shown = data_queries(captured.captured_queries)
    assert any('FROM "partnerships_donation"' in sql for sql in shown)
    assert any("LIKE" in sql for sql in shown)  # a region's places, by path prefix
    assert not any("django_session" in sql or "auth_user" in sql for sql in shown)
    # A pairing's village table is one query ranked in the database, which starts WITH.
    pairing_url = f"/pairings/{reference.pairing.pk}/"
    official_client.get(pairing_url)
    with CaptureQueriesContext(connection) as captured:
        assert official_client.get(pairing_url).status_code == 200
    ranked = [sql for sql in data_queries(captured.captured_queries) if "RANK()" in sql]
    assert len(ranked) == 1 and ranked[0].lstrip().startswith("WITH")
    command = Command()
    try:
        command.raw_script([*shown, *ranked])()  # raises if one is not valid as logged
    finally:
        for conn in command._raw_connections:
            conn.close()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmark runs on PostgreSQL only"
)
def test_baselines_plan_every_run_as_a_page_view_does(reference):
    """psycopg prepares a statement from its fifth run on: a baseline run twenty times would
    be planned once, while each page view plans its statements afresh (Django does not
    prepare them), and planning is most of a small page's SQL."""
    command = Command()
    try:
        statement = 'SELECT SUM("amount") FROM "partnerships_donation"'
        run = command.raw_script([statement])
        for _ in range(10):
            run()
        (conn,) = command._raw_connections
        assert conn.prepare_threshold is None
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone() == (0,)
    finally:
        for conn in command._raw_connections:
            conn.close()
