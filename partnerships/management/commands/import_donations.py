"""Check a file of donations and import it, as the admin's import page does, on the server
without a web request's time limit: for a file too large to confirm within it (README,
"Bulk import": a thousand handovers take about a minute).

    python manage.py import_donations FILE --user USERNAME [--check]

The same file formats, checks, messages and rules as the page, for the account named (an
active staff account that may add donations, as the page requires): its pairings, its locked
years, and its name on each record's audit trail. Every row is saved, in one transaction, or
none; with `--check` nothing is saved. Problems are listed one a line (row, column, message)
and end the command with exit status 1.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from simple_history.models import HistoricalRecords

from partnerships import imports


@contextmanager
def changes_by(account):
    """Record the audit trail's versions as made by `account`, as the history middleware does
    for a request."""
    HistoricalRecords.context.request = SimpleNamespace(user=account)
    try:
        yield
    finally:
        del HistoricalRecords.context.request


class Command(BaseCommand):
    help = "Check a CSV or XLSX file of donations and import it (--check: only check)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV or XLSX file, as the import page takes it.")
        parser.add_argument(
            "--user",
            required=True,
            help="The account importing: its pairings, its locked years, its name in the history.",
        )
        parser.add_argument("--check", action="store_true", help="Check only; save nothing.")

    def handle(self, *args, file, user, check, **options):
        # Whom the admin's import page lets in: an active staff account that may add donations.
        account = (
            get_user_model().objects.filter(username=user, is_active=True, is_staff=True).first()
        )
        if account is None or not account.has_perm("partnerships.add_donation"):
            raise CommandError(
                _("No active account %(user)s that may add donations.") % {"user": user}
            )
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(
                _("The file %(file)s cannot be read: %(reason)s")
                % {"file": file, "reason": error.strerror or error}
            ) from error
        if check:
            preview, saved = imports.check_donations(data, path.name, account), 0
        else:
            with changes_by(account):
                preview, saved = imports.import_donations(data, path.name, account)
        for problem in [*preview.warnings, *preview.problems]:
            self.stderr.write("\t".join([str(problem.row), str(problem.column), problem.message]))
        if preview.problems:
            count = len(preview.problems)
            raise CommandError(
                ngettext(
                    "%(count)s problem; nothing was saved.",
                    "%(count)s problems; nothing was saved.",
                    count,
                )
                % {"count": count}
            )
        if not preview.items:
            raise CommandError(_("The file holds no donations; nothing was saved."))
        if check:
            count = len(preview.items)
            message = ngettext(
                "%(count)s donation checked, no problem; nothing was saved.",
                "%(count)s donations checked, no problem; nothing was saved.",
                count,
            )
        else:
            count = saved
            message = ngettext(
                "%(count)s donation imported.", "%(count)s donations imported.", count
            )
        self.stdout.write(self.style.SUCCESS(message % {"count": count}))
