"""Data entry for staff.

Each admin declares what it shows; changelists stay at a fixed query count.
"""

from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from . import forms
from .models import (
    REGION_ANCESTORS,
    Donation,
    DonationLine,
    Meeting,
    MeetingParticipant,
    Organisation,
    Partnership,
    Person,
    Region,
    Visit,
    VisitActivity,
)

admin.site.site_header = settings.ADMIN_SITE_HEADER
admin.site.site_title = settings.ADMIN_SITE_HEADER
admin.site.site_url = "/"

PARTNERSHIP_NAMES = ("partnership__helping_region", "partnership__assisted_region")


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "level", "parent_path", "code"]
    list_filter = ["level"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["parent"]
    list_select_related = [REGION_ANCESTORS]
    ordering = ["path"]

    @admin.display(description=_("within"))
    def parent_path(self, region):
        return region.parent.full_name if region.parent else "—"

    def get_search_results(self, request, queryset, search_term):
        # Autocomplete lists full paths (贵州省 铜仁市 江口县 …): fetch the ancestors in one go.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.select_related(REGION_ANCESTORS), may_have_duplicates


class ChildPartnershipInline(admin.TabularInline):
    model = Partnership
    fk_name = "parent"
    fields = ["name", "helping_region", "assisted_region", "established_year", "ended_on"]
    autocomplete_fields = ["helping_region", "assisted_region"]
    extra = 0
    show_change_link = True
    verbose_name = _("child pairing")
    verbose_name_plural = _("child pairings")


@admin.register(Partnership)
class PartnershipAdmin(admin.ModelAdmin):
    list_display = ["__str__", "helping_region", "assisted_region", "established_year", "ended_on"]
    list_filter = ["established_year", "helping_region__level"]
    search_fields = ["name", "helping_region__name", "assisted_region__name"]
    autocomplete_fields = ["helping_region", "assisted_region", "parent"]
    list_select_related = [
        f"helping_region__{REGION_ANCESTORS}",
        f"assisted_region__{REGION_ANCESTORS}",
    ]
    ordering = ["path"]
    inlines = [ChildPartnershipInline]

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.select_related("helping_region", "assisted_region"), may_have_duplicates


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "region"]
    list_filter = ["kind", "region__level"]
    search_fields = ["name", "region__name"]
    autocomplete_fields = ["region"]
    list_select_related = [f"region__{REGION_ANCESTORS}"]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "organisation"]
    search_fields = ["name", "position", "organisation__name"]
    autocomplete_fields = ["organisation"]
    list_select_related = ["organisation"]


class VisitActivityInline(admin.TabularInline):
    model = VisitActivity
    fields = ["position", "kind", "title", "date", "place", "description"]
    autocomplete_fields = ["place"]
    extra = 0


class MeetingInVisitInline(admin.StackedInline):
    model = Meeting
    fields = [
        ("title", "date"),
        ("partnership", "venue"),
        "other_attendees",
        "agenda",
        "outcomes",
    ]
    autocomplete_fields = ["partnership"]
    extra = 0
    show_change_link = True
    verbose_name_plural = _("meetings (participants are entered on each meeting's own page)")


class DonationInVisitInline(admin.StackedInline):
    model = Donation
    form = forms.DonationInVisitForm
    fields = [
        ("date", "partnership"),
        ("amount", "kind", "category"),
        "materials_description",
        "donors",
        "recipient_regions",
        "recipient_organisations",
        "region",
        "source",
    ]
    autocomplete_fields = [
        "partnership",
        "donors",
        "recipient_regions",
        "recipient_organisations",
        "region",
    ]
    extra = 0
    show_change_link = True
    verbose_name_plural = _("donations handed over (itemise them on each donation's own page)")


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    form = forms.VisitForm
    list_display = [
        "start_date",
        "end_date",
        "partnership",
        "direction",
        "leader",
        "delegation_size",
    ]
    list_filter = ["direction", "start_date", "partnership"]
    search_fields = ["leader__name", "summary", "purpose", "partnership__name"]
    date_hierarchy = "start_date"
    autocomplete_fields = ["partnership", "leader", "members", "places"]
    list_select_related = [*PARTNERSHIP_NAMES, "leader"]
    inlines = [VisitActivityInline, MeetingInVisitInline, DonationInVisitInline]
    fieldsets = [
        (None, {"fields": ["partnership", "direction", ("start_date", "end_date"), "date_note"]}),
        (
            _("Delegation"),
            {"fields": ["leader", "members", ("delegation_size", "delegation_description")]},
        ),
        (_("Programme"), {"fields": ["places", "purpose", "summary", "source"]}),
    ]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for donation in form.instance.donations.all():
            donation.rebalance()


class MeetingParticipantInline(admin.TabularInline):
    model = MeetingParticipant
    formset = forms.MeetingParticipantFormSet
    fields = ["person", "role", "remarks"]
    autocomplete_fields = ["person"]
    extra = 1


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ["title", "date", "year", "partnership", "venue", "visit"]
    list_filter = ["year", "partnership"]
    search_fields = ["title", "venue", "agenda", "participants__person__name"]
    date_hierarchy = "date"
    autocomplete_fields = ["partnership", "visit"]
    list_select_related = [
        *PARTNERSHIP_NAMES,
        "visit__partnership__helping_region",
        "visit__partnership__assisted_region",
    ]
    inlines = [MeetingParticipantInline]
    fields = [
        "title",
        ("partnership", "visit"),
        ("date", "venue"),
        "other_attendees",
        "agenda",
        "outcomes",
        "source",
    ]


class DonationLineInline(admin.TabularInline):
    model = DonationLine
    formset = forms.DonationLineFormSet
    fields = ["amount", "region", "recipient_organisation", "donor", "note"]
    autocomplete_fields = ["region", "recipient_organisation", "donor"]
    extra = 0
    verbose_name = _("itemised line")
    verbose_name_plural = _(
        "itemised lines (what is not itemised is counted at the receiving region)"
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(is_itemised=True)
            .select_related(f"region__{REGION_ANCESTORS}", "recipient_organisation", "donor")
        )


@admin.register(Donation)
class DonationAdmin(admin.ModelAdmin):
    form = forms.DonationForm
    list_display = [
        "__str__",
        "year",
        "partnership",
        "amount_display",
        "kind",
        "category",
        "region",
        "donor_names",
    ]
    list_filter = ["year", "kind", "category", "partnership", "donors__kind"]
    search_fields = ["donors__name", "recipient_organisations__name", "region__name", "source"]
    date_hierarchy = "date"
    autocomplete_fields = [
        "partnership",
        "visit",
        "donors",
        "recipient_regions",
        "recipient_organisations",
        "region",
    ]
    list_select_related = [*PARTNERSHIP_NAMES, f"region__{REGION_ANCESTORS}"]
    inlines = [DonationLineInline]
    fieldsets = [
        (None, {"fields": [("partnership", "visit"), "date"]}),
        (
            _("What was given"),
            {"fields": [("amount", "kind", "category"), "materials_description"]},
        ),
        (
            _("Who gave it to whom"),
            {"fields": ["donors", "recipient_regions", "recipient_organisations", "region"]},
        ),
        (_("Source"), {"fields": ["source", "notes"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("donors")

    @admin.display(description=_("amount (yuan)"), ordering="amount")
    def amount_display(self, donation):
        return f"{donation.amount:,.2f}"

    @admin.display(description=_("donors"))
    def donor_names(self, donation):
        return "、".join(donor.name for donor in donation.donors.all())

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.rebalance()
