"""Rendered dashboard content, reused until the data changes.

A page's content (everything inside <main>) and its htmx panel are pure functions of the
request's path and query, the language, the user's pairing scope, today's date and the data in
this app's tables. The first four are in the cache key. The data is represented by the
DataVersion row, which database triggers change whenever a transaction that wrote to any of
this app's tables commits, whatever wrote it: the ORM, a queryset update, a raw statement,
COPY, or a person at the psql prompt. Content is never served from before a change: a reader
takes the version first, then reads the data, so what it stores under a version is at least
as new as that version.

Only the content is cached: the site header (who is signed in, the CSRF token) is rendered for
every request around it.

The cache is skipped inside a transaction (the triggers count a transaction's writes when it
commits, so its own uncommitted writes are not in the version yet), when DASHBOARD_CACHE is
off, and until the first write has created the version row.

The triggers:
- PostgreSQL: a statement-level trigger on each table notes the first write of a transaction
  by inserting a DataChange row, whose deferred constraint trigger bumps the version at
  commit. The version's row lock is so taken last, just before the commit, and cannot join
  a deadlock with the locks the writes take. A rolled-back transaction or savepoint leaves
  no trace.
- SQLite: row-level triggers bump the version at once; SQLite runs one writer at a time, so
  there is no lock order to keep.

They are (re)installed after every migrate for every table of this app but the audit history
tables and the version's own, so a table a later migration adds is covered without anyone
remembering to; tests/test_pagecache.py fails if a table is left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

CACHE_ALIAS = "dashboard"
VERSION_TABLE = "partnerships_dataversion"
CHANGE_TABLE = "partnerships_datachange"
TRIGGER = "partnerships_note_change"

PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION partnerships_note_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('partnerships.changed_in', true)
            IS DISTINCT FROM pg_current_xact_id()::text THEN
        PERFORM set_config('partnerships.changed_in', pg_current_xact_id()::text, true);
        INSERT INTO {CHANGE_TABLE} DEFAULT VALUES;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION partnerships_count_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {VERSION_TABLE} (id, epoch, number)
    VALUES (1, md5(random()::text || clock_timestamp()::text), 1)
    ON CONFLICT (id) DO UPDATE SET number = {VERSION_TABLE}.number + 1;
    DELETE FROM {CHANGE_TABLE} WHERE id = NEW.id;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS partnerships_count_change ON {CHANGE_TABLE};
CREATE CONSTRAINT TRIGGER partnerships_count_change AFTER INSERT ON {CHANGE_TABLE}
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION partnerships_count_change();
"""

SQLITE_BUMP = (
    f"INSERT INTO {VERSION_TABLE} (id, epoch, number) "
    "VALUES (1, lower(hex(randomblob(16))), 1) "
    "ON CONFLICT(id) DO UPDATE SET number = number + 1;"
)


def watched_tables(connection) -> list[str]:
    """This app's tables whose writes change the version: all but history and the version's."""
    existing = set(connection.introspection.table_names())
    tables = set()
    for model in apps.get_app_config("partnerships").get_models(include_auto_created=True):
        table = model._meta.db_table
        if table in (VERSION_TABLE, CHANGE_TABLE) or model._meta.db_table.startswith(
            "partnerships_historical"
        ):
            continue
        if table in existing:
            tables.add(table)
    return sorted(tables)


def install_triggers(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Create or refresh the triggers on every watched table (run after every migrate)."""
    connection = connections[using]
    if CHANGE_TABLE not in connection.introspection.table_names():
        return  # migrating backwards past 0009
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(PG_FUNCTIONS)
            for table in watched_tables(connection):
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {quote(table)}")
                cursor.execute(
                    f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                    f"ON {quote(table)} FOR EACH STATEMENT "
                    "EXECUTE FUNCTION partnerships_note_change()"
                )
        elif connection.vendor == "sqlite":
            for table in watched_tables(connection):
                for event in ("INSERT", "UPDATE", "DELETE"):
                    name = quote(f"{TRIGGER}_{table}_{event.lower()}")
                    cursor.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {quote(table)} "
                        f"BEGIN {SQLITE_BUMP} END"
                    )


def uninstall_triggers(using: str = DEFAULT_DB_ALIAS) -> None:
    """Remove the triggers and functions (migrating back before 0009 drops their tables)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = %s",
                [TRIGGER],
            )
            for (table,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER {TRIGGER} ON {connection.ops.quote_name(table)}")
            cursor.execute("DROP FUNCTION IF EXISTS partnerships_note_change() CASCADE")
            cursor.execute("DROP FUNCTION IF EXISTS partnerships_count_change() CASCADE")
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s",
                [TRIGGER + "%"],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")


def data_version(using: str = DEFAULT_DB_ALIAS) -> str | None:
    """The committed data's version, or None where content must not be reused."""
    connection = connections[using]
    if not settings.DASHBOARD_CACHE or connection.in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT epoch, number FROM {VERSION_TABLE} WHERE id = 1")
        row = cursor.fetchone()
    return f"{row[0]}:{row[1]}" if row else None


def cache_key(request: HttpRequest, part: str, scope_paths, version: str) -> str:
    """Everything the content depends on besides the data, with the data's version."""
    parts = [
        part,
        request.get_full_path(),
        translation.get_language(),
        scope_paths,
        timezone.localdate().isoformat(),
        version,
    ]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
    return f"content:{digest}"


def rendered(
    request: HttpRequest, template_name: str, build: Callable[[], dict], *, scope_paths
) -> SafeString:
    """`template_name` (a "page.html#partial") rendered with `build()`, or the same HTML
    rendered earlier for the same request, language, scope and day on the same data."""
    version = data_version()
    key = cache_key(request, template_name, scope_paths, version) if version else None
    cache = caches[CACHE_ALIAS]
    if key is not None:
        html = cache.get(key)
        if html is not None:
            return mark_safe(html)  # our own rendering, stored as it was
    html = render_to_string(template_name, build(), request)
    if key is not None:
        cache.set(key, str(html))
    return mark_safe(html)  # rendered by the template engine just now
