"""The web process freezes what it loaded at start-up, out of the garbage collector's way."""

import secrets

from .process_helpers import run_python

PROBE = """
import gc
import sys
import partnerships.wsgi
frozen = gc.get_freeze_count()
views_loaded = "partnerships.views" in sys.modules  # with the URL patterns, before freezing
unfrozen_at_start = len(gc.get_objects())

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after start-up, as requests make them
del a, b
print(frozen, unfrozen_at_start, gc.collect(), views_loaded)
"""


def test_the_wsgi_application_freezes_start_up_and_still_collects_request_garbage():
    result = run_python(
        ["-c", PROBE],
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="dxb.example.gov.cn",
    )
    assert result.returncode == 0, result.stderr
    frozen, unfrozen_at_start, collected, views_loaded = result.stdout.split()
    frozen, unfrozen_at_start, collected = int(frozen), int(unfrozen_at_start), int(collected)
    assert views_loaded == "True"
    # Django, the project's modules and the URL patterns: tens of thousands of objects.
    assert frozen > 20_000
    assert unfrozen_at_start < 1_000
    assert collected >= 2


def test_a_database_work_mem_that_is_not_a_size_stops_start_up_in_words():
    # Checked before any connection: the address need not lead to a server.
    result = run_python(
        ["manage.py", "check"],
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        DATABASE_WORK_MEM="16MB -c statement_timeout=0",
    )
    assert result.returncode != 0
    assert "DATABASE_WORK_MEM='16MB -c statement_timeout=0' is not a PostgreSQL memory size" in (
        result.stderr
    )
    fine = run_python(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['OPTIONS']['options'])",
        ],
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        DATABASE_WORK_MEM="32MB",
        DJANGO_SETTINGS_MODULE="partnerships.settings",
    )
    assert fine.returncode == 0, fine.stderr
    assert fine.stdout.split() == ["-c", "jit=off", "-c", "work_mem=32MB"]
