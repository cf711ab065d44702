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
