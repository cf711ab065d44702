"""What a web process does once it has loaded the project, before it serves requests.

Python's cyclic garbage collector now and then examines every object that can hold references,
and in a web process most of those were made at start-up and live as long as the process:
modules, settings, models, URL patterns. `gc.freeze()` takes them out of those examinations,
which shortened the slowest requests of the dashboard's pages (README, "Start-up objects and
the garbage collector", has what was measured). Frozen objects are still freed when nothing
refers to them; only a reference cycle among them would no longer be collected, and objects
that live as long as the process do not need that. Objects made by requests are collected as
before.
"""

from __future__ import annotations

import gc

from django.conf import settings
from django.db.backends.signals import connection_created


def freeze_startup_objects() -> int:
    """Collect what start-up left behind, then exempt the survivors from later collections;
    returns how many objects that exempted."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def limit_statement_time() -> None:
    """Every database connection this process opens stops a statement after
    settings.STATEMENT_TIMEOUT seconds (PostgreSQL): called by the web process only."""
    connection_created.connect(apply_statement_timeout, dispatch_uid="statement_timeout")


def apply_statement_timeout(sender=None, connection=None, **kwargs) -> None:
    if connection is None or connection.vendor != "postgresql" or settings.STATEMENT_TIMEOUT <= 0:
        return
    milliseconds = settings.STATEMENT_TIMEOUT * 1000
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(milliseconds)}")
    # What a statement that may rightly run longer (the ledger's COPY, streamed to a slow
    # client) lifts and restores: exports.copy_stream.
    connection.statement_timeout_ms = milliseconds
