"""Who may see and change what: roles, pairing scopes and locked years.

A user sees every pairing when they are a superuser, hold `view_all_pairings`, or read a public
dashboard anonymously; otherwise they see the pairings assigned to them and those pairings'
children. Every dashboard query and every admin queryset goes through `scope_for`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib.auth.models import Group, Permission
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
]
ROLE_PERMISSIONS = {
    ADMINISTRATOR: None,  # every permission of this app and of user accounts
    DATA_ENTRY: [
        *(
            f"{action}_{model}"
            for model in ENTERED_BY_STAFF
            for action in ("add", "change", "view")
        ),
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
            permissions = list(app_permissions) + list(
                Permission.objects.filter(content_type__app_label="auth")
            )
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


def locked_years() -> set[int]:
    from .models import LockedYear

    return set(LockedYear.objects.values_list("year", flat=True))


def refused(request, what: str) -> None:
    """Log an attempt to reach something outside the user's scope or permissions."""
    security_log.warning(
        "refused user=%s path=%s what=%s",
        getattr(request.user, "username", "") or "anonymous",
        request.path,
        what,
    )


def organisation_q(scope: Scope) -> Q:
    """Organisations of the pairings in scope: placed on either side of one, or not placed."""
    if scope.everything:
        return Q()
    from .models import Partnership

    sides = Partnership.objects.filter(scope.q("")).values_list(
        "helping_region__path", "assisted_region__path"
    )
    q = Q(region__isnull=True)
    for helping, assisted in sides:
        q |= Q(region__path__startswith=helping) | Q(region__path__startswith=assisted)
    return q
