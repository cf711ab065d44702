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


def freeze_startup_objects() -> int:
    """Collect what start-up left behind, then exempt the survivors from later collections;
    returns how many objects that exempted."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
