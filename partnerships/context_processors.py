"""Template context every page of the site gets."""

from __future__ import annotations

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from . import access


def pairing_scope(request) -> dict:
    """`scope_limited`: whether the figures shown count only the pairings assigned to the user.

    Worked out only where a template asks (base.html, on every dashboard page, where the view
    has already worked out the scope for the user: no query of its own)."""

    def limited() -> bool:
        user = getattr(request, "user", None)
        return bool(user and user.is_authenticated and not access.scope_for(user).everything)

    return {"scope_limited": SimpleLazyObject(limited)}


def search_box(request) -> dict:
    """`search_box`: whether the header offers the dashboard's search (views.search_results),
    that is whether the user may read the dashboard at all; not on the sign-in page."""
    user = getattr(request, "user", None)
    return {"search_box": settings.DASHBOARD_PUBLIC or bool(user and user.is_authenticated)}


def session_clock(request) -> dict:
    """What the admin's pages tell their script (static/js/admin-session.js): how long a
    session lasts unused, and the cookie the form's CSRF token is renewed from."""
    # Said five minutes before the end, or halfway through a session of under ten.
    warning = min(300, settings.SESSION_COOKIE_AGE // 2)
    return {
        "session_idle_seconds": settings.SESSION_COOKIE_AGE,
        "session_warning_seconds": warning,
        "session_warning_minutes": max(1, round(warning / 60)),
        "csrf_cookie_name": settings.CSRF_COOKIE_NAME,
    }
