"""The admin site, with its index in the order staff work rather than by name.

Django sorts an app's models by their names' code points, which in Chinese is no order at all
(地区, 捐赠, 结对关系, 考察交流, …). This is Django's supported hook for the order
(AdminSite.get_app_list), installed as the default site through apps.AdminConfig, so every
`admin.site` registration lands here. Its pages that may write hold the locked years
(`admin_view`).
"""

import functools

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.db import connection, transaction

from . import access

APP_LABEL = "partnerships"

# The app's models on the admin index, by model name. First what a clerk enters for a report,
# in the order each needs the one before: the places, the pairing, the visit, what happened
# during it (meetings, then handovers). Then the organisations and people those records name
# (donors, recipients, participants), looked up or added while entering them. Then the rest
# of a pairing's record in the order the annual assessment lists its indicators
# (models.Indicator): people sent, jobs and purchases (labour, investment, parks, farm
# products), village–enterprise pairs, aid projects; then the annual targets they are
# measured against, set once a year. Last, what only administrators use: who is assigned to
# which pairing, and which years are locked.
MODEL_ORDER = [
    "region",
    "partnership",
    "visit",
    "meeting",
    "donation",
    "organisation",
    "person",
    "posting",
    "cooperationresult",
    "villageenterprisepair",
    "aidproject",
    "annualtarget",
    "assignment",
    "lockedyear",
]


class LabelledAutocompleteJsonView(AutocompleteJsonView):
    """The pickers' search results, each as the picker shows it once chosen: an organisation
    with where it is when another has the same name, a visit with its direction and days
    when another of its pairing starts the same day (their `unambiguous_name`)."""

    def get_queryset(self):
        queryset = super().get_queryset()
        if hasattr(queryset.model, "with_namesakes"):
            queryset = queryset.model.with_namesakes(queryset)
        return queryset

    def serialize_result(self, obj, to_field_name):
        result = {
            "id": str(getattr(obj, to_field_name)),
            "text": getattr(obj, "unambiguous_name", None) or str(obj),
        }
        # A choice from above the user's pairings (admin.in_scope), which they may not open.
        if getattr(obj, "in_scope", True) is False:
            result["outside_scope"] = True
        return result


class PartnershipsAdminSite(admin.AdminSite):
    def admin_view(self, view, cacheable=False):
        """Every page that may write (a POST: a save, a delete, an action, an import) runs in
        one transaction that holds the locked years from its start (access.hold_locked_years),
        so a year locked meanwhile is seen by its checks or waits for it; the locked years'
        own pages hold them alone (`holds_locked_years_alone`). Not for a POST from someone
        who is not signed in to the admin: Django sends them to the sign-in page."""
        wrapped = super().admin_view(view, cacheable)
        alone = getattr(getattr(view, "__self__", None), "holds_locked_years_alone", False)

        @functools.wraps(wrapped)
        def holding_locked_years(request, *args, **kwargs):
            if (
                request.method != "POST"
                or connection.vendor != "postgresql"
                or not self.has_permission(request)
            ):
                return wrapped(request, *args, **kwargs)
            with transaction.atomic():
                access.hold_locked_years(exclusive=alone)
                return wrapped(request, *args, **kwargs)

        return holding_locked_years

    def autocomplete_view(self, request):
        return LabelledAutocompleteJsonView.as_view(admin_site=self)(request)

    def get_app_list(self, request, app_label=None):
        """Django's list, this app first (the one staff work in; accounts and sign-in records
        follow in Django's order) and its models in MODEL_ORDER; a model missing there comes
        after those in it, by name."""
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            if app["app_label"] == APP_LABEL:
                app["models"].sort(key=_position)
        app_list.sort(key=lambda app: app["app_label"] != APP_LABEL)  # stable: the rest keep theirs
        return app_list


def _position(entry: dict) -> int:
    name = entry["model"]._meta.model_name
    return MODEL_ORDER.index(name) if name in MODEL_ORDER else len(MODEL_ORDER)
