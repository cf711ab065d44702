"""Template context every page of the site gets."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from . import access


def pairing_scope(request) -> dict:
    """`scope_limited`: whether the figures shown count only the pairings assigned to the user.

    Worked out only where a template asks (base.html, on every dashboard page, where the view
    has already worked out the scope for the user: no query of its own)."""

    def limited() -> bool:
        user = getattr(request, "user", None)
        return bool(user and user.is_authenticated and not access.scope_for(user).everything)

    return {"scope_limited": SimpleLazyObject(limited)}
