"""Rebuild the donation summary from the donations, or with --check only compare the two.

    python manage.py rebuild_summary --check   # exit status 1 and the keys that differ
    python manage.py rebuild_summary           # rebuild in one transaction

Every write keeps the summary exact; this is for after rows were written around the models
(a restore of one table, a hand-made SQL fix) and for monitoring. The donations' stored
number and kinds of donors are checked and recounted too. A rebuild also draws a new
epoch for the dashboard's reused content (pagecache.py), so nothing rendered before is shown.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from partnerships import pagecache, summary
from partnerships.models import stale_donor_columns, store_donor_columns


class Command(BaseCommand):
    help = "Rebuild the donation summary from the donations (--check: only compare)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Compare only; fail if anything differs."
        )

    def handle(self, *args, check, **options):
        if check:
            problems = summary.differences()  # stale donor columns first, if any
            if problems:
                for line in problems[:50]:
                    self.stderr.write(line)
                raise CommandError(
                    f"The summary differs from the donations at {len(problems)} keys; "
                    "run `manage.py rebuild_summary`."
                )
            self.stdout.write("The summary equals the donations.")
            return
        with transaction.atomic():
            # The donor columns first: the donor totals' "given alone" reads donor_count.
            store_donor_columns(stale_donor_columns().values("pk"))
            rows = summary.rebuild()
        pagecache.new_epoch()
        # Run after a restore (README), which leaves the planner without statistics.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(f"Summary rebuilt: {rows} rows."))
