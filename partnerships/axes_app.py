"""django-axes under names staff can read in the admin (its own are English and in UTC).

The admin titles each record's page, breadcrumb and delete confirmation with the record's
str(), which django-axes writes as "Attempted Access: 2026-12-04 23:38:20+00:00". Those
three methods are replaced here with the user's language and local time; nothing else of
django-axes changes.
"""

from axes.apps import AppConfig
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def _when(record):
    return formats.date_format(timezone.localtime(record.attempt_time), "DATETIME_FORMAT")


def _who(record):
    return record.username or gettext("unknown account")


def attempt_name(record):
    return gettext("Failed sign-ins of %(username)s from %(address)s, last %(time)s") % {
        "username": _who(record),
        "address": record.ip_address or gettext("unknown address"),
        "time": _when(record),
    }


def failure_name(record):
    if record.locked_out:
        text = gettext("Failed sign-in of %(username)s, locked out, %(time)s")
    else:
        text = gettext("Failed sign-in of %(username)s, %(time)s")
    return text % {"username": _who(record), "time": _when(record)}


def sign_in_name(record):
    return gettext("Sign-in of %(username)s, %(time)s") % {
        "username": _who(record),
        "time": _when(record),
    }


class AxesConfig(AppConfig):
    verbose_name = _("Sign-in security")

    def ready(self):
        super().ready()
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        AccessAttempt.__str__ = attempt_name
        AccessFailureLog.__str__ = failure_name
        AccessLog.__str__ = sign_in_name
