import logging

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _

security_log = logging.getLogger("partnerships.security")


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin with this app's site (sites.py: the index in the order staff work)."""

    default = False  # named in INSTALLED_APPS; this module's default is PartnershipsConfig
    default_site = "partnerships.sites.PartnershipsAdminSite"


class PartnershipsConfig(AppConfig):
    name = "partnerships"
    verbose_name = _("East–west cooperation")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import (
            user_logged_in,
            user_logged_out,
            user_login_failed,
        )
        from django.db.models.signals import (
            m2m_changed,
            post_delete,
            post_migrate,
            post_save,
            pre_delete,
        )

        from . import access, checks, pagecache, summary  # noqa: F401 - checks registers the deploy checks

        for signal in (post_save, post_delete):
            signal.connect(
                access.forget_locked_years,
                sender="partnerships.LockedYear",
                dispatch_uid=f"locked-years-{signal is post_save}",
            )
        # The roles are data the code relies on: keep them in step after every migrate.
        post_migrate.connect(access.setup_roles, sender=self)
        # The triggers that version the data for the page cache, on every table.
        post_migrate.connect(pagecache.install_triggers, sender=self)
        # Saves refresh the donation summary in Donation.save; deletes, queryset ones
        # included, through this signal.
        pre_delete.connect(
            summary.donation_deleting, sender="partnerships.Donation", dispatch_uid="summary-pre"
        )
        post_delete.connect(
            summary.donation_deleted, sender="partnerships.Donation", dispatch_uid="summary"
        )
        from .models import Donation, donor_deleted, donor_deleting, donors_changed

        # What the place totals count and the donation's row does not hold: its lines and the
        # regions it names (the donors refresh theirs through donors_changed below).
        post_save.connect(
            summary.line_changed, sender="partnerships.DonationLine", dispatch_uid="summary-line"
        )
        post_delete.connect(
            summary.line_changed,
            sender="partnerships.DonationLine",
            dispatch_uid="summary-line-delete",
        )
        m2m_changed.connect(
            summary.recipients_changed,
            sender=Donation.recipient_regions.through,
            dispatch_uid="summary-recipients",
        )

        m2m_changed.connect(
            donors_changed, sender=Donation.donors.through, dispatch_uid="donor-count"
        )
        # Deleting an organisation removes its donor links without m2m_changed.
        pre_delete.connect(
            donor_deleting, sender="partnerships.Organisation", dispatch_uid="donor-count-pre"
        )
        post_delete.connect(
            donor_deleted, sender="partnerships.Organisation", dispatch_uid="donor-count-post"
        )
        from simple_history.signals import post_create_historical_record

        from . import history

        post_create_historical_record.connect(
            history.remember_version, dispatch_uid="history-remember-version"
        )
        history.name_link_rows()
        user_logged_in.connect(_logged_in, dispatch_uid="security-log-in")
        user_logged_out.connect(_logged_out, dispatch_uid="security-log-out")
        user_login_failed.connect(_login_failed, dispatch_uid="security-log-failed")


def _address(request) -> str:
    from .access import client_ip

    return client_ip(request) if request is not None else ""


def _logged_in(sender, request, user, **kwargs):
    security_log.info("sign-in user=%s address=%s", user.get_username(), _address(request))


def _logged_out(sender, request, user, **kwargs):
    name = user.get_username() if user else ""
    security_log.info("sign-out user=%s address=%s", name, _address(request))


def _login_failed(sender, credentials, request=None, **kwargs):
    security_log.warning(
        "failed sign-in user=%s address=%s", credentials.get("username", ""), _address(request)
    )
