"""Request middleware of this project."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

# Session key of the Unix time when the session's idle clock was last restarted.
RENEWED_AT = "_renewed_at"


def renewal_interval() -> int:
    """SESSION_RENEWAL_SECONDS, but never more than a thirtieth of the idle time."""
    return min(settings.SESSION_RENEWAL_SECONDS, settings.SESSION_COOKIE_AGE // 30)


class RequestCacheMiddleware:
    """What one request may read once and use many times (access.request_cache: the locked
    years), forgotten when the request ends."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from . import access

        with access.request_cache():
            return self.get_response(request)


class SessionRenewalMiddleware:
    """Restart a signed-in session's idle clock (SESSION_COOKIE_AGE) as it is used, at most
    once every renewal_interval().

    Instead of SESSION_SAVE_EVERY_REQUEST, which writes the session row on every request: one
    write transaction per page view, committed to disk, for a date that moves by seconds. A
    session in use is written about once a minute, so it ends between SESSION_COOKIE_AGE
    minus that interval and SESSION_COOKIE_AGE after its last request.

    Sits after SessionMiddleware, which saves a modified session on the way out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = request.session
        # No cookie or a session just flushed (sign-out), then one that is unknown or expired
        # (reading it finds no user): nothing to renew, and nothing to create.
        if session.session_key is None or auth.SESSION_KEY not in session:
            return response
        # A page asking whether it is still signed in (views.session_alive) is no use.
        if getattr(request, "keeps_idle_clock", False):
            return response
        now = int(time.time())
        if session.modified or now - session.get(RENEWED_AT, 0) >= renewal_interval():
            session[RENEWED_AT] = now  # marks it modified: SessionMiddleware saves it
        return response


class OverflowIsBadRequestMiddleware:
    """A number past 64 bits posted as a record's id (no page offers one: the request was
    made by hand) overflows SQLite's integers inside Django's own form fields, a 500. It is
    answered as the bad request it is, with the 400 page; the view's transaction has rolled
    back, so nothing is saved. (PostgreSQL compares such a number and finds no record.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, OverflowError):
            from django.views.defaults import bad_request

            return bad_request(request, exception)
        return None


class NulInAddressIsBadRequestMiddleware:
    """A NUL character in the address's query (?kind__exact=%00, an autocomplete's term) is
    no value anyone means; PostgreSQL refuses it in any text, a 500 wherever a list filter or
    search passes it on. It is answered with the 400 page before any view sees it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            from django.core.exceptions import BadRequest
            from django.views.defaults import bad_request

            return bad_request(request, BadRequest("NUL in the query"))
        return self.get_response(request)


# Errors that end a statement without it having done anything wrong, by PostgreSQL's
# SQLSTATE: cancelled, or lost to another transaction.
QUERY_CANCELED = "57014"  # by the statement timeout
CONTENTION = {
    "40P01",  # deadlock_detected: two saves locked the same rows in opposite orders
    "40001",  # serialization_failure
    "55P03",  # lock_not_available
}


# A write that lost a race with another at commit: two new records of the same name at once
# (the second found no namesake when its form was checked), or a record named by a save while
# another deleted it (the foreign key is checked at commit). Sent again, the form says what
# is wrong in words.
RACED = {
    "23505",  # unique_violation
    "23503",  # foreign_key_violation
}


def _busy_database(exception: Exception) -> str | None:
    """Why the database stopped the statement that raised `exception`: "timeout" or
    "contention"; None for any other error."""
    from django.db import IntegrityError, OperationalError

    if isinstance(exception, IntegrityError):
        if getattr(exception.__cause__, "sqlstate", None) in RACED:
            # with its trace: a constraint a form fails to check would show the same page
            logger.warning("write lost a race at commit", exc_info=exception)
            return "contention"
        return None
    if not isinstance(exception, OperationalError):
        return None
    cause = exception.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    if sqlstate == QUERY_CANCELED:
        return "timeout"
    if sqlstate in CONTENTION:
        return "contention"
    # SQLite: another process held the write lock past the busy timeout (settings.py).
    if "database is locked" in str(exception) or "database table is locked" in str(exception):
        return "contention"
    return None


class BusyDatabaseIsServiceUnavailableMiddleware:
    """A statement stopped by the web process's statement timeout (settings.STATEMENT_TIMEOUT),
    or one that lost to another transaction (a deadlock, a lock not granted; on SQLite, the
    write lock held past the busy timeout), is answered with a 503 page that says what
    happened and what to do, in the user's language, not Django's bare 500. Nothing was
    changed: the statement was a read, or its transaction rolled back (the admin's saves,
    imports and deletes are each one transaction)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        from django.db import IntegrityError

        if request.method != "POST" and isinstance(exception, IntegrityError):
            return None  # no write of this request's lost a race: a fault, a 500 and its log
        reason = _busy_database(exception)
        if reason is None:
            return None
        from django.contrib import messages
        from django.shortcuts import render
        from django.urls import reverse

        # What the interrupted save said before its commit failed ("…已成功添加") must not
        # greet the next page: nothing was saved.
        for _message in messages.get_messages(request):
            pass

        context = {
            "reason": reason,
            "seconds": settings.STATEMENT_TIMEOUT,
            # a save or an import: narrowing filters is no advice there
            "in_admin": request.path.startswith(reverse("admin:index")),
        }
        return render(request, "503.html", context, status=503)
