"""Rendered dashboard content, reused until the data changes.

A page's content (everything inside <main>) and its htmx panel are pure functions of the
request's path and query, the language, the user's pairing scope, the day and the data in this
app's tables. The first four are in the cache key. The data is represented by its version,
which database triggers move whenever a transaction that wrote to any of this app's tables
commits, whatever wrote it: the ORM, a queryset update, a raw statement, COPY, TRUNCATE, or a
person at the psql prompt. A page reads the version (and the day) before anything else
(`versioned`), so what it stores under a version is at least as new as that version.

Only the content is cached: the site header (who is signed in, the CSRF token) is rendered for
every request around it. Nothing is reused inside a transaction (its own writes count only
once it commits), when DASHBOARD_CACHE is off, or before the version row exists.

The version is `epoch:number`, read in one statement as DataVersion's epoch and its number plus
the count of DataChange rows:
- PostgreSQL: a statement-level trigger on each table inserts one DataChange row in a
  transaction's first write (a transaction-local setting remembers it; a rolled-back savepoint
  undoes both). The row becomes visible with the transaction's commit, so the count moves
  exactly when the data does. Writers take no shared lock, so the version cannot join a
  deadlock. Every 256th change compacts the rows into DataVersion.number, but only if no other
  transaction is compacting (SKIP LOCKED): nobody ever waits for the version.
- SQLite: row-level triggers add 1 to DataVersion.number at once; SQLite has one writer at a
  time, so there is no lock order to keep.

The epoch is drawn when the row is created (after a flush) and by `rebuild_summary`, which is
also what to run after rows were restored or written with the triggers off (a pg_restore, a
replica): numbers counted again from a restored value then never meet content cached before.

The triggers are installed after every migrate, in one transaction, on every table of this
app but the audit history and the version's own, so a table a later migration adds is covered
without anyone remembering to; the install itself counts as a change, for writes made while a
migration had a table without its trigger. tests/test_pagecache.py fails if a table is left
out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

CACHE_ALIAS = "dashboard"
VERSION_TABLE = "partnerships_dataversion"
CHANGE_TABLE = "partnerships_datachange"
TRIGGER = "partnerships_note_change"
COMPACT_EVERY = 256

PG_NEW_EPOCH = "md5(random()::text || clock_timestamp()::text)"
PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION partnerships_compact_changes(up_to bigint) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM {VERSION_TABLE} WHERE id = 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        WITH gone AS (DELETE FROM {CHANGE_TABLE} WHERE id < up_to RETURNING 1)
        UPDATE {VERSION_TABLE} SET number = number + (SELECT count(*) FROM gone) WHERE id = 1;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION partnerships_note_change() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    change_id bigint;
BEGIN
    IF current_setting('partnerships.changed_in', true)
            IS DISTINCT FROM pg_current_xact_id()::text THEN
        PERFORM set_config('partnerships.changed_in', pg_current_xact_id()::text, true);
        IF NOT EXISTS (SELECT 1 FROM {VERSION_TABLE} WHERE id = 1) THEN
            INSERT INTO {VERSION_TABLE} (id, epoch, number) VALUES (1, {PG_NEW_EPOCH}, 0)
            ON CONFLICT (id) DO NOTHING;
        END IF;
        INSERT INTO {CHANGE_TABLE} DEFAULT VALUES RETURNING id INTO change_id;
        IF change_id % {COMPACT_EVERY} = 0 THEN
            PERFORM partnerships_compact_changes(change_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""

SQLITE_BUMP = (
    f"INSERT INTO {VERSION_TABLE} (id, epoch, number) "
    "VALUES (1, lower(hex(randomblob(16))), 1) "
    "ON CONFLICT(id) DO UPDATE SET number = number + 1;"
)


# Tables no page shows: a file waiting for its import's confirmation changes no figure, and
# each upload would otherwise throw away every reader's reused pages.
NOT_SHOWN = {"partnerships_stagedimport"}


def watched_tables(connection) -> list[str]:
    """This app's tables whose writes change the version: all but history, the version's
    and NOT_SHOWN."""
    existing = set(connection.introspection.table_names())
    tables = set()
    for model in apps.get_app_config("partnerships").get_models(include_auto_created=True):
        table = model._meta.db_table
        if table in (VERSION_TABLE, CHANGE_TABLE, *NOT_SHOWN) or table.startswith(
            "partnerships_historical"
        ):
            continue
        if table in existing:
            tables.add(table)
    return sorted(tables)


def triggered_tables(connection) -> set[str]:
    """The tables that have the trigger now."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = %s",
                [TRIGGER],
            )
        else:
            cursor.execute(
                "SELECT DISTINCT tbl_name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE %s",
                [TRIGGER + "%"],
            )
        return {row[0] for row in cursor.fetchall()}


def install_triggers(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Add the trigger to every watched table that lacks it, and count a change (run after
    every migrate, in one transaction)."""
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    if CHANGE_TABLE not in connection.introspection.table_names():
        return  # migrating backwards past 0009
    quote = connection.ops.quote_name
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTIONS)
            present = triggered_tables(connection)
            watched = watched_tables(connection)
            for table in watched:
                if table not in present:
                    cursor.execute(
                        f"CREATE TRIGGER {TRIGGER} "
                        f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {quote(table)} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION partnerships_note_change()"
                    )
            for table in present - set(watched):  # a table no longer watched
                cursor.execute(f"DROP TRIGGER {TRIGGER} ON {quote(table)}")
            # Counts as a change: writes a migration made to a table before it had its trigger.
            cursor.execute(f"INSERT INTO {CHANGE_TABLE} DEFAULT VALUES")
        else:
            watched = watched_tables(connection)
            for table in triggered_tables(connection) - set(watched):  # no longer watched
                for event in ("insert", "update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {quote(f'{TRIGGER}_{table}_{event}')}")
            for table in watched:
                for event in ("INSERT", "UPDATE", "DELETE"):
                    name = quote(f"{TRIGGER}_{table}_{event.lower()}")
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                    cursor.execute(
                        f"CREATE TRIGGER {name} AFTER {event} ON {quote(table)} "
                        f"BEGIN {SQLITE_BUMP} END"
                    )
            cursor.execute(SQLITE_BUMP)


def uninstall_triggers(using: str = DEFAULT_DB_ALIAS) -> None:
    """Remove the triggers and functions (migrating back before 0009 drops their tables)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in triggered_tables(connection):
                cursor.execute(f"DROP TRIGGER {TRIGGER} ON {quote(table)}")
            cursor.execute("DROP FUNCTION IF EXISTS partnerships_note_change()")
            cursor.execute("DROP FUNCTION IF EXISTS partnerships_compact_changes(bigint)")
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s",
                [TRIGGER + "%"],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER {quote(name)}")


def new_epoch(using: str = DEFAULT_DB_ALIAS) -> None:
    """Draw a new epoch, so no content cached before is reused (after a restore)."""
    connection = connections[using]
    epoch = "lower(hex(randomblob(16)))" if connection.vendor == "sqlite" else PG_NEW_EPOCH
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {VERSION_TABLE} SET epoch = {epoch} WHERE id = 1")


def data_version(using: str = DEFAULT_DB_ALIAS) -> str | None:
    """The committed data's version, or None where content must not be reused."""
    connection = connections[using]
    if not settings.DASHBOARD_CACHE or connection.in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT epoch, number + (SELECT count(*) FROM {CHANGE_TABLE}) "
            f"FROM {VERSION_TABLE} WHERE id = 1"
        )
        row = cursor.fetchone()
    return f"{row[0]}:{row[1]}" if row else None


def versioned(view: Callable) -> Callable:
    """Read the data's version and the day before the view reads anything else."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.data_version = data_version()
        request.content_day = timezone.localdate()
        return view(request, *args, **kwargs)

    return wrapper


def cache_key(request: HttpRequest, part: str, scope_paths, version: str) -> str:
    """Everything the content depends on besides the data, with the data's version."""
    parts = [
        part,
        request.get_full_path(),
        translation.get_language(),
        scope_paths,
        request.content_day.isoformat(),
        version,
    ]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
    return f"content:{digest}"


def rendered(
    request: HttpRequest,
    template_name: str,
    build: Callable[[], dict],
    *,
    scope_paths,
    keep: Callable[[], bool] = lambda: True,
) -> SafeString:
    """`template_name` (a "page.html#partial") rendered with `build()`, or the same HTML
    rendered earlier for the same request, language, scope and day on the same data. Only for
    views wrapped in `versioned`. What `build` made is stored unless `keep()`, asked after
    it, says no (an answer to a bad request)."""
    version = getattr(request, "data_version", None)
    key = cache_key(request, template_name, scope_paths, version) if version else None
    cache = caches[CACHE_ALIAS]
    if key is not None:
        html = cache.get(key)
        if html is not None:
            return mark_safe(html)  # our own rendering, stored as it was
    html = render_to_string(template_name, build(), request)
    if key is not None and keep():
        cache.set(key, str(html))
    return mark_safe(html)  # rendered by the template engine just now
