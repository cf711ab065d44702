"""A deterministic, clearly fictional sample (every name starts with 示例) so charts have data.

It never touches the reference record: everything it creates or replaces hangs under the
示例 provinces or carries a 示例 name.
"""

import datetime
import random
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from partnerships import history, summary
from partnerships.models import (
    AidProject,
    AnnualTarget,
    Category,
    CooperationResult,
    Direction,
    Donation,
    DonationKind,
    DonationLine,
    Meeting,
    MeetingParticipant,
    Organisation,
    Partnership,
    Person,
    Posting,
    ProjectFunds,
    Region,
    VillageEnterprisePair,
    Visit,
    VisitActivity,
    funding_of,
)

PREFIX = "示例"
FIRST_YEAR = 2021
TOWNS = ["甲", "乙", "丙", "丁"]
VILLAGE_NUMERALS = ["一", "二", "三", "四", "五", "六", "七", "八", "九"]
NORTH_VILLAGES = ["东坪", "西坪", "南岭", "北岭", "石桥", "竹林"]
DONORS = [
    ("示例东镇人民政府", Organisation.Kind.GOVERNMENT, "town"),
    ("示例东区工商联合会", Organisation.Kind.ASSOCIATION, "district"),
    ("示例电子股份有限公司", Organisation.Kind.ENTERPRISE, "district"),
    ("示例食品有限公司", Organisation.Kind.ENTERPRISE, "district"),
    ("示例服饰有限公司", Organisation.Kind.ENTERPRISE, "city"),
    ("示例慈善会", Organisation.Kind.CHARITY, "city"),
    ("示例东一社区", Organisation.Kind.COMMUNITY, "town"),
    ("示例东区第一中学", Organisation.Kind.SCHOOL, "district"),
    ("示例东区人民医院", Organisation.Kind.HOSPITAL, "district"),
]
RECIPIENT_ORGS = [
    ("示例西县红十字会", Organisation.Kind.CHARITY),
    ("示例西县第一小学", Organisation.Kind.SCHOOL),
    ("示例西县人民医院", Organisation.Kind.HOSPITAL),
]
PEOPLE = [
    ("示例王明", "示例东市副市长"),
    ("示例李华", "示例东区区委书记"),
    ("示例陈静", "示例东镇镇长"),
    ("示例刘强", "示例西县县委书记"),
    ("示例赵敏", "示例西县副县长"),
    ("示例孙磊", "示例甲镇镇长"),
    ("示例周婷", "示例北县副县长"),
]
CATEGORIES = [c for c in Category.values if c != Category.UNSPECIFIED]


class Command(BaseCommand):
    help = "Load a deterministic fictional sample (names start with 示例) for 2021 to this year."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2023, help="Random seed (default 2023).")
        parser.add_argument(
            "--replace", action="store_true", help="Delete an existing sample and load it anew."
        )

    @transaction.atomic
    @summary.deferred()
    def handle(self, *args, seed, replace, **options):
        if Region.objects.filter(level=Region.Level.PROVINCE, name__startswith=PREFIX).exists():
            if not replace:
                self.stdout.write("Sample data already present; use --replace to load it anew.")
                return
            delete_sample()
        counts = Sample(random.Random(seed), timezone.localdate()).build()
        self.stdout.write(
            self.style.SUCCESS(
                "Sample data loaded: "
                + ", ".join(f"{count} {name}" for name, count in counts.items())
            )
        )


def delete_sample() -> None:
    provinces = Region.objects.filter(level=Region.Level.PROVINCE, name__startswith=PREFIX)
    paths = list(provinces.values_list("path", flat=True))
    pairings = Partnership.objects.filter(helping_region__name__startswith=PREFIX)
    Donation.objects.filter(partnership__in=pairings).delete()
    Meeting.objects.filter(partnership__in=pairings).delete()
    Visit.objects.filter(partnership__in=pairings).delete()  # and their inspections
    for model in (AnnualTarget, CooperationResult, Posting, VillageEnterprisePair, AidProject):
        model.objects.filter(partnership__in=pairings).delete()
    for pairing in pairings.order_by("-path"):
        pairing.delete()
    Person.objects.filter(name__startswith=PREFIX).delete()
    Organisation.objects.filter(name__startswith=PREFIX).delete()
    for path in paths:
        for region in Region.objects.filter(path__startswith=path).order_by("-level"):
            region.delete()


class Sample:
    def __init__(self, rng: random.Random, today: datetime.date):
        self.rng = rng
        self.today = today
        self.counts = {
            "visits": 0,
            "meetings": 0,
            "donations": 0,
            "itemised lines": 0,
            "targets": 0,
        }

    def region(self, name, level, parent=None):
        return Region.objects.create(name=name, level=level, parent=parent)

    def build(self) -> dict[str, int]:
        L = Region.Level
        east = self.region("示例东省", L.PROVINCE)
        east_city = self.region("示例东市", L.CITY, east)
        east_district = self.region("示例东区", L.COUNTY, east_city)
        east_town = self.region("示例东镇", L.TOWN, east_district)
        west = self.region("示例西省", L.PROVINCE)
        west_city = self.region("示例西市", L.CITY, west)
        west_county = self.region("示例西县", L.COUNTY, west_city)
        north_county = self.region("示例北县", L.COUNTY, west_city)
        self.towns = {}
        self.villages = {}
        for town_name in TOWNS:
            town = self.region(f"示例{town_name}镇", L.TOWN, west_county)
            self.towns[town.pk] = town
            count = 7 + TOWNS.index(town_name) % 3
            self.villages[town.pk] = [
                self.region(f"示例{town_name}{numeral}村", L.VILLAGE, town)
                for numeral in VILLAGE_NUMERALS[:count]
            ]
        north_town = self.region("示例北镇", L.TOWN, north_county)
        self.towns[north_town.pk] = north_town
        self.villages[north_town.pk] = [
            self.region(f"示例{name}村", L.VILLAGE, north_town) for name in NORTH_VILLAGES
        ]

        top = Partnership.objects.create(
            name="示例东西", helping_region=east, assisted_region=west, established_year=2021
        )
        county_pair = Partnership.objects.create(
            helping_region=east_city, assisted_region=west_county, parent=top, established_year=2021
        )
        town_pair = Partnership.objects.create(
            helping_region=east_town,
            assisted_region=next(iter(self.towns.values())),
            parent=county_pair,
            established_on=datetime.date(2022, 3, 1),
            established_year=2022,
        )
        north_pair = Partnership.objects.create(
            helping_region=east_district,
            assisted_region=north_county,
            parent=top,
            established_year=2022,
        )
        places = {"town": east_town, "district": east_district, "city": east_city}
        self.donors = [
            Organisation.objects.create(name=name, kind=kind, region=places[where])
            for name, kind, where in DONORS
        ]
        self.recipient_orgs = [
            Organisation.objects.create(name=name, kind=kind, region=west_county)
            for name, kind in RECIPIENT_ORGS
        ]
        self.people = [Person.objects.create(name=n, position=p) for n, p in PEOPLE]

        plans = [
            (county_pair, west_county, 2021),
            (town_pair, town_pair.assisted_region, 2022),
            (north_pair, north_county, 2022),
        ]
        for year in range(FIRST_YEAR, self.today.year + 1):
            for partnership, area, since in plans:
                if year < since:
                    continue
                for _ in range(self.rng.randint(1, 3)):
                    self.visit(partnership, area, year)
                for _ in range(self.rng.randint(2, 5)):
                    self.donation(partnership, area, self.random_date(year), visit=None)
                # The town's jobs and purchases are in the county pairing's figures: a
                # pairing and the pairings within it may not report the same period.
                self.programme(partnership, area, year, results=partnership != town_pair)
        return self.counts

    def programme(
        self, partnership: Partnership, area: Region, year: int, *, results: bool = True
    ) -> None:
        """People sent, a project, village–enterprise pairs, jobs and purchases (`results`),
        and targets."""
        rng = self.rng
        last_day = min(datetime.date(year, 12, 31), self.today)
        for half_start, half_end in (
            (datetime.date(year, 1, 1), datetime.date(year, 6, 30)),
            (datetime.date(year, 7, 1), datetime.date(year, 12, 31)),
        ):
            if half_start > self.today:
                break
            workers = rng.randint(40, 200)
            result = CooperationResult(
                partnership=partnership,
                period_start=half_start,
                period_end=min(half_end, last_day),
                workers_employed=workers,
                formerly_poor_employed=rng.randint(0, workers),
                purchases=Decimal(rng.randint(50, 900) * 10000),
                enterprises_invested=rng.randint(0, 3),
                investment=Decimal(rng.randint(0, 5000) * 10000),
                industrial_parks=rng.choice([0, 0, 1]),
                source="示例数据",
            )
            # Drawn even when not saved, so that the rest of the sample stays as it was
            # for the same seed (the browser tests page through its lists).
            if results:
                result.save()
        for kind, low, high in (("teacher", 2, 8), ("doctor", 1, 5), ("official", 1, 2)):
            start = datetime.date(year, 3 if kind == "official" else 9, 1)
            if start <= self.today:
                Posting.objects.create(
                    partnership=partnership,
                    kind=kind,
                    headcount=rng.randint(low, high),
                    host_region=area,
                    start_date=start,
                    end_date=datetime.date(year + 1, 7, 31),
                    source="示例数据",
                )
        villages = self.villages_in(area)
        village = rng.choice(villages)
        what = rng.choice(["产业路", "冷库", "卫生室", "文化广场"])
        project = AidProject.objects.create(
            partnership=partnership,
            name=f"{village.name}{year}年{what}",
            region=village,
            category=rng.choice(CATEGORIES),
            status="completed" if year < self.today.year else "building",
            start_year=year,
            source="示例数据",
        )
        committed = Decimal(rng.randint(20, 300) * 10000)
        ProjectFunds.objects.create(
            project=project, year=year, committed=committed, spent=committed * rng.choice([1, 1, 0])
        )
        enterprises = [d for d in self.donors if d.kind == Organisation.Kind.ENTERPRISE]
        for village in rng.sample(villages, k=min(2, len(villages))):
            VillageEnterprisePair.objects.create(
                partnership=partnership,
                organisation=rng.choice(enterprises),
                village=village,
                start_date=self.random_date(year),
                source="示例数据",
            )
        targets = {
            "fiscal_funds": ("amount", Decimal(rng.choice([100, 200, 300]) * 10000)),
            "social_donations": ("amount", Decimal(rng.choice([50, 100]) * 10000)),
            "workers": ("count", rng.choice([150, 250, 350])),
            "professionals": ("count", rng.choice([8, 12])),
            "purchases": ("amount", Decimal(rng.choice([500, 1000]) * 10000)),
            "village_pairs": ("count", rng.choice([2, 4])),
            "projects": ("count", 1),
        }
        for indicator, (field, value) in targets.items():
            AnnualTarget.objects.create(
                partnership=partnership,
                year=year,
                indicator=indicator,
                source="示例年度协议",
                **{field: value},
            )
        self.counts["targets"] += len(targets)

    def random_date(self, year: int, start=None, end=None) -> datetime.date:
        start = start or datetime.date(year, 1, 1)
        end = end or min(datetime.date(year, 12, 31), self.today)
        if end < start:
            end = start
        return start + datetime.timedelta(days=self.rng.randint(0, (end - start).days))

    def villages_in(self, area: Region) -> list[Region]:
        return [
            village
            for town_villages in self.villages.values()
            for village in town_villages
            if village.is_within(area)
        ]

    def visit(self, partnership: Partnership, area: Region, year: int) -> None:
        rng = self.rng
        start = self.random_date(year, end=min(datetime.date(year, 12, 28), self.today))
        end = start + datetime.timedelta(days=rng.randint(0, 3))
        leader, *members = rng.sample(self.people[:3], k=rng.randint(1, 3))
        visit = Visit.objects.create(
            partnership=partnership,
            # The eastern officials below lead it to the western area: east to west.
            direction=Direction.EAST_TO_WEST,
            start_date=start,
            end_date=end,
            leader=leader,
            delegation_size=rng.choice([None, 6, 8, 12, 15]),
            delegation_description="示例党政代表团",
            purpose="示例：开展东西部协作交流",
            summary="示例数据，仅供演示。",
            source="示例数据",
        )
        with history.links_in_one_version(visit):
            visit.members.set(members)
            visit.places.set([area])
        VisitActivity.objects.create(
            visit=visit, kind=VisitActivity.Kind.MEETING, title="示例协作工作座谈会", position=1
        )
        village = rng.choice(self.villages_in(area))
        VisitActivity.objects.create(
            visit=visit,
            kind=VisitActivity.Kind.INSPECTION,
            title=f"考察{village.name}示例项目",
            place=village,
            date=end,
            position=2,
        )
        self.counts["visits"] += 1
        for _ in range(rng.randint(1, 2)):
            meeting = Meeting.objects.create(
                partnership=partnership,
                visit=visit,
                date=rng.choice([None, start, end]),
                title=f"{area.name}协作座谈会",  # area names already start with 示例
                venue=f"{area.name}示例会议室",
                agenda="示例：通报年度协作进展",
            )
            chair, speaker, *others = rng.sample(self.people, k=4)
            MeetingParticipant.objects.create(meeting=meeting, person=chair, role="chair")
            MeetingParticipant.objects.create(meeting=meeting, person=speaker, role="speaker")
            for person in others:
                MeetingParticipant.objects.create(meeting=meeting, person=person, role="attendee")
            self.counts["meetings"] += 1
        for _ in range(rng.randint(0, 2)):
            self.donation(partnership, area, rng.choice([None, start, end]), visit=visit)

    def donation(self, partnership, area, day, visit) -> None:
        rng = self.rng
        # Whole fen, with odd cents, so every total tests exact arithmetic.
        amount = Decimal(rng.randint(500_000, 90_000_000)) / 100
        kind = rng.choice(DonationKind.values)
        shape = rng.choice(["village", "village", "town", "town", "organisation"])
        local_orgs = [org for org in self.recipient_orgs if org.region.is_within(area)]
        if shape == "organisation" and not local_orgs:
            shape = "town"  # the recipient organisations are 示例西县 bodies
        villages = self.villages_in(area)
        donors = rng.sample(self.donors, k=rng.choice([1, 1, 1, 2, 3]))
        recipient_regions, recipient_orgs, lines = [], [], []
        if shape == "village":
            target = rng.choice(villages)
            recipient_regions = [target]
        elif shape == "town":
            towns = [t for t in self.towns.values() if t.is_within(area)]
            target = rng.choice(towns)
            in_town = self.villages[target.pk]
            recipient_regions = [target, *rng.sample(in_town, k=min(3, len(in_town)))]
            # Itemise part of it (sometimes all) to the villages named.
            remaining = amount
            for village in recipient_regions[1:]:
                share = (remaining * Decimal(rng.choice([20, 30, 40])) / 100).quantize(
                    Decimal("0.01")
                )
                if share > 0 and rng.random() < 0.8:
                    lines.append((village, share))
                    remaining -= share
        else:
            target = area
            recipient_orgs = [rng.choice(local_orgs)]
        donation = Donation.objects.create(
            partnership=partnership,
            visit=visit,
            date=day if (day or visit is not None) else self.random_date(self.today.year),
            amount=amount,
            kind=kind,
            materials_description="示例物资" if kind != DonationKind.FUNDS else "",
            category=rng.choice(CATEGORIES),
            funding=funding_of(donor.kind for donor in donors),
            region=target,
            source="示例数据",
        )
        with history.links_in_one_version(donation):
            donation.donors.set(donors)
            donation.recipient_regions.set(recipient_regions)
            donation.recipient_organisations.set(recipient_orgs)
        for village, share in lines:
            DonationLine.objects.create(
                donation=donation,
                amount=share,
                region=village,
                donor=donors[0] if len(donors) == 1 else None,
            )
            self.counts["itemised lines"] += 1
        donation.rebalance()
        self.counts["donations"] += 1
