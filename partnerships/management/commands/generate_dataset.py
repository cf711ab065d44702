"""A deterministic national-scale data set for benchmarks: regions, pairings, visits, donations.

    python manage.py generate_dataset --villages 50000 --donations 1000000 --years 10 --seed 1

The same seed and `--as-of` day (default: today) give the same data; nothing is dated later.

`--donations` counts donation lines (the unit every village figure sums). Rows go in through
COPY on PostgreSQL and batched INSERTs on SQLite, with ids allocated here so related rows can
be written in the same pass. Every invariant the app relies on holds: materialised paths,
lines adding up to their donation, stored years. Names start with 生成 so the set is easy to
tell apart; the audit history is not written for these rows (they were never edited).
"""

from __future__ import annotations

import bisect
import datetime
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable

from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from partnerships import summary
from partnerships.models import (
    DONOR_KIND_BITS,
    Category,
    Direction,
    Donation,
    DonationKind,
    DonationLine,
    Meeting,
    Organisation,
    Partnership,
    Person,
    Region,
    Visit,
    funding_of,
    path_step,
)

PREFIX = "生成"
WEST_PROVINCES, EAST_PROVINCES, CITIES_PER_PROVINCE = 6, 6, 5
TOWNS_PER_COUNTY, VILLAGES_PER_TOWN, EAST_TOWNS_PER_COUNTY = 10, 16, 3
TOWN_PAIRINGS_PER_COUNTY = 5
DONORS_PER_EAST_COUNTY, RECIPIENT_ORGS_PER_COUNTY = 15, 3
CATEGORIES = [c for c in Category.values if c != Category.UNSPECIFIED]
DONOR_KINDS = ["enterprise"] * 6 + ["community", "association", "government", "charity"]


class Progress:
    """One line on stderr, rewritten as the work goes on."""

    def __init__(self, label: str, total: int, quiet: bool):
        self.label, self.total, self.quiet = label, max(total, 1), quiet
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if self.quiet or (now - self.last < 0.5 and done < self.total):
            return
        self.last = now
        width = 30
        filled = int(width * done / self.total)
        sys.stderr.write(
            f"\r{self.label:<12} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done:>9,}/{self.total:,} {now - self.started:6.1f}s"
        )
        if done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


class BulkWriter:
    """Writes rows straight into tables: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self):
        self.postgres = connection.vendor == "postgresql"
        self.next_ids: dict[type, int] = {}

    def allocate(self, model, count: int) -> int:
        """The first of `count` fresh primary keys for `model`."""
        if model not in self.next_ids:
            top = model._default_manager.aggregate(top=Max("pk"))["top"] or 0
            self.next_ids[model] = top + 1
        first = self.next_ids[model]
        self.next_ids[model] += count
        return first

    def write(self, table: str, columns: list[str], rows: Iterable[tuple]) -> int:
        count = 0
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            if self.postgres:
                raw = cursor.cursor
                with raw.copy(
                    f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
                return count
            placeholders = ", ".join(["%s"] * len(columns))
            sql = (
                f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({placeholders})"
            )
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) >= 5000:
                    cursor.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
        return count

    def reset_sequences(self, models) -> None:
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)


def table(model) -> str:
    return model._meta.db_table


def the_day(as_of: datetime.date | str | None) -> datetime.date:
    """--as-of as a date: argparse converts it, call_command(as_of=...) may pass a string."""
    if as_of is None:
        return timezone.localdate()
    if isinstance(as_of, str):
        return datetime.date.fromisoformat(as_of)
    return as_of


class Command(BaseCommand):
    help = "Generate a deterministic national-scale data set (names start with 生成)."

    def add_arguments(self, parser):
        parser.add_argument("--villages", type=int, default=50_000)
        parser.add_argument("--donations", type=int, default=1_000_000, help="donation lines")
        parser.add_argument("--years", type=int, default=10)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--as-of",
            type=datetime.date.fromisoformat,
            default=None,
            help="the last day the data may reach, YYYY-MM-DD (default: today); the same seed "
            "and day give the same data",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, villages, donations, years, seed, quiet, as_of, **options):
        if villages < VILLAGES_PER_TOWN * TOWNS_PER_COUNTY or donations < 1 or years < 1:
            raise CommandError(
                f"Use at least {VILLAGES_PER_TOWN * TOWNS_PER_COUNTY} villages, one donation "
                "line and one year."
            )
        if Region.objects.filter(name__startswith=PREFIX, level=Region.Level.PROVINCE).exists():
            raise CommandError("A generated data set is already present; use a fresh database.")
        started = time.monotonic()
        with transaction.atomic():
            counts = Generator(
                random.Random(seed),
                villages,
                donations,
                years,
                quiet,
                as_of=the_day(as_of),
            ).run()
        # Statistics for the planner now, not when autovacuum gets to it: a page asked for
        # in between was planned blind (a top-donors query ran for over 11 minutes). And on
        # PostgreSQL the tables' visibility maps, outside a transaction (not in the tests'):
        # until then an index-only scan reads the table's pages too (a province pairing's
        # village table under a donor kind, from the new place totals by filter: 520 → 80 ms).
        vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated in {elapsed:.1f}s: "
                + ", ".join(f"{n:,} {name}" for name, n in counts.items())
            )
        )


class Generator:
    def __init__(self, rng, villages, lines, years, quiet, *, as_of: datetime.date):
        self.rng, self.village_target, self.line_target = rng, villages, lines
        self.quiet = quiet
        # Nothing is dated after `as_of`, so the data depend on it as well as on the seed.
        self.years = list(range(as_of.year - years + 1, as_of.year + 1))
        self.today = as_of
        self.out = BulkWriter()
        self.counts: dict[str, int] = {}

    # Regions ------------------------------------------------------------------------------

    def run(self) -> dict[str, int]:
        self.regions()
        self.partnerships()
        self.organisations_and_people()
        self.visits_and_meetings()
        self.donations()
        # COPY bypasses the models: the summary is built from the rows in one statement.
        self.counts["summary rows"] = summary.rebuild()
        self.out.reset_sequences(
            [Region, Partnership, Organisation, Person, Visit, Meeting, Donation, DonationLine]
        )
        return self.counts

    def regions(self) -> None:
        counties_west = -(-self.village_target // (TOWNS_PER_COUNTY * VILLAGES_PER_TOWN))
        rows = []
        region_id = self.out.allocate(Region, 0)

        def add(name, level, parent_path):
            nonlocal region_id
            pk = region_id
            region_id += 1
            path = f"{parent_path}{path_step(pk)}/"
            rows.append(
                (
                    pk,
                    name,
                    level,
                    int(parent_path.strip("/").split("/")[-1]) if parent_path != "/" else None,
                    None,
                    path,
                    1,
                )
            )
            return pk, path

        self.west_cities, self.east_cities = [], []
        for side, count, cities in (
            ("西", WEST_PROVINCES, self.west_cities),
            ("东", EAST_PROVINCES, self.east_cities),
        ):
            for p in range(count):
                province = add(f"{PREFIX}{side}省{p + 1:02d}", 1, "/")
                for c in range(CITIES_PER_PROVINCE):
                    cities.append(
                        (province, add(f"{PREFIX}{side}{p + 1:02d}市{c + 1:02d}", 2, province[1]))
                    )
        # Counties come in east–west pairs sharing an index, so pairings nest within cities.
        self.west_counties, self.east_counties = [], []
        self.towns_of: dict[int, list[tuple[int, str]]] = {}
        self.villages_of: dict[int, list[tuple[int, str]]] = {}
        village_count = 0
        for k in range(counties_west):
            city_index = k % len(self.west_cities)
            west_city = self.west_cities[city_index][1]
            county = add(f"{PREFIX}西县{k + 1:04d}", 3, west_city[1])
            self.west_counties.append((city_index, county))
            towns = []
            for t in range(TOWNS_PER_COUNTY):
                town = add(f"{PREFIX}西县{k + 1:04d}镇{t + 1:02d}", 4, county[1])
                towns.append(town)
                villages = []
                for v in range(VILLAGES_PER_TOWN):
                    if village_count >= self.village_target:
                        break
                    villages.append(
                        add(f"{PREFIX}村{k + 1:04d}-{t + 1:02d}-{v + 1:02d}", 5, town[1])
                    )
                    village_count += 1
                self.villages_of[town[0]] = villages
            self.towns_of[county[0]] = towns
            east_city = self.east_cities[city_index][1]
            east_county = add(f"{PREFIX}东区{k + 1:04d}", 3, east_city[1])
            self.east_counties.append(east_county)
            self.towns_of[east_county[0]] = [
                add(f"{PREFIX}东区{k + 1:04d}镇{t + 1}", 4, east_county[1])
                for t in range(EAST_TOWNS_PER_COUNTY)
            ]
        self.out.allocate(Region, region_id - self.out.next_ids[Region])
        columns = ["id", "name", "level", "parent_id", "code", "path", "version"]
        progress = Progress("regions", len(rows), self.quiet)
        self.counts["regions"] = self.out.write(table(Region), columns, rows)
        progress.update(len(rows))

    # Pairings -----------------------------------------------------------------------------

    def partnerships(self) -> None:
        rows = []
        next_id = self.out.allocate(Partnership, 0)
        self.pairings: list[dict] = []

        def add(helping, assisted, parent, level):
            nonlocal next_id
            pk = next_id
            next_id += 1
            path = f"{parent['path'] if parent else '/'}{path_step(pk)}/"
            year = self.rng.choice(self.years[: max(1, len(self.years) // 2)])
            rows.append(
                (
                    pk,
                    "",
                    helping[0],
                    assisted[0],
                    parent["id"] if parent else None,
                    year,
                    None,
                    None,
                    "",
                    path,
                    1,
                )
            )
            pairing = {"id": pk, "path": path, "assisted": assisted, "level": level}
            self.pairings.append(pairing)
            return pairing

        provinces = {}
        cities = {}
        for index, ((west_province, west_city), (east_province, east_city)) in enumerate(
            zip(self.west_cities, self.east_cities, strict=True)
        ):
            key = west_province[0]
            if key not in provinces:
                provinces[key] = add(east_province, west_province, None, 1)
            cities[index] = add(east_city, west_city, provinces[key], 2)
        for k, (city_index, west_county) in enumerate(self.west_counties):
            east_county = self.east_counties[k]
            county_pairing = add(east_county, west_county, cities[city_index], 3)
            east_towns = self.towns_of[east_county[0]]
            west_towns = self.towns_of[west_county[0]]
            for t in range(min(TOWN_PAIRINGS_PER_COUNTY, len(west_towns))):
                add(east_towns[t % len(east_towns)], west_towns[t], county_pairing, 4)
        self.out.allocate(Partnership, next_id - self.out.next_ids[Partnership])
        columns = [
            "id",
            "name",
            "helping_region_id",
            "assisted_region_id",
            "parent_id",
            "established_year",
            "established_on",
            "ended_on",
            "notes",
            "path",
            "version",
        ]
        self.counts["pairings"] = self.out.write(table(Partnership), columns, rows)

    # Organisations and people -----------------------------------------------------------

    def organisations_and_people(self) -> None:
        rows, people = [], []
        next_id = self.out.allocate(Organisation, 0)
        self.donors_of: dict[int, list[int]] = {}  # east county id → donor ids
        self.recipients_of: dict[int, list[int]] = {}  # west county id → organisation ids
        for k, east_county in enumerate(self.east_counties):
            ids = []
            for d in range(DONORS_PER_EAST_COUNTY):
                rows.append(
                    (
                        next_id,
                        f"{PREFIX}单位{k + 1:04d}-{d + 1:02d}",
                        self.rng.choice(DONOR_KINDS),
                        east_county[0],
                        "",
                        1,
                    )
                )
                ids.append(next_id)
                next_id += 1
            self.donors_of[east_county[0]] = ids
        self.organisation_kind = {row[0]: row[2] for row in rows}
        for k, (_, west_county) in enumerate(self.west_counties):
            ids = []
            for kind, label in (("charity", "红十字会"), ("school", "中学"), ("hospital", "医院")):
                rows.append(
                    (next_id, f"{PREFIX}西县{k + 1:04d}{label}", kind, west_county[0], "", 1)
                )
                ids.append(next_id)
                next_id += 1
            self.recipients_of[west_county[0]] = ids
        self.out.allocate(Organisation, next_id - self.out.next_ids[Organisation])
        self.counts["organisations"] = self.out.write(
            table(Organisation), ["id", "name", "kind", "region_id", "notes", "version"], rows
        )
        person_id = self.out.allocate(Person, len(self.pairings) * 2)
        self.people_of: dict[int, list[int]] = {}
        for pairing in self.pairings:
            ids = []
            for n in range(2):
                people.append(
                    (person_id, f"{PREFIX}人员{person_id}", f"{PREFIX}职务{n + 1}", None, 1)
                )
                ids.append(person_id)
                person_id += 1
            self.people_of[pairing["id"]] = ids
        self.counts["people"] = self.out.write(
            table(Person), ["id", "name", "position", "organisation_id", "version"], people
        )

    # Visits and meetings ----------------------------------------------------------------

    def visits_and_meetings(self) -> None:
        visits, meetings = [], []
        self.visits_of: dict[tuple[int, int], list[tuple[int, datetime.date, datetime.date]]] = (
            defaultdict(list)
        )
        visit_id = self.out.allocate(Visit, 0)
        meeting_id = self.out.allocate(Meeting, 0)
        rng = self.rng
        for pairing in self.pairings:
            per_year = {1: 1.0, 2: 2.0, 3: 4.0, 4: 0.5}[pairing["level"]]
            for year in self.years:
                count = int(per_year) + (1 if rng.random() < per_year % 1 else 0)
                for _ in range(count):
                    last = min(datetime.date(year, 12, 28), self.today)
                    start = datetime.date(year, 1, 1) + datetime.timedelta(
                        days=rng.randint(0, max(0, (last - datetime.date(year, 1, 1)).days))
                    )
                    end = min(start + datetime.timedelta(days=rng.randint(0, 3)), self.today)
                    leader = self.people_of[pairing["id"]][0]
                    visits.append(
                        (
                            visit_id,
                            pairing["id"],
                            rng.choice([Direction.EAST_TO_WEST] * 3 + [Direction.WEST_TO_EAST]),
                            start,
                            end,
                            "",
                            leader,
                            rng.choice([None, 8, 12, 20]),
                            f"{PREFIX}代表团",
                            "",
                            "",
                            PREFIX,
                            1,
                        )
                    )
                    self.visits_of[(pairing["id"], year)].append((visit_id, start, end))
                    for _meeting in range(1 + (rng.random() < 0.5)):
                        day = rng.choice([None, start, end])
                        meetings.append(
                            (
                                meeting_id,
                                pairing["id"],
                                visit_id,
                                day,
                                year,
                                f"{PREFIX}座谈会{meeting_id}",
                                f"{PREFIX}会议室",
                                "",
                                "",
                                "",
                                "",
                                1,
                            )
                        )
                        meeting_id += 1
                    visit_id += 1
        self.out.allocate(Visit, visit_id - self.out.next_ids[Visit])
        self.out.allocate(Meeting, meeting_id - self.out.next_ids[Meeting])
        self.counts["visits"] = self.out.write(
            table(Visit),
            [
                "id",
                "partnership_id",
                "direction",
                "start_date",
                "end_date",
                "date_note",
                "leader_id",
                "delegation_size",
                "delegation_description",
                "purpose",
                "summary",
                "source",
                "version",
            ],
            visits,
        )
        self.counts["meetings"] = self.out.write(
            table(Meeting),
            [
                "id",
                "partnership_id",
                "visit_id",
                "date",
                "year",
                "title",
                "venue",
                "other_attendees",
                "agenda",
                "outcomes",
                "source",
                "version",
            ],
            meetings,
        )

    # Donations --------------------------------------------------------------------------

    def _places_under(self, assisted) -> tuple[list, list, list]:
        """(counties, towns, villages) within an assisted region, by walking the generated tree."""
        level = len(assisted[1].strip("/").split("/"))
        if level == 4:  # a town
            return [], [assisted], self.villages_of.get(assisted[0], [])
        counties = [c for _, c in self.west_counties if c[1].startswith(assisted[1])]
        towns = [t for c in counties for t in self.towns_of[c[0]]]
        villages = [v for t in towns for v in self.villages_of.get(t[0], [])]
        return counties, towns, villages

    def donations(self) -> None:
        rng = self.rng
        # Most aid flows through county and town pairings; a little through the large ones.
        weights = {1: 0.2, 2: 1.0, 3: 20.0, 4: 4.0}
        places_cache = {p["id"]: self._places_under(p["assisted"]) for p in self.pairings}
        # A small set leaves some cities without counties: nothing to give to there.
        pairings = [p for p in self.pairings if places_cache[p["id"]][1]]
        cumulative = []
        total = 0.0
        for pairing in pairings:
            total += weights[pairing["level"]]
            cumulative.append(total)
        county_of_west: dict[str, int] = {c[1]: c[0] for _, c in self.west_counties}
        east_county_for = {
            c[0]: self.east_counties[k][0] for k, (_, c) in enumerate(self.west_counties)
        }

        donation_rows, line_rows, donor_rows, recipient_rows = [], [], [], []
        donation_id = self.out.allocate(Donation, 0)
        line_id = self.out.allocate(DonationLine, 0)
        lines_written = 0
        progress = Progress("donations", self.line_target, self.quiet)

        while lines_written < self.line_target:
            pairing = pairings[bisect.bisect(cumulative, rng.random() * total)]
            counties, towns, villages = places_cache[pairing["id"]]
            year = rng.choice(self.years)
            visit, day = None, None
            candidates = self.visits_of.get((pairing["id"], year))
            if candidates and rng.random() < 0.3:
                visit_row = rng.choice(candidates)
                visit = visit_row[0]
                if rng.random() < 0.5:
                    day = visit_row[1]
            if day is None and visit is None:
                last = min(datetime.date(year, 12, 31), self.today)
                day = datetime.date(year, 1, 1) + datetime.timedelta(
                    days=rng.randint(0, (last - datetime.date(year, 1, 1)).days)
                )
            amount = rng.randint(1_000_00, 500_000_00)  # fen: 1千 to 50万 yuan
            shape = rng.random()
            lines: list[tuple[int, int, int | None]] = []  # (region, fen, recipient org)
            recipients = []
            recipient_org = None
            if shape < 0.5 and villages:
                region = rng.choice(villages)
                recipients = [region[0]]
            elif shape < 0.8 and towns:
                region = rng.choice(towns)
                recipients = [region[0]]
                town_villages = self.villages_of.get(region[0], [])
                if town_villages and rng.random() < 0.5:
                    rest = amount
                    for village in rng.sample(
                        town_villages, k=min(len(town_villages), rng.randint(1, 3))
                    ):
                        part = rest * rng.choice([20, 30, 40]) // 100
                        if part > 0:
                            lines.append((village[0], part, None))
                            rest -= part
                            recipients.append(village[0])
            else:
                county = rng.choice(counties) if counties else None
                if county is None:  # a town pairing: stay within the town
                    region = towns[0]
                else:
                    region = county
                    recipient_org = rng.choice(self.recipients_of[county[0]])
            itemised = sum(part for _, part, _ in lines)
            kind = rng.choice(DonationKind.values)
            west_county_path = "/".join(pairing["assisted"][1].split("/")[:4]) + "/"
            donor_pool = self.donors_of.get(
                east_county_for.get(county_of_west.get(west_county_path, -1), -1)
            )
            if not donor_pool:
                donor_pool = self.donors_of[
                    self.east_counties[pairing["id"] % len(self.east_counties)][0]
                ]
            donors = rng.sample(donor_pool, k=1 if rng.random() < 0.8 else rng.randint(2, 3))
            for organisation in donors:
                donor_rows.append((donation_id, organisation))
            donation_rows.append(
                (
                    donation_id,
                    pairing["id"],
                    visit,
                    day,
                    year if day is None else day.year,
                    amount,
                    kind,
                    "",
                    rng.choice(CATEGORIES),
                    funding_of(self.organisation_kind[donor] for donor in donors),
                    region[0],
                    PREFIX,
                    "",
                    1,
                    len(donors),
                    sum({DONOR_KIND_BITS[self.organisation_kind[donor]] for donor in donors}),
                )
            )
            for place in recipients:
                recipient_rows.append((donation_id, place))
            for village, part, _ in lines:
                line_rows.append((line_id, donation_id, part, village, None, None, "", True))
                line_id += 1
            if amount - itemised > 0:
                line_rows.append(
                    (
                        line_id,
                        donation_id,
                        amount - itemised,
                        region[0],
                        recipient_org,
                        None,
                        "",
                        False,
                    )
                )
                line_id += 1
            lines_written = line_id - self.out.next_ids[DonationLine]
            donation_id += 1
            progress.update(min(lines_written, self.line_target))
        self.out.allocate(Donation, donation_id - self.out.next_ids[Donation])
        self.out.allocate(DonationLine, line_id - self.out.next_ids[DonationLine])
        self.counts["donations"] = self.out.write(
            table(Donation),
            [
                "id",
                "partnership_id",
                "visit_id",
                "date",
                "year",
                "amount",
                "kind",
                "materials_description",
                "category",
                "funding",
                "region_id",
                "source",
                "notes",
                "version",
                "donor_count",
                "donor_kinds",
            ],
            donation_rows,
        )
        self.counts["donation lines"] = self.out.write(
            table(DonationLine),
            [
                "id",
                "donation_id",
                "amount",
                "region_id",
                "recipient_organisation_id",
                "donor_id",
                "note",
                "is_itemised",
            ],
            line_rows,
        )
        self.counts["donor links"] = self.out.write(
            Donation.donors.through._meta.db_table, ["donation_id", "organisation_id"], donor_rows
        )
        self.out.write(
            Donation.recipient_regions.through._meta.db_table,
            ["donation_id", "region_id"],
            recipient_rows,
        )
