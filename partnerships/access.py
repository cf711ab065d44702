"""Who may see and change what: roles, pairing scopes and locked years.

A user sees every pairing when they are a superuser, hold `view_all_pairings`, or read a public
dashboard anonymously; otherwise they see the pairings assigned to them and those pairings'
children. Every dashboard query and every admin queryset goes through `scope_for`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models import Q

security_log = logging.getLogger("partnerships.security")

ADMINISTRATOR = "管理员 Administrator"
DATA_ENTRY = "录入人员 Data-entry staff"
OFFICIAL_ALL = "领导查看（全部结对） Official, all pairings"
OFFICIAL_ASSIGNED = "领导查看（所辖结对） Official, assigned pairings"

ENTERED_BY_STAFF = [
    "visit",
    "visitactivity",
    "meeting",
    "meetingparticipant",
    "donation",
    "donationline",
    "organisation",
    "person",
    "posting",
    "aidproject",
    "projectfunds",
    "inspection",
    "villageenterprisepair",
    "cooperationresult",
    "annualtarget",
]
# Rows entered on another record's page (a donation's lines, a visit's activities, a
# meeting's participants, a project's funds and inspections): staff who entered a wrong one
# remove it there. Whole records (visits, donations, …) are deleted by an administrator.
REMOVED_BY_STAFF = [
    "visitactivity",
    "meetingparticipant",
    "donationline",
    "projectfunds",
    "inspection",
]
# What administrators may do with django-axes' sign-in records: read them, and unlock an
# account (the lockout page tells a locked-out person to ask an administrator) by deleting its
# failed attempts. Not delete the logs of sign-ins and failures: they are the evidence.
SIGN_IN_RECORDS = [
    "view_accessattempt",
    "delete_accessattempt",
    "view_accesslog",
    "view_accessfailurelog",
]
ROLE_PERMISSIONS = {
    # every permission of this app and of user accounts, and SIGN_IN_RECORDS
    ADMINISTRATOR: None,
    DATA_ENTRY: [
        *(
            f"{action}_{model}"
            for model in ENTERED_BY_STAFF
            for action in ("add", "change", "view")
        ),
        *(f"delete_{model}" for model in REMOVED_BY_STAFF),
        "view_region",
        "view_partnership",
    ],
    OFFICIAL_ALL: ["view_all_pairings"],
    OFFICIAL_ASSIGNED: [],
}


def setup_roles(**kwargs) -> None:
    """Create or refresh the four groups and their permissions (run after every migrate)."""
    app_permissions = Permission.objects.filter(content_type__app_label="partnerships")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        if codenames is None:
            permissions = [
                *app_permissions,
                *Permission.objects.filter(content_type__app_label="auth"),
                *Permission.objects.filter(
                    content_type__app_label="axes", codename__in=SIGN_IN_RECORDS
                ),
            ]
        else:
            permissions = list(app_permissions.filter(codename__in=codenames))
        group.permissions.set(permissions)


@dataclass(frozen=True)
class Scope:
    """The pairings a user may see, as materialised-path prefixes; None means all of them."""

    paths: tuple[str, ...] | None

    @property
    def everything(self) -> bool:
        return self.paths is None

    def q(self, prefix: str = "") -> Q:
        """A condition on a Partnership reached through `prefix` (e.g. "partnership__")."""
        if self.paths is None:
            return Q()
        if not self.paths:
            return Q(pk__in=[])
        return reduce(or_, (Q(**{f"{prefix}path__startswith": path}) for path in self.paths))

    def q_with_ancestors(self, prefix: str = "") -> Q:
        """Pairings in scope and those above them (a donation may belong to a visit of the
        parent pairing, and must keep that link when scoped staff edit it)."""
        if self.paths is None:
            return Q()
        from .models import path_prefixes

        above = {prefix for path in self.paths for prefix in path_prefixes(path)[:-1]}
        return self.q(prefix) | Q(**{f"{prefix}path__in": sorted(above)})

    @property
    def roots(self) -> list[str]:
        """The assigned paths that lie below no other assigned one: the tops of the scope."""
        paths = self.paths or ()
        return [p for p in paths if not any(p != q and p.startswith(q) for q in paths)]

    def allows(self, partnership) -> bool:
        return self.paths is None or any(partnership.path.startswith(p) for p in self.paths)


ALL = Scope(None)


def scope_for(user) -> Scope:
    cached = getattr(user, "_pairing_scope", None)
    if cached is not None:
        return cached
    if not user.is_authenticated:
        scope = ALL if settings.DASHBOARD_PUBLIC else Scope(())
    elif user.is_superuser or user.has_perm("partnerships.view_all_pairings"):
        scope = ALL
    else:
        from .models import Partnership

        paths = Partnership.objects.filter(assignments__user=user).values_list("path", flat=True)
        scope = Scope(tuple(sorted(set(paths))))
    if user.is_authenticated:
        user._pairing_scope = scope
    return scope


def can_edit_locked_years(user) -> bool:
    return user.is_superuser or user.has_perm("partnerships.edit_locked_years")


def years_of(record) -> set[int]:
    """The years a saved record belongs to for locking: visits by start, spans (people sent,
    village–enterprise pairs) by every year they run, projects by their start year (a change
    is refused by the years it would change: AidProject.locking_years_of_change), the rest by
    `year`."""
    from .models import AidProject, InPostPeriod, Visit

    if record is None or record.pk is None:
        return set()
    if isinstance(record, Visit):
        return {record.start_date.year}
    if isinstance(record, InPostPeriod):
        return set(record.span_years())
    if isinstance(record, AidProject):
        # Its funds are locked row by row (forms.ProjectFundsFormSet).
        return {record.start_year} if record.start_year else set()
    year = getattr(record, "year", None)
    return {year} if year is not None else set()


def is_locked_for(user, record) -> bool:
    """Whether `user` may not change `record` because a year of it is locked."""
    years = years_of(record)
    return bool(years) and not can_edit_locked_years(user) and bool(years & locked_years())


# What one request has read of the locked years: an admin page asks for each of its rows
# and links (26 times on a meeting's page of four participants, a query each). Set for a
# request by RequestCacheMiddleware; forgotten when a locked year is saved or deleted.
_request_cache: ContextVar[dict | None] = ContextVar("request_cache", default=None)


@contextmanager
def request_cache() -> Iterator[None]:
    token = _request_cache.set({})
    try:
        yield
    finally:
        _request_cache.reset(token)


def locked_years() -> set[int]:
    from .models import LockedYear

    cache = _request_cache.get()
    if cache is not None and "locked_years" in cache:
        return set(cache["locked_years"])
    years = set(LockedYear.objects.values_list("year", flat=True))
    if cache is not None:
        cache["locked_years"] = frozenset(years)
    return years


# pg_advisory_xact_lock's key for the locked years ("locked" as a number).
LOCKED_YEARS_LOCK = 0x6C6F636B6564


# How long a year being locked waits for the writes under way. Writes that start meanwhile
# queue behind it (PostgreSQL grants no shared lock past a waiting exclusive one), so a long
# import would have held every admin page that saves: past this, the lock gives up with the
# "someone else was saving, try again" page (lock_not_available, middleware.CONTENTION).
LOCKING_WAITS = "3s"


def hold_locked_years(*, exclusive: bool = False) -> None:
    """Within a transaction, before its checks read the locked years: a write holds them
    shared until it commits, a year being locked or unlocked holds them alone (the locked
    years' admin page, LockedYear.save). A year locked while a clerk's save or import was
    under way no longer lets it through once its checks have passed: the lock waits for the
    writes under way, and a write that starts meanwhile waits for the lock, then reads the
    years again. A transaction asks once, for the lock it needs: one holding it shared that
    then asked for it alone deadlocked with another doing the same (two administrators
    locking two years). SQLite's write transactions take its one write lock as they begin
    (transaction_mode IMMEDIATE), which already does all this."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        if exclusive:
            cursor.execute("SELECT current_setting('lock_timeout')")
            (before,) = cursor.fetchone()
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCKING_WAITS])
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCKED_YEARS_LOCK])
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [before])
        else:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCKED_YEARS_LOCK])
    forget_locked_years()  # read before the lock: read again


def forget_locked_years(**kwargs) -> None:
    """A locked year saved or deleted: the request reads them afresh."""
    cache = _request_cache.get()
    if cache is not None:
        cache.pop("locked_years", None)


def refused(request, what: str) -> None:
    """Log an attempt to reach something outside the user's scope or permissions."""
    security_log.warning(
        "refused user=%s path=%s what=%s",
        getattr(request.user, "username", "") or "anonymous",
        request.path,
        what,
    )


def organisation_q(scope: Scope, *, above: bool = False) -> Q:
    """Organisations of the pairings in scope.

    Those placed on either side of a pairing in scope, those named on a donation in scope
    (a donor may sit elsewhere, like a 广东… company) or whose people its visits, meetings
    and postings name, and unplaced ones no record names, directly or through their people.
    With `above`, also those named on the records of the pairings above (what a record of a
    town pairing may name, like the county pairing's visit: to pick, not to change).
    """
    if scope.everything:
        return Q()
    return (
        _placed_or_named_organisation_q(scope, above=above)
        | _organisations_of_people_named_q(scope, above=above)
        | _unused_organisation_q()
    )


def _people_named(pairings: Q | None = None) -> list:
    """The people the visits (leaders and members), meetings (participants) and postings of
    the pairings `pairings` selects name, of all pairings when None (querysets, one per
    kind of record)."""
    from .models import Meeting, MeetingParticipant, Posting, Visit

    within = Q() if pairings is None else pairings
    visits = Visit.objects.filter(within)
    meetings = Meeting.objects.filter(within)
    postings = Posting.objects.filter(within)
    return [
        visits.exclude(leader=None).values("leader_id"),
        Visit.members.through.objects.filter(visit__in=visits).values("person_id"),
        MeetingParticipant.objects.filter(meeting__in=meetings).values("person_id"),
        postings.exclude(person=None).values("person_id"),
    ]


def _organisations_of(people) -> list:
    """The organisations of the people in each of `people` (as from _people_named)."""
    from .models import Person

    return [
        Person.objects.filter(pk__in=named, organisation__isnull=False).values("organisation_id")
        for named in people
    ]


def _organisations_of_people_named_q(scope: Scope, *, above: bool) -> Q:
    """Organisations with no place that no record names, whose people the visits, meetings
    and postings in scope name. Not a placed one: it is the scope's whose side it is on,
    whoever of its people travels (a county's Red Cross, whose staff join a town pairing's
    visit, stays the county pairing's)."""
    pairings = scope.q_with_ancestors if above else scope.q
    people = _people_named(pairings("partnership__"))
    return _unnamed_unplaced_organisation_q() & reduce(
        or_, (Q(pk__in=organisations) for organisations in _organisations_of(people))
    )


def _placed_or_named_organisation_q(scope: Scope, *, above: bool) -> Q:
    return named_organisation_q(scope, above=above) | placed_on_sides_q(scope, "region__")


def placed_on_sides_q(scope: Scope, prefix: str = "") -> Q:
    """Regions (or, with prefix "region__", what is placed in them) on either side of a
    pairing in scope, or within one."""
    from .models import Partnership

    if scope.everything:
        return ~Q(pk__in=[])  # every row, also where OR-ed (X | Q() would be X alone)
    q = Q(pk__in=[])
    sides = Partnership.objects.filter(scope.q("")).values_list(
        "helping_region__path", "assisted_region__path"
    )
    for helping, assisted in sides:
        q |= Q(**{f"{prefix}path__startswith": helping}) | Q(
            **{f"{prefix}path__startswith": assisted}
        )
    return q


def named_organisation_q(scope: Scope, *, above: bool = False) -> Q:
    """Organisations the donations, postings and village–enterprise pairs in scope name."""
    from .models import Donation, Posting, VillageEnterprisePair

    pairings = scope.q_with_ancestors if above else scope.q
    in_scope = Donation.objects.filter(pairings("partnership__"))
    donors = Donation.donors.through.objects.filter(donation__in=in_scope)
    recipients = Donation.recipient_organisations.through.objects.filter(donation__in=in_scope)
    postings = Posting.objects.filter(pairings("partnership__"))
    pairs = VillageEnterprisePair.objects.filter(pairings("partnership__"))
    return (
        Q(pk__in=donors.values("organisation_id"))
        | Q(pk__in=recipients.values("organisation_id"))
        | Q(pk__in=postings.values("sending_organisation_id"))
        | Q(pk__in=postings.values("host_organisation_id"))
        | Q(pk__in=pairs.values("organisation_id"))
    )


def _unused_organisation_q() -> Q:
    """Organisations with no place that no record names, nor any of its people: just
    entered, anyone's to use. One whose person is on a pairing's visit, meeting or posting is
    that pairing's (its name, beside theirs, was listed for every scope)."""
    return _unnamed_unplaced_organisation_q() & reduce(
        and_, (~Q(pk__in=organisations) for organisations in _organisations_of(_people_named()))
    )


def _unnamed_unplaced_organisation_q() -> Q:
    """Organisations with no place that no record names itself."""
    from .models import Donation, DonationLine, Posting, VillageEnterprisePair

    return (
        Q(region__isnull=True)
        & ~Q(pk__in=Donation.donors.through.objects.values("organisation_id"))
        & ~Q(pk__in=Donation.recipient_organisations.through.objects.values("organisation_id"))
        & ~Q(pk__in=DonationLine.objects.exclude(donor=None).values("donor_id"))
        & ~Q(
            pk__in=Posting.objects.exclude(sending_organisation=None).values(
                "sending_organisation_id"
            )
        )
        & ~Q(pk__in=Posting.objects.exclude(host_organisation=None).values("host_organisation_id"))
        & ~Q(
            pk__in=VillageEnterprisePair.objects.exclude(organisation=None).values(
                "organisation_id"
            )
        )
    )


def person_q(scope: Scope, *, above: bool = False) -> Q:
    """People of the pairings in scope: on a visit, meeting or posting in scope, of an
    organisation placed on a side of a pairing in scope or named on its records, or named on
    no record yet (just entered, alone or in an organisation no record names). With `above`,
    also those named on the visits, meetings and postings of the pairings above.

    Not, with `above`, the people of an organisation a record above names: a county
    pairing's handover to 怒溪镇's government names the body, not its staff, who belong to
    the town pairing beside the user's. Nor those of an unplaced organisation no record
    names who are on another pairing's visit: theirs. Nor, of an organisation whose people
    are on records in scope and elsewhere, those on the other records."""
    if scope.everything:
        return Q()
    from .models import Organisation

    pairings = scope.q_with_ancestors if above else scope.q
    named_here = reduce(
        or_, (Q(pk__in=people) for people in _people_named(pairings("partnership__")))
    )
    named_nowhere = reduce(and_, (~Q(pk__in=people) for people in _people_named()))
    placed_or_named = Organisation.objects.filter(
        _placed_or_named_organisation_q(scope, above=False)
    )
    # An unplaced organisation whose people the records in scope (with `above`, or above
    # it) name is the scope's: its people not yet on any record are too (to be picked for the
    # next visit, as the organisation is), not those on another pairing's records.
    met_here = Organisation.objects.filter(_organisations_of_people_named_q(scope, above=above))
    unused = Organisation.objects.filter(_unused_organisation_q())
    return (
        named_here
        | Q(organisation__in=placed_or_named)
        | (
            named_nowhere
            & (
                Q(organisation__isnull=True)
                | Q(organisation__in=unused)
                | Q(organisation__in=met_here)
            )
        )
    )


def sign_in_name(request, credentials) -> str | None:
    """The user name a sign-in tried, as the lockouts and the security log keep it (axes'
    default), cut to what their columns hold: PostgreSQL refused a longer one (a 500 for a
    paragraph pasted into the user name box; SQLite stores any length). No account has so
    long a name, so the sign-in fails as any wrong name does."""
    from axes.models import AccessAttempt

    if credentials:
        name = credentials.get("username")
    else:
        name = getattr(request, "data", request.POST).get("username")
    limit = AccessAttempt._meta.get_field("username").max_length
    return name[:limit] if isinstance(name, str) else name


def client_ip(request) -> str:
    """The address a sign-in comes from, for lockouts and the security log.

    Behind one reverse proxy (BEHIND_PROXY) that is the last address the proxy appended to
    X-Forwarded-For; anything before it was written by the client and cannot be trusted.
    """
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR", "")
