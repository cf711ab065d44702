"""Start-up: the web process freezes what it loaded, and the commands start without warnings."""

import secrets

import pytest

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


@pytest.mark.django_db
def test_migrate_and_runserver_print_no_warnings_on_this_database():
    """Every migrate on SQLite (`make run`'s among them) printed models.W040 for the list
    order's index, whose INCLUDE columns are PostgreSQL's only: staff setting up took it for
    something wrong. The checks the commands run, with the database's own, report nothing."""
    from django.core import checks

    issues = [
        issue
        for issue in checks.run_checks(databases=["default"])
        if not issue.is_silenced() and issue.level >= checks.WARNING
    ]
    assert issues == []
