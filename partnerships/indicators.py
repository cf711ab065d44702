"""A pairing's annual assessment: each indicator's achieved value, from the records, against
the targets of its annual agreement (年度协议).

Nothing is typed in twice: fiscal and social funds are the donations of that funding, people
sent are the postings in post that year, jobs, purchases, investment and parks are the
period figures, village–enterprise pairs and aid projects are counted from their records.
A pairing's value includes its child pairings (as every figure on the dashboard does).

Every function runs a fixed number of queries whatever the number of pairings, years or
records: rows are grouped in the database where a year is stored, and spans (postings and
pairs that run over several years) are spread over years here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from . import punctuation
from .access import ALL, Scope
from .models import (
    COUNT_UNITS,
    FIRST_YEAR,
    MONEY_INDICATORS,
    AidProject,
    AnnualTarget,
    CooperationResult,
    Direction,
    DonationSummary,
    Funding,
    Indicator,
    InPostPeriod,
    Inspection,
    PairingYearTotal,
    Partnership,
    Posting,
    ProjectFunds,
    VillageEnterprisePair,
    Visit,
    path_prefixes,
)

ZERO = Decimal("0.00")
# The years offered for assessment reach back this far at least (assessment_years).
RECENT_YEARS = 10

# Which period figure feeds which indicator.
RESULT_FIGURES = {
    Indicator.WORKERS: "workers_employed",
    Indicator.FORMERLY_POOR: "formerly_poor_employed",
    Indicator.ENTERPRISES: "enterprises_invested",
    Indicator.INVESTMENT: "investment",
    Indicator.PARKS: "industrial_parks",
    Indicator.PURCHASES: "purchases",
}
POSTING_INDICATOR = {
    Posting.Kind.OFFICIAL: Indicator.OFFICIALS,
    Posting.Kind.TEACHER: Indicator.PROFESSIONALS,
    Posting.Kind.DOCTOR: Indicator.PROFESSIONALS,
    Posting.Kind.TECHNICIAN: Indicator.PROFESSIONALS,
}


def is_money(indicator: str) -> bool:
    return indicator in MONEY_INDICATORS


@dataclass
class Achieved:
    """What the records of one indicator add up to in one year."""

    value: Decimal | int = 0
    records: int = 0  # records that speak to this indicator this year
    unknown: int = 0  # of which give no number (e.g. "teachers sent", how many not reported)
    # What a distinct count counts (villages paired), each counted once: a village paired
    # by a county pairing and by a town pairing within it is one village of the county's.
    members: set = field(default_factory=set)

    def add(self, value, records: int = 1, unknown: int = 0) -> None:
        self.value += value or 0
        self.records += records
        self.unknown += unknown

    def add_members(self, members: set) -> None:
        new = members - self.members
        self.members |= new
        self.add(len(new), records=len(new))

    def merge(self, other: Achieved) -> None:
        """Another pairing's value of the same year and indicator, added to this one."""
        self.add_members(other.members)
        counted = len(other.members)
        self.add(other.value - counted, other.records - counted, other.unknown)

    @property
    def missing(self) -> bool:
        return self.records == 0

    @property
    def all_unknown(self) -> bool:
        """Records say it happened, none says how many: the value is not known, not 0."""
        return self.records > 0 and self.unknown == self.records


# Alongside the indicators: donations that do not say whether they are fiscal or social, which
# count in neither (the reference's 105万) but are worth saying beside them.
NOT_CLASSED = "funding_not_stated"


def _empty() -> dict[str, Achieved]:
    values = {
        indicator: Achieved(value=ZERO if is_money(indicator) else 0)
        for indicator in Indicator.values
    }
    values[NOT_CLASSED] = Achieved(value=ZERO)
    return values


Values = dict[int, dict[int, dict[str, Achieved]]]  # pairing id → year → indicator → Achieved


def achieved(
    *, years: Iterable[int], within: Partnership | None = None, scope: Scope = ALL
) -> Values:
    """Each pairing's own records (children not yet included), per year and indicator."""
    years = sorted(set(years))
    if not years:
        return {}
    low, high = years[0], years[-1]
    wanted = set(years)
    pairing_q = scope.q("partnership__")
    if within is not None:
        pairing_q &= Q(partnership__path__startswith=within.path)
    out: Values = defaultdict(lambda: defaultdict(_empty))

    # The donation summary holds exactly these sums (kept in every write's transaction).
    for pk, year, funding, total, n in (
        DonationSummary.objects.filter(pairing_q, year__gte=low, year__lte=high)
        .order_by()
        .values_list("partnership_id", "year", "funding")
        .annotate(total=Sum("amount"), n=Sum("count"))
    ):
        if year in wanted:
            indicator = {
                Funding.FISCAL: Indicator.FISCAL_FUNDS,
                Funding.SOCIAL: Indicator.SOCIAL_DONATIONS,
            }.get(funding, NOT_CLASSED)
            out[pk][year][indicator].add(total, records=n)

    sums = {f"{name}_sum": Sum(name) for name in RESULT_FIGURES.values()}
    reported = {f"{name}_n": Count(name) for name in RESULT_FIGURES.values()}
    for row in (
        CooperationResult.objects.filter(pairing_q, year__gte=low, year__lte=high)
        .order_by()
        .values("partnership_id", "year")
        .annotate(**sums, **reported)
    ):
        if row["year"] not in wanted:
            continue
        for indicator, name in RESULT_FIGURES.items():
            if row[f"{name}_n"]:
                out[row["partnership_id"]][row["year"]][indicator].add(
                    row[f"{name}_sum"], records=row[f"{name}_n"]
                )

    def spans(model):
        return (
            model.objects.filter(pairing_q, year__lte=high)
            .filter(Q(last_year__gte=low) | Q(last_year__isnull=True))
            .order_by()
        )

    # The agreement's "people sent" are those the east sends west.
    sent = spans(Posting).filter(direction=Direction.EAST_TO_WEST)
    for pk, kind, headcount, first, last in sent.values_list(
        "partnership_id", "kind", "headcount", "year", "last_year"
    ):
        for year in years:
            if InPostPeriod.counts_in(year, first, last):
                out[pk][year][POSTING_INDICATOR[kind]].add(
                    headcount, unknown=int(headcount is None)
                )

    # Villages paired, each counted once a year however many enterprises it has.
    villages: dict[tuple[int, int], set[int]] = defaultdict(set)
    for pk, village, organisation, first, last in spans(VillageEnterprisePair).values_list(
        "partnership_id", "village_id", "organisation_id", "year", "last_year"
    ):
        named = village is not None and organisation is not None
        for year in years:
            if InPostPeriod.counts_in(year, first, last):
                if named:
                    villages[pk, year].add(village)
                else:
                    out[pk][year][Indicator.VILLAGE_PAIRS].add(0, unknown=1)
    for (pk, year), named_villages in villages.items():
        out[pk][year][Indicator.VILLAGE_PAIRS].add_members(named_villages)

    for pk, _project, year in _projects_under_way(
        years=years, pairing_q=pairing_q, scope=scope, within=within
    ):
        out[pk][year][Indicator.PROJECTS].add(1)
    return out


def _projects_under_way(
    *, years: list[int], pairing_q: Q, scope: Scope, within: Partnership | None
) -> set[tuple[int, int, int]]:
    """(pairing id, project id, year) for each project under way in one of `years`.

    Under way in a year: started that year; money committed or spent that year (a row of 0 or
    of nothing reported is not money); inspected by
    a visit that year; or started earlier and under construction (up to this year), or
    completed no earlier than that year (AidProject.counting_years).
    """
    low, high = years[0], years[-1]
    wanted = set(years)
    through = scope.q("project__partnership__")
    if within is not None:
        through &= Q(project__partnership__path__startswith=within.path)
    seen: set[tuple[int, int, int]] = set()
    seen.update(
        ProjectFunds.objects.filter(
            Q(committed__gt=0) | Q(spent__gt=0), through, year__gte=low, year__lte=high
        ).values_list("project__partnership_id", "project_id", "year")
    )
    seen.update(
        Inspection.objects.filter(
            through, visit__start_date__year__gte=low, visit__start_date__year__lte=high
        ).values_list("project__partnership_id", "project_id", "visit__start_date__year")
    )
    for pk, project, start, status, completed in AidProject.objects.filter(
        pairing_q, start_year__lte=high
    ).values_list("partnership_id", "pk", "start_year", "status", "completed_on"):
        for year in AidProject.counting_years(start, status, completed) & wanted:
            seen.add((pk, project, year))
    return {item for item in seen if item[2] in wanted}


def projects_under_way(*, partnership: Partnership, year: int) -> set[int]:
    """The projects of a pairing (children included) under way in `year`."""
    pairing_q = Q(partnership__path__startswith=partnership.path)
    return {
        project
        for _pk, project, _year in _projects_under_way(
            years=[year], pairing_q=pairing_q, scope=ALL, within=partnership
        )
    }


def rolled_up(values: Values, paths: dict[int, str]) -> dict[str, dict[int, dict[str, Achieved]]]:
    """Values per pairing path with every child pairing's records included."""
    result: dict[str, dict[int, dict[str, Achieved]]] = defaultdict(lambda: defaultdict(_empty))
    for pk, per_year in values.items():
        for path in path_prefixes(paths[pk]):
            for year, per_indicator in per_year.items():
                for indicator, own in per_indicator.items():
                    result[path][year][indicator].merge(own)
    return result


@dataclass
class Progress:
    indicator: str
    label: str
    money: bool
    target: Decimal | int | None
    achieved: Achieved
    share: Decimal | None = None  # achieved ÷ target, may exceed 1

    @property
    def count_unit(self) -> str:
        """What a counted indicator counts (人, 家, 个); empty for money."""
        return "" if self.money else str(COUNT_UNITS[self.indicator])

    @property
    def met(self) -> bool | None:
        """None without a target, or when no record gives a number (not known)."""
        if self.target is None or self.achieved.all_unknown:
            return None
        return self.achieved.value >= self.target

    @property
    def percent(self) -> int | None:
        """For the progress bar: 0–100."""
        if self.share is None:
            return None
        return int(min(self.share, Decimal(1)) * 100)


@dataclass
class YearAssessment:
    year: int
    rows: list[Progress] = field(default_factory=list)
    # Donations of the year that do not say fiscal or social: in neither indicator.
    not_classed: Achieved = field(default_factory=lambda: Achieved(value=ZERO))

    @property
    def with_targets(self) -> list[Progress]:
        return [row for row in self.rows if row.target is not None]

    @property
    def met(self) -> int:
        return sum(1 for row in self.with_targets if row.met)

    @property
    def missing(self) -> list[Progress]:
        return [row for row in self.rows if row.achieved.missing]

    @property
    def share_met(self) -> Decimal | None:
        targets = self.with_targets
        if not targets:
            return None
        return Decimal(self.met) / Decimal(len(targets))

    @property
    def mean_completion(self) -> Decimal | None:
        targets = self.with_targets
        if not targets:
            return None
        # An indicator no record gives a number for counts as nothing achieved.
        shares = (min(row.share or Decimal(0), Decimal(1)) for row in targets)
        return sum(shares, Decimal(0)) / len(targets)


def _assess(
    year: int, values: dict[str, Achieved], targets: dict[str, AnnualTarget]
) -> YearAssessment:
    assessment = YearAssessment(year, not_classed=values[NOT_CLASSED])
    for indicator in Indicator:
        target = targets.get(indicator.value)
        target_value = target.value if target else None
        got = values[indicator.value]
        share = None
        if target_value and not got.all_unknown:
            share = Decimal(got.value) / Decimal(target_value)
        assessment.rows.append(
            Progress(
                indicator=indicator.value,
                label=str(indicator.label),
                money=is_money(indicator.value),
                target=target_value,
                achieved=got,
                share=share,
            )
        )
    return assessment


def pairing_years(*, partnership: Partnership, years: Iterable[int]) -> dict[int, YearAssessment]:
    """One pairing (its children included), year by year: targets, values, missing data."""
    years = sorted(set(years))
    own = achieved(years=years, within=partnership)
    totals: dict[int, dict[str, Achieved]] = defaultdict(_empty)
    for per_year in own.values():
        for year, per_indicator in per_year.items():
            for indicator, value in per_indicator.items():
                totals[year][indicator].merge(value)
    targets: dict[int, dict[str, AnnualTarget]] = defaultdict(dict)
    for target in AnnualTarget.objects.filter(partnership=partnership, year__in=years):
        targets[target.year][target.indicator] = target
    return {year: _assess(year, totals[year], targets[year]) for year in years}


@dataclass
class Ranked:
    partnership: Partnership
    assessment: YearAssessment


def ranking(*, year: int, scope: Scope = ALL) -> list[Ranked]:
    """Pairings with targets for `year`, best first: share of targets met, then mean progress."""
    targets: dict[int, dict[str, AnnualTarget]] = defaultdict(dict)
    for target in AnnualTarget.objects.filter(scope.q("partnership__"), year=year):
        targets[target.partnership_id][target.indicator] = target
    if not targets:
        return []
    paths = dict(Partnership.objects.values_list("id", "path"))
    values = rolled_up(achieved(years=[year], scope=scope), paths)
    pairings = Partnership.objects.filter(pk__in=targets).select_related(
        "helping_region", "assisted_region"
    )
    ranked = [
        Ranked(pairing, _assess(year, values[pairing.path][year], targets[pairing.pk]))
        for pairing in pairings
    ]
    ranked.sort(
        key=lambda r: (
            -(r.assessment.share_met or 0),
            -(r.assessment.mean_completion or 0),
            r.partnership.path,
        )
    )
    return ranked


def target_years(*, partnership: Partnership | None = None, scope: Scope = ALL) -> list[int]:
    """Years that have targets (for the year choices), newest first."""
    qs = AnnualTarget.objects.filter(scope.q("partnership__"))
    if partnership is not None:
        qs = qs.filter(partnership=partnership)
    return sorted(set(qs.values_list("year", flat=True)), reverse=True)


def first_recorded_year(
    *, partnership: Partnership | None = None, scope: Scope = ALL
) -> int | None:
    """The first year of a record the assessment counts (a donation, visit, person sent,
    period figure or aid project), of the pairing (child pairings included) or of every
    pairing in scope; None when there is none. One small query each."""

    def first(queryset, column: str, prefix: str = "partnership__"):
        where = scope.q(prefix)
        if partnership is not None:
            where &= Q(**{f"{prefix}path__startswith": partnership.path})
        return queryset.filter(where).aggregate(first=Min(column))["first"]

    visits = first(Visit.objects, "start_date")
    years = [
        first(PairingYearTotal.objects, "year"),
        visits and visits.year,
        first(Posting.objects, "year"),
        first(CooperationResult.objects, "year"),
        first(AidProject.objects, "start_year"),
        first(ProjectFunds.objects, "year", "project__partnership__"),
    ]
    return min((year for year in years if year), default=None)


def assessment_years(*, partnership: Partnership | None = None, scope: Scope = ALL) -> list[int]:
    """The years one may assess, print or download, newest first: every year up to this one
    from the first with a record (the last ten at least), and target years."""
    this_year = timezone.localdate().year
    first = min(
        this_year - RECENT_YEARS + 1,
        first_recorded_year(partnership=partnership, scope=scope) or this_year,
    )
    years = set(range(max(first, FIRST_YEAR), this_year + 1))
    years.update(target_years(partnership=partnership, scope=scope))
    return sorted(years, reverse=True)


def year_refusal(years: list[int]) -> str:
    """Why a year not in `years` (assessment_years) is refused, naming the years offered:
    "between 2015 and 2026", or each run of them where a target year stands apart."""
    runs: list[list[int]] = []
    for year in sorted(years):
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    if len(runs) == 1:
        return _("Choose a year between %(low)d and %(high)d.") % {
            "low": runs[0][0],
            "high": runs[0][-1],
        }
    dash = punctuation.punct("—")
    named = (str(run[0]) if len(run) == 1 else f"{run[0]}{dash}{run[-1]}" for run in runs)
    return _("Choose one of these years: %(years)s.") % {"years": punctuation.joined(named)}
