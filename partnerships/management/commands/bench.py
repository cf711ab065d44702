"""The benchmark behind `make bench`: dashboard pages against the raw SQL of the same work.

Run on an empty PostgreSQL database (`make bench` starts a throwaway one): it migrates,
generates the national-scale data set, then measures and prints a table (also written as
JSON). Timings are figures to read, never assertions. Each page has two ratios, both measured
in the same run on the same data: against the bare SQL of the headline aggregate it shows,
and against its own queries for what it shows, run again through a bare connection (the
product's overhead over the database work it does).

`make bench-sqlite` runs the same on an empty SQLite file at a single county's size, the
embedded database's use: there the baselines run through a bare sqlite3 connection, and the
export has no baseline (SQLite has no COPY).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.db.backends.sqlite3._functions import register as register_sqlite_functions
from django.db.models import Count, Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone, translation

from partnerships import exports, reports, views
from partnerships.models import (
    Donation,
    DonationLine,
    Organisation,
    PairingYearTotal,
    Partnership,
    Region,
)
from partnerships.startup import freeze_startup_objects

ROOT = Path(__file__).resolve().parents[3]


# The generated data's last day: fixed, so that runs on different days measure the same rows.
BENCH_DAY = datetime.date(2026, 6, 30)


def prepare_client_environment() -> None:
    """Let the test client run against this database on one kept connection, rendering
    templates as a server does.

    Django closes the connection after each request when CONN_MAX_AGE is 0; a page's time
    should not include connecting (gunicorn in the load run keeps its connections too).
    Django's test environment (setup_test_environment) is left out: it makes every template
    render send a signal on which the test client copies the whole context, once per
    <option> of a filter's select, which no server does (about 30 ms of an overview).
    """
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)


def memory_mb(field: str) -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), in MB.

    Not getrusage's ru_maxrss: a child started from the big benchmark process inherits its
    high-water mark across exec and would report the parent's size, not its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raw_connection() -> psycopg.Connection:
    """A bare psycopg connection with the product's session options (JIT off), for baselines.

    Statements are not prepared (`prepare_threshold=None`, as Django connects): psycopg
    otherwise prepares a statement from its fifth run on, and a baseline run twenty times
    would then be planned once, while every page view plans its statements afresh. At a
    million lines planning is most of a small page's SQL (a village page: 3 ms prepared,
    7 ms planned each time)."""
    dsn = settings.DATABASES["default"]
    return psycopg.connect(
        host=dsn["HOST"],
        port=dsn["PORT"],
        user=dsn["USER"],
        password=dsn["PASSWORD"] or None,
        dbname=dsn["NAME"],
        options=dsn.get("OPTIONS", {}).get("options", ""),
        prepare_threshold=None,
    )


def raw_sqlite_connection() -> sqlite3.Connection:
    """A bare sqlite3 connection to the same file, for baselines, with the SQL functions
    Django's backend adds to every connection (its date functions; a logged query may call
    them) and none of its type converters: rows come back as SQLite stores them."""
    params = connection.get_connection_params()  # the file, or the tests' shared memory
    conn = sqlite3.connect(params["database"], uri=params["uri"], check_same_thread=False)
    register_sqlite_functions(conn)
    return conn


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def timed(action, runs: int) -> list[float]:
    action()  # warm caches and connections first
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


# Tables a request reads or writes for signing in and for knowing whether reused content is
# still current: the product's cost, but no part of what a page shows.
BOOKKEEPING_TABLES = ("django_session", "auth_user", "partnerships_dataversion")


def data_queries(captured: list[dict]) -> list[str]:
    """The SELECTs of a request that fetch what its page shows (with or without a WITH
    before them, as a pairing's ranked village table has), with their parameters inlined
    (as Django's psycopg backend logs them), to run again through a bare connection."""
    return [
        query["sql"]
        for query in captured
        if query["sql"].lstrip("( \n\t").upper().startswith(("SELECT", "WITH"))
        and not any(table in query["sql"] for table in BOOKKEEPING_TABLES)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Command(BaseCommand):
    help = "Benchmark the dashboard, exports and admin against raw SQL."

    def add_arguments(self, parser):
        parser.add_argument("--lines", type=int, default=1_000_000)
        parser.add_argument("--villages", type=int, default=50_000)
        parser.add_argument("--years", type=int, default=10)
        parser.add_argument("--runs", type=int, default=20)
        parser.add_argument("--load-seconds", type=int, default=30)
        parser.add_argument("--users", type=int, default=20)
        parser.add_argument("--json", default="bench-results.json")
        parser.add_argument(
            "--as-of",
            type=datetime.date.fromisoformat,
            default=BENCH_DAY,
            help="the generated data's last day, fixed so that runs on different days compare",
        )
        parser.add_argument("--skip-generate", action="store_true")
        parser.add_argument("--export-probe", action="store_true", help=argparse_hidden())

    def handle(self, *args, **options):
        if options["export_probe"]:
            return self.export_probe()
        if connection.vendor not in ("postgresql", "sqlite"):
            raise CommandError("The benchmark runs on PostgreSQL or SQLite: see `make bench`.")
        prepare_client_environment()
        results = {
            "database": connection.vendor,
            "date": timezone.localtime().isoformat(timespec="minutes"),
            "machine": f"{os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
            "lines": options["lines"],
            "data_as_of": options["as_of"].isoformat(),
        }
        if not options["skip_generate"]:
            call_command("migrate", verbosity=0)
            call_command(
                "generate_dataset",
                villages=options["villages"],
                donations=options["lines"],
                years=options["years"],
                as_of=options["as_of"],
                stdout=self.stdout,
            )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
        results["rows"] = {
            "donation lines": DonationLine.objects.count(),
            "pairings": Partnership.objects.count(),
            "villages": Region.objects.filter(level=Region.Level.VILLAGE).count(),
        }
        # As the web process does once loaded (partnerships/wsgi.py); the load run's gunicorn
        # workers do it through wsgi.py itself.
        freeze_startup_objects()
        results["pages"] = self.pages(options["runs"])
        results["admin"] = self.admin(options["runs"], year=options["as_of"].year - 1)
        results["export"] = self.export()
        results["load"] = self.load(options["load_seconds"], options["users"], reused=True)
        results["load_afresh"] = self.load(options["load_seconds"], options["users"], reused=False)
        self.report(results)
        Path(options["json"]).write_text(json.dumps(results, indent=2, ensure_ascii=False))
        self.stdout.write(f"Written to {options['json']}")

    # Subjects and baselines --------------------------------------------------------------

    def kept_connection(self) -> psycopg.Connection | sqlite3.Connection:
        """A bare connection for baselines, kept for the whole run (listed for tests to close)."""
        conn = raw_connection() if connection.vendor == "postgresql" else raw_sqlite_connection()
        self._raw_connections = [*getattr(self, "_raw_connections", []), conn]
        return conn

    def raw(self, sql: str, params=()) -> callable:
        """A bare connection running the aggregate a page shows (written with %s
        placeholders, which sqlite3 spells ?)."""
        if connection.vendor == "sqlite":
            sql = sql.replace("%s", "?")
        return self.raw_script([sql], params)

    def raw_script(self, statements: list[str], params=()) -> callable:
        """A bare connection running the given statements one after another."""
        conn = self.kept_connection()

        def run():
            cursor = conn.cursor()
            try:
                for statement in statements:
                    # no parameters at all for a logged query: it may hold a literal %
                    cursor.execute(statement, params) if params else cursor.execute(statement)
                    cursor.fetchall()
            finally:
                cursor.close()

        return run

    def subjects(self):
        county = (
            Partnership.objects.filter(assisted_region__level=Region.Level.COUNTY)
            .annotate(n=Count("donations"))
            .order_by("-n")
            .first()
        )
        village = (
            Region.objects.filter(level=Region.Level.VILLAGE)
            .annotate(n=Count("donation_lines"))
            .order_by("-n")
            .first()
        )
        donor = Organisation.objects.annotate(n=Count("donations_given")).order_by("-n").first()
        return county, village, donor

    def province(self) -> Partnership:
        """The province pairing (a top of the tree) with the most donations in its tree."""
        tops = list(Partnership.objects.filter(parent__isnull=True).order_by("pk"))
        return max(
            tops,
            key=lambda top: (
                PairingYearTotal.objects.filter(partnership__path__startswith=top.path).aggregate(
                    n=Sum("count")
                )["n"]
                or 0
            ),
        )

    def pages(self, runs: int) -> list[dict]:
        user = get_user_model().objects.create_superuser(
            f"bench-{secrets.token_hex(4)}", password=secrets.token_urlsafe(16)
        )
        client = Client()
        client.force_login(user)
        county, village, donor = self.subjects()
        province = self.province()
        province_region = province.assisted_region
        # The middle page of the province's list of handovers (all received in it: a
        # province has no region above it).
        deep = 1 + Donation.objects.filter(
            region__path__startswith=province_region.path
        ).count() // (2 * views.PAGE_SIZE)
        line, donation, pairing = (
            "partnerships_donationline",
            "partnerships_donation",
            ("partnerships_partnership"),
        )
        region, link = "partnerships_region", "partnerships_donation_donors"
        recipients, organisation = (
            "partnerships_donation_recipient_regions",
            "partnerships_organisation",
        )

        def village_sums(pairing_path: str, condition: str = "") -> tuple[str, tuple]:
            """The raw SQL of a pairing's village table: its lines to villages, per village
            and year (`condition` on its donations `d`)."""
            return (
                f"SELECT l.region_id, d.year, SUM(l.amount) FROM {line} l "
                f"JOIN {donation} d ON d.id = l.donation_id "
                f"JOIN {pairing} p ON p.id = d.partnership_id "
                f"JOIN {region} r ON r.id = l.region_id "
                f"WHERE p.path LIKE %s AND r.level = 5{condition} GROUP BY 1, 2",
                (pairing_path + "%",),
            )

        def place_sums(region_path: str) -> tuple[str, tuple]:
            """The raw SQL of a region's yearly totals: the lines to it and its places."""
            return (
                f"SELECT d.year, SUM(l.amount) FROM {line} l "
                f"JOIN {donation} d ON d.id = l.donation_id "
                f"JOIN {region} r ON r.id = l.region_id "
                "WHERE r.path LIKE %s GROUP BY 1",
                (region_path + "%",),
            )

        cases = [
            (
                "overview /",
                "/",
                f"SELECT kind, year, SUM(amount) FROM {donation} GROUP BY kind, year",
                (),
            ),
            (
                # The overview's villages reached and donors, which htmx loads into it.
                "overview reach /reach/",
                "/reach/",
                f"SELECT (SELECT COUNT(*) FROM {region} r WHERE r.level = 5 AND ("
                f"EXISTS (SELECT 1 FROM {recipients} k WHERE k.region_id = r.id) OR "
                f"EXISTS (SELECT 1 FROM {line} l WHERE l.region_id = r.id))), "
                f"(SELECT COUNT(*) FROM {organisation} o "
                f"WHERE EXISTS (SELECT 1 FROM {link} k WHERE k.organisation_id = o.id))",
                (),
            ),
            (
                f"pairing /pairings/{county.pk}/",
                f"/pairings/{county.pk}/",
                *village_sums(county.path),
            ),
            (
                # The largest pairing of all, a province's: thousands of villages.
                f"province pairing /pairings/{province.pk}/",
                f"/pairings/{province.pk}/",
                *village_sums(province.path),
            ),
            (
                # The same under a filter of what the donations are, which officials choose:
                # the figures then come from the stored totals by filter (the baseline sums
                # the lines of those donations).
                f"province pairing, education /pairings/{province.pk}/?category=education",
                f"/pairings/{province.pk}/?category=education",
                *village_sums(province.path, " AND d.category = 'education'"),
            ),
            (
                f"province pairing, enterprises /pairings/{province.pk}/?donor_kind=enterprise",
                f"/pairings/{province.pk}/?donor_kind=enterprise",
                *village_sums(
                    province.path,
                    f" AND EXISTS (SELECT 1 FROM {link} k "
                    f"JOIN {organisation} o ON o.id = k.organisation_id "
                    "WHERE k.donation_id = d.id AND o.kind = 'enterprise')",
                ),
            ),
            (
                # Its targets and results panel, which htmx loads into it; its largest
                # aggregate is the fiscal and social funds per year.
                f"pairing targets /pairings/{county.pk}/targets/",
                f"/pairings/{county.pk}/targets/",
                f"SELECT d.year, d.funding, SUM(d.amount) FROM {donation} d "
                f"JOIN {pairing} p ON p.id = d.partnership_id "
                "WHERE p.path LIKE %s GROUP BY 1, 2",
                (county.path + "%",),
            ),
            (
                f"village /regions/{village.pk}/",
                f"/regions/{village.pk}/",
                *place_sums(village.path),
            ),
            (
                # A province's own page: its cities' table and the list of its handovers
                # (a sixth of all), the region officials of a province open first.
                f"province region /regions/{province_region.pk}/",
                f"/regions/{province_region.pk}/",
                *place_sums(province_region.path),
            ),
            (
                # The middle of its list: a page chosen by keys read past half the list.
                f"province region, page {deep} /regions/{province_region.pk}/?page={deep}",
                f"/regions/{province_region.pk}/?page={deep}",
                f"SELECT d.id, d.year, d.date, d.amount, r.name FROM {donation} d "
                f"JOIN {region} r ON r.id = d.region_id WHERE r.path LIKE %s "
                "ORDER BY d.year DESC, d.date DESC NULLS LAST, d.id DESC LIMIT %s OFFSET %s",
                (province_region.path + "%", views.PAGE_SIZE, (deep - 1) * views.PAGE_SIZE),
            ),
            (
                f"donor /donors/{donor.pk}/",
                f"/donors/{donor.pk}/",
                f"SELECT d.year, SUM(d.amount) FROM {link} k "
                f"JOIN {donation} d ON d.id = k.donation_id "
                "WHERE k.organisation_id = %s GROUP BY 1",
                (donor.pk,),
            ),
        ]
        # Panels that htmx loads into a page once it is shown are measured as fragments only.
        loaded_after = ("/reach/", f"/pairings/{county.pk}/targets/")
        rows = []
        for name, url, sql, params in cases:
            baseline = timed(self.raw(sql, params), runs)
            page_sql = {}
            # Rendered afresh (the first view after a change to the data), then reused.
            for reused in (False, True):
                for fragment in (True,) if url in loaded_after else (False, True):
                    headers = {"HTTP_HX_REQUEST": "true"} if fragment else {}

                    def get(url=url, headers=headers):
                        response = client.get(url, **headers)
                        assert response.status_code == 200, (url, response.status_code)

                    if not reused:
                        # The page's own queries for what it shows, rendered afresh and
                        # run again through a bare connection: both rows of this page
                        # (afresh and reused) are compared with the same work.
                        with override_settings(DASHBOARD_CACHE=False):
                            get()
                            with CaptureQueriesContext(connection) as captured:
                                get()
                        shown = data_queries(captured.captured_queries)
                        page_sql[fragment] = (len(shown), timed(self.raw_script(shown), runs))
                    shown_count, page_baseline = page_sql[fragment]
                    with override_settings(DASHBOARD_CACHE=reused):
                        get()  # the reused content is stored by this first view
                        with CaptureQueriesContext(connection) as captured:
                            get()
                        query_count = len(captured.captured_queries)
                        samples = timed(get, runs)
                    label = " (fragment)" if fragment else ""
                    rows.append(
                        {
                            "name": f"{name}{label}, {'reused' if reused else 'afresh'}",
                            "reused": reused,
                            "p50_ms": statistics.median(samples),
                            "p95_ms": percentile(samples, 0.95),
                            "raw_sql_p50_ms": statistics.median(baseline),
                            "ratio": statistics.median(samples) / statistics.median(baseline),
                            "page_sql_p50_ms": statistics.median(page_baseline),
                            "page_sql_queries": shown_count,
                            "ratio_to_page_sql": (
                                statistics.median(samples) / statistics.median(page_baseline)
                            ),
                            "queries": query_count,
                        }
                    )
        return rows

    def admin(self, runs: int, *, year: int) -> list[dict]:
        user = get_user_model().objects.filter(is_superuser=True).first()
        client = Client()
        client.force_login(user)
        rows = []
        for name, url in (
            ("donations changelist", "/admin/partnerships/donation/"),
            (f"donations changelist, year {year}", f"/admin/partnerships/donation/?year={year}"),
        ):

            def get(url=url):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            with CaptureQueriesContext(connection) as captured:
                get()
            query_count = len(captured.captured_queries)
            samples = timed(get, max(5, runs // 2))
            rows.append(
                {
                    "name": name,
                    "p50_ms": statistics.median(samples),
                    "p95_ms": percentile(samples, 0.95),
                    "queries": query_count,
                }
            )
        return rows

    # Export --------------------------------------------------------------------------------

    def export(self) -> dict:
        probe = subprocess.run(
            [sys.executable, "manage.py", "bench", "--export-probe"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        product = json.loads(probe.stdout.strip().splitlines()[-1])
        if connection.vendor != "postgresql":
            return product  # no COPY to compare with
        # The baseline is COPY of the very query the product streams (same columns, labels in
        # the default language, same order), so the ratio is the cost of serving it over HTTP.
        with translation.override(settings.LANGUAGE_CODE):
            query, params = exports.ledger_sql(exports.ledger_lines(filters=reports.Filters()))
        sql = f"COPY ({query}) TO STDOUT (FORMAT CSV)"
        with (
            raw_connection() as conn,
            conn.cursor() as cursor,
        ):
            started = time.perf_counter()
            rows = 0
            with cursor.copy(sql, params) as copy:
                for _row in copy:  # one message per row
                    rows += 1
            copy_seconds = time.perf_counter() - started
        product["copy_rows_per_s"] = rows / copy_seconds
        product["ratio_to_copy"] = product["rows_per_s"] / product["copy_rows_per_s"]
        return product

    def export_probe(self) -> None:
        """In a process of its own, so its peak memory is the export's."""
        prepare_client_environment()
        user = get_user_model().objects.filter(is_superuser=True).first()
        client = Client()
        client.force_login(user)
        before = memory_mb("VmRSS")
        started = time.perf_counter()
        response = client.get("/export/ledger.csv")
        lines = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
        seconds = time.perf_counter() - started
        peak = memory_mb("VmHWM")
        rows = lines - 1
        print(
            json.dumps(
                {
                    "rows": rows,
                    "seconds": seconds,
                    "rows_per_s": rows / seconds,
                    "peak_rss_mb": peak,
                    "rss_before_mb": before,
                }
            )
        )

    # Load ----------------------------------------------------------------------------------

    def load(self, seconds: int, users: int, *, reused: bool) -> dict:
        county, _, _ = self.subjects()
        port = free_port()
        env = {
            **os.environ,
            "DEBUG": "false",
            "HTTPS": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DASHBOARD_PUBLIC": "true",
            "DASHBOARD_CACHE": "true" if reused else "false",
            "PLAIN_STATIC_STORAGE": "true",
        }
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "partnerships.wsgi",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)
            path = f"/pairings/{county.pk}/"
            # As a browser does: the page, then the panel htmx loads into it once shown.
            visit = [(path, {}), (f"{path}targets/", {"HX-Request": "true"})]
            latencies: list[float] = []
            errors = [0]
            lock = threading.Lock()
            stop_at = time.monotonic() + seconds

            def user_loop():
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                sent = 0
                while time.monotonic() < stop_at:
                    url, headers = visit[sent % len(visit)]
                    sent += 1
                    started = time.perf_counter()
                    try:
                        conn.request("GET", url, headers=headers)
                        response = conn.getresponse()
                        response.read()
                        ok = response.status == 200
                    except (OSError, http.client.HTTPException):
                        ok = False
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        if ok:
                            latencies.append(elapsed)
                        else:
                            errors[0] += 1
                conn.close()

            threads = [threading.Thread(target=user_loop) for _ in range(users)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        return {
            "path": f"{path} and {path}targets/",
            "reused": reused,
            "users": users,
            "seconds": wall,
            "requests": len(latencies),
            "requests_per_s": len(latencies) / wall,
            "p50_ms": statistics.median(latencies) if latencies else None,
            "p95_ms": percentile(latencies, 0.95) if latencies else None,
            "errors": errors[0],
        }

    # Report --------------------------------------------------------------------------------

    def report(self, results: dict) -> None:
        out = self.stdout.write
        out(f"\nBenchmark {results['date']} on {results['machine']}: {results['rows']}")
        out(
            f"\n{'page':<90}{'p50 ms':>9}{'p95 ms':>9}{'aggr.':>9}{'ratio':>8}"
            f"{'its SQL':>9}{'ratio':>8}{'queries':>9}"
        )
        for row in results["pages"]:
            out(
                f"{row['name']:<90}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
                f"{row['raw_sql_p50_ms']:>9.1f}{row['ratio']:>8.2f}"
                f"{row['page_sql_p50_ms']:>9.1f}{row['ratio_to_page_sql']:>8.2f}"
                f"{row['queries']:>9}"
            )
        out(
            "aggr.: the raw SQL of the headline aggregate the page shows; its SQL: the page's "
            "own queries for what it shows (rendered afresh), run through a bare connection."
        )
        for row in results["admin"]:
            out(
                f"{row['name']:<90}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
                f"{'':>9}{'':>8}{'':>9}{'':>8}{row['queries']:>9}"
            )
        export = results["export"]
        copy = (
            f"; COPY {export['copy_rows_per_s']:,.0f} rows/s (ratio {export['ratio_to_copy']:.2f})"
            if "copy_rows_per_s" in export
            else ""
        )
        out(
            f"\nledger CSV export: {export['rows']:,} rows in {export['seconds']:.1f}s = "
            f"{export['rows_per_s']:,.0f} rows/s{copy}; peak memory {export['peak_rss_mb']:.0f} MB"
        )
        for load in (results["load"], results["load_afresh"]):
            out(
                f"load ({'content reused' if load['reused'] else 'rendered afresh'}): "
                f"{load['users']} users for {load['seconds']:.0f}s on {load['path']}: "
                f"{load['requests_per_s']:.1f} req/s, p50 {load['p50_ms'] or 0:.0f} ms, "
                f"p95 {load['p95_ms'] or 0:.0f} ms, {load['errors']} errors"
            )


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
