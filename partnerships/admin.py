"""Data entry for staff.

Each admin declares what it shows; changelists stay at a fixed query count.
"""

import calendar
import datetime
import functools
import re
import secrets
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms as django_forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.utils import display_for_field as django_display_for_field
from django.contrib.admin.utils import lookup_spawns_duplicates, unquote
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.contrib.admin.widgets import (
    AutocompleteSelect,
    AutocompleteSelectMultiple,
    RelatedFieldWidgetWrapper,
)
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Case, Exists, Max, Min, OuterRef, Q, Value, When
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import formats, timezone, translation
from django.utils.html import format_html
from django.utils.safestring import SafeData, mark_safe
from django.utils.text import capfirst, smart_split, unescape_string_literal
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from . import access, exports, forms, history, imports, punctuation, reports, summary
from .models import (
    REGION_ANCESTORS,
    AidProject,
    AnnualTarget,
    Assignment,
    CooperationResult,
    Donation,
    DonationLine,
    Funding,
    Inspection,
    LockedYear,
    Meeting,
    MeetingParticipant,
    Organisation,
    Partnership,
    Person,
    Posting,
    ProjectFunds,
    Region,
    StagedImport,
    VillageEnterprisePair,
    Visit,
    VisitActivity,
    dated_ahead,
    outside_pairing_years,
    path_prefixes,
    recorded_twice,
    records_outside_years,
)
from .money import MoneyField

admin.site.site_header = settings.ADMIN_SITE_HEADER
admin.site.site_title = settings.ADMIN_SITE_HEADER
# Django's list of every model down the left of each page took a quarter of a 1280-pixel
# screen from the donations list and the visit form; the admin's home page lists them.
admin.site.enable_nav_sidebar = False
admin.site.site_url = "/"


def display_for_field(value, field, empty_value_display, avoid_link=False):
    """How the admin shows a field's value where it cannot be edited (a record of a locked
    year, a user who may only view): Django's way, but an amount in yuan with its thousands
    separated, 1,050,000.00, as the lists (_money_column), the forms and the dashboard write
    it. Django writes an integer field's value unseparated (1050000.00) unless
    USE_THOUSAND_SEPARATOR, which would separate every number, years too (2,023).

    A list takes its columns from get_list_display; a read-only field offers no such hook,
    so the function Django's read-only fields call is replaced where they import it.
    tests/test_admin_records.py fails if Django stops calling it."""
    if isinstance(field, MoneyField) and value is not None:
        return f"{value:,.2f}"
    return django_display_for_field(value, field, empty_value_display, avoid_link)


helpers.display_for_field = display_for_field


def boolean_icon(value: bool | None) -> str:
    """Django's tick, cross or question mark, with its alternative text in the page's language
    (是, 否, 未知): Django writes the value itself, "True" or "False", which is what a screen
    reader says of a Chinese page's users list. Every admin list and read-only field imports
    it from admin_list where it is shown, so it is replaced there; tests/test_admin_records.py
    fails if Django stops calling it."""
    icon = {True: "yes", False: "no", None: "unknown"}[value]
    text = {True: gettext("Yes"), False: gettext("No"), None: gettext("Unknown")}[value]
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{icon}.svg"), text)


admin_list._boolean_icon = boolean_icon

django_admin_url = helpers.AdminReadonlyField.get_admin_url


def admin_url_it_opens(self, remote_field, remote_obj):
    """A read-only field's record (a town pairing's parent on the page its staff may only
    read, a locked handover's visit) linked only when the reader may open it: Django links
    it whatever their rights, and a pairing or visit above the staff's scope answered the
    click with a 404. Our forms carry their user (RecordAdmin.get_form); Django's own pages
    (users, groups) keep its links. tests/test_permissions.py fails if Django stops
    calling it."""
    user = getattr(self.form, "user", None)
    if user is None or opens(user, remote_field.model, remote_obj):
        return django_admin_url(self, remote_field, remote_obj)
    return str(remote_obj)


helpers.AdminReadonlyField.get_admin_url = admin_url_it_opens


def opens(user, model, record) -> bool:
    """Whether `user` may open `record`'s page in the admin: a right to view or change its
    model, and, for what a record of theirs may name from above their scope (its pairing's
    parent, a visit of that parent: `pickable`), the record within their pairings. An
    organisation or person a record of theirs names is theirs by that (access.organisation_q).
    No query for a pairing; one a visit, remembered for the request's user."""
    opts = model._meta
    rights = (f"{opts.app_label}.{action}_{opts.model_name}" for action in ("view", "change"))
    if not any(user.has_perm(right) for right in rights):
        return False
    scope = access.scope_for(user)
    if scope.everything or model not in (Partnership, Visit):
        return True
    if model is Partnership:
        return scope.allows(record)
    known = user.__dict__.setdefault("_opens", {})
    if record.pk not in known:
        known[record.pk] = scope.allows(record.partnership)
    return known[record.pk]


PARTNERSHIP_NAMES = ("partnership__helping_region", "partnership__assisted_region")
IMPORT_SALT = "partnerships.import"
# How long a previewed file may wait for its confirmation, in seconds.
STAGED_FOR = 3600
# How many previewed files of a kind one user may have waiting (10 MB each at most).
STAGED_PER_USER = 3
MAX_UPLOAD = 10 * 1024 * 1024


class UploadForm(django_forms.Form):
    file = django_forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8 or GB18030/GBK, as Excel and WPS save it), Unicode text (tab-separated) "
            "or XLSX, up to 10 MB."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise django_forms.ValidationError(_("The file is larger than 10 MB."))
        return upload


# The records that belong to one pairing through their own `partnership` field.
PAIRING_RECORDS = (
    Visit,
    Meeting,
    Donation,
    Posting,
    AidProject,
    VillageEnterprisePair,
    CooperationResult,
    AnnualTarget,
)


def scope_filter(model, scope: access.Scope) -> Q:
    """What of `model` a user with `scope` may see and pick in the admin."""
    if scope.everything:
        return Q()
    if model is Partnership:
        return scope.q("")
    if model in PAIRING_RECORDS:
        return scope.q("partnership__")
    if model is ProjectFunds:
        return scope.q("project__partnership__")
    if model is Inspection:
        # a visit may inspect another pairing's project: that project stays out of sight
        return scope.q("visit__partnership__") & scope.q("project__partnership__")
    if model is Organisation:
        return access.organisation_q(scope)
    if model is Person:
        return access.person_q(scope)
    if model in (VisitActivity,):
        return scope.q("visit__partnership__")
    if model is MeetingParticipant:
        return scope.q("meeting__partnership__")
    if model is DonationLine:
        return scope.q("donation__partnership__")
    return Q()


def pickable(model, scope: access.Scope) -> Q:
    """What of `model` a record of the user's pairings may be linked to: what they see, and
    the visits of the pairings above theirs with the organisations and people named on those
    pairings' records (the town pairing's meeting held during the county pairing's visit)."""
    if scope.everything:
        return Q()
    if model is Visit:
        return scope.q_with_ancestors("partnership__")
    if model is Organisation:
        return access.organisation_q(scope, above=True)
    if model is Person:
        return access.person_q(scope, above=True)
    return scope_filter(model, scope)


def links_above_scope(field) -> bool:
    """Whether `field` links a record to a visit, organisation or person the user may pick
    from the pairings above theirs (`pickable`): a meeting's visit, a handover's donors, a
    participant. Not a person's organisation: that edits who the person is, and a person
    put into an organisation out of sight would drop out of the user's own lists."""
    return field.model not in (Person, Organisation)


def autocomplete_source(request):
    """The field of another record that an admin autocomplete request fills in, or None."""
    match = request.resolver_match
    if match is None or match.url_name != "autocomplete":
        return None
    try:
        model = apps.get_model(request.GET["app_label"], request.GET["model_name"])
        return model._meta.get_field(request.GET["field_name"])
    except (KeyError, LookupError, ValueError, FieldDoesNotExist):
        return None


class PicksAboveScope:
    """An autocomplete for another record's field offers what that record may be linked to
    (`pickable`), where the list and pages of this model show only the user's pairings'."""

    def get_search_results(self, request, queryset, search_term):
        source = autocomplete_source(request)
        scope = access.scope_for(request.user)
        if (
            source is not None
            and source.model is not self.model
            and links_above_scope(source)
            and not scope.everything
        ):
            queryset = self.model._default_manager.filter(
                pickable(self.model, scope)
            ).complex_filter(source.get_limit_choices_to())
            if self.model in ABOVE_SCOPE_MODELS:
                queryset = queryset.annotate(in_scope=in_scope(self.model, scope))
        return super().get_search_results(request, queryset, search_term)


# What a record may name from above its pairing (`pickable`): the rest is offered in scope,
# or to everyone (regions).
ABOVE_SCOPE_MODELS = (Visit, Organisation, Person)


def in_scope(model, scope: access.Scope) -> Case:
    """Whether a record offered from above the user's scope (`pickable`) is also one of
    theirs, which they may open: a choice of the former gets no link to its page (a 404),
    its picker saying why (static/js/admin-outside-scope.js)."""
    return Case(When(scope_filter(model, scope), then=Value(True)), default=Value(False))


class OutsideScope(str):
    """A choice's label, marking a record the user may choose but not open (`in_scope`)."""


def marking_outside_scope(label_from_instance):
    def label(record):
        text = label_from_instance(record)
        return OutsideScope(text) if getattr(record, "in_scope", True) is False else text

    return label


OUTSIDE_SCOPE_TITLE = _("This belongs to a pairing above yours: it may be chosen, not opened.")


class TolerantAutocompleteMixin:
    """Re-renders a form whose submitted id is garbage ("abc", 10**20) instead of failing.

    Django's autocomplete widgets look the submitted ids up to show them again, and a value
    that is not a database integer raises there (a 500) after the form has rightly refused it.
    """

    def optgroups(self, name, value, attr=None):
        valid = []
        for item in value:
            try:
                number = int(str(item))
            except (TypeError, ValueError):
                continue
            if -(2**63) <= number < 2**63:
                valid.append(str(number))
        return super().optgroups(name, valid, attr)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if isinstance(label, OutsideScope):
            option["attrs"]["data-outside-scope"] = ""
        return option

    @property
    def media(self):
        # after django.jQuery exists: the merge keeps a file after those listed before it
        js = ["admin/js/jquery.init.js", "js/admin-outside-scope.js", "js/admin-picker-names.js"]
        return super().media + django_forms.Media(js=js)


class TolerantAutocompleteSelect(TolerantAutocompleteMixin, AutocompleteSelect):
    pass


class TolerantAutocompleteSelectMultiple(TolerantAutocompleteMixin, AutocompleteSelectMultiple):
    pass


class ScopedChoicesMixin:
    """Foreign-key and many-to-many choices limited to what the user may see."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope = access.scope_for(request.user)
        related = db_field.related_model
        above = False
        if not scope.everything and related in ABOVE_SCOPE_MODELS:
            # A record may belong to a visit of the parent pairing: keep that choice.
            above = links_above_scope(db_field)
            choices = pickable if above else scope_filter
            queryset = related._default_manager.filter(choices(related, scope))
            if above:
                queryset = queryset.annotate(in_scope=in_scope(related, scope))
            kwargs["queryset"] = queryset
        elif not scope.everything and related in (Partnership, AidProject, Meeting):
            kwargs["queryset"] = related._default_manager.filter(scope_filter(related, scope))
        if db_field.name in self.get_autocomplete_fields(request):
            attrs = {"data-outside-scope-title": OUTSIDE_SCOPE_TITLE} if above else None
            kwargs["widget"] = TolerantAutocompleteSelect(db_field, self.admin_site, attrs=attrs)
        formfield = _labelled(super().formfield_for_foreignkey(db_field, request, **kwargs))
        if above and formfield is not None:
            formfield.label_from_instance = marking_outside_scope(formfield.label_from_instance)
        return formfield

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        scope = access.scope_for(request.user)
        related = db_field.related_model
        if not scope.everything and related in (Organisation, Person):
            choices = pickable if links_above_scope(db_field) else scope_filter
            kwargs["queryset"] = related._default_manager.filter(choices(related, scope))
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = TolerantAutocompleteSelectMultiple(db_field, self.admin_site)
        return _labelled(super().formfield_for_manytomany(db_field, request, **kwargs))


def _labelled(formfield):
    """An organisation's or a visit's choices as pickers show them (their `unambiguous_name`:
    an organisation's place when another has the same name, a visit's direction and days
    when another of its pairing starts the same day), looked up with the choices themselves;
    a region's or a pairing's with what their labels read (LABEL_JOINS)."""
    model = getattr(getattr(formfield, "queryset", None), "model", None)
    if model in (Organisation, Visit):
        formfield.queryset = model.with_namesakes(formfield.queryset)
        formfield.label_from_instance = lambda record: record.unambiguous_name
    elif model in LABEL_JOINS:  # a region's label is its full name, a pairing's its sides'
        formfield.queryset = formfield.queryset.select_related(*LABEL_JOINS[model])
    return formfield


# What a choice's label reads, fetched with the choice: an autocomplete in each row of an
# inline reads its chosen record again, and its label walked up a region's parents, a query
# each (a visit's handovers: 16 queries a handover).
LABEL_JOINS = {Region: (REGION_ANCESTORS,), Partnership: ("helping_region", "assisted_region")}


FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９－／．", "0123456789-/.")


class SearchByShownNames:
    """Names as the site writes them ("樟木头镇—江口县", "莞铜（东莞市—铜仁市）") are found by
    their parts: the dashes and brackets between names are in no field, so they separate
    search terms as spaces do."""

    PUNCTUATION = re.compile(r"[—–－()（）·、，,\u3000“”‘’「」]")

    def get_search_results(self, request, queryset, search_term):
        """As Django's, except that a field across a many-valued relation (a donation's
        donors) is searched in a subquery: Django joins it into the list's query and then
        needs DISTINCT over every row, which took 4 s for a donations search at a million
        lines."""
        # Digits and a date's separators typed full width (２０２３－０１－１０) read as typed
        # in ASCII, as the forms read them; then the punctuation between names goes.
        search_term = self.PUNCTUATION.sub(" ", search_term.translate(FULL_WIDTH_DIGITS))
        fields = list(self.get_search_fields(request))
        plain = all(re.fullmatch(r"\w+", field.replace("__", "_")) for field in fields)
        many = [field for field in fields if lookup_spawns_duplicates(self.opts, field)]
        bits = [
            unescape_string_literal(bit) if bit[0] in "\"'" and bit[0] == bit[-1] else bit
            for bit in smart_split(search_term)
        ]
        beyond = [self.search_beyond_fields(bit) for bit in bits]
        if not bits or not plain or not (many or any(beyond)):
            return super().get_search_results(request, queryset, search_term)
        model = queryset.model
        terms = []
        for bit, term in zip(bits, beyond, strict=True):
            term = term or Q()
            for field in fields:
                lookup = {f"{field}__icontains": bit}
                if field in many:
                    term |= Q(pk__in=model._base_manager.filter(**lookup).values("pk"))
                else:
                    term |= Q(**lookup)
            terms.append(term)
        return queryset.filter(*terms), False

    def search_beyond_fields(self, bit: str) -> Q | None:
        """What a search term matches besides its text in the search fields (a visit: its
        dates), or None."""
        return None


def _differs_from_stored(record) -> bool:
    """Whether `record` as its form's clean() left it differs from its row: a record saved
    before a rule filled something in (a pairing's year from its date) is put right by
    opening and saving it, though the form shows no change."""
    names = [field.attname for field in record._meta.concrete_fields if field.name != "version"]
    stored = type(record)._default_manager.filter(pk=record.pk).values(*names).first()
    return stored is None or any(getattr(record, name) != stored[name] for name in names)


def _rows_change(formset) -> bool:
    """Whether saving `formset` changes a row: an existing row changed or deleted, or a new
    one kept (a new row with only its delete box ticked is dropped, and changes nothing)."""
    for row in formset.initial_forms:
        if formset._should_delete_form(row) or row.has_changed():
            return True
    return any(
        row.has_changed() and not formset._should_delete_form(row) for row in formset.extra_forms
    )


def _without_field(fieldsets, name: str) -> list:
    """`fieldsets` without the field `name`, also where it shares a line with others."""
    result = []
    for title, options in fieldsets:
        fields = []
        for line in options.get("fields", []):
            if isinstance(line, (list, tuple)):
                line = tuple(field for field in line if field != name)
                if line:
                    fields.append(line)
            elif line != name:
                fields.append(line)
        result.append((title, {**options, "fields": fields}))
    return result


def _without_links(items: list, prefixes: tuple[str, ...]) -> list:
    """The admin's nested list of deleted objects without the entries starting with
    `prefixes` (get_deleted_objects: each is "Verbose name: object"), and in Chinese with a
    Chinese colon after the name ("座谈会：…", not "座谈会: …")."""
    kept = []
    for item in items:
        if isinstance(item, list):
            nested = _without_links(item, prefixes)
            if nested:
                kept.append(nested)
        elif not str(item).startswith(prefixes):
            kept.append(_colon_after_name(item))
    return kept


def _colon_after_name(item):
    if not punctuation.chinese() or ": " not in str(item):
        return item
    name, rest = str(item).split(": ", 1)
    text = f"{name}：{rest}"
    return mark_safe(text) if isinstance(item, SafeData) else text  # it was safe: the same


@functools.cache  # one function a field: Django finds a sortable column by identity
def _money_column(field: MoneyField):
    """A list column of amounts as the site writes them: 6,020,000.00, not 6020000.00."""

    @admin.display(description=field.verbose_name, ordering=field.name)
    def column(record):
        value = getattr(record, field.attname)
        return None if value is None else f"{value:,.2f}"

    column.__name__ = field.name  # its cells' class: field-<name>
    return column


# Lookups of a date's year that Django turns into the first and last day of that year when it
# builds the SQL, after it has checked the filters (a year out of 1..9999 is then a 500).
YEAR_LOOKUPS = {"year", "iso_year"}
YEAR_COMPARISONS = {"exact", "gt", "gte", "lt", "lte"}


def _year_out_of_range(request, date_hierarchy: str | None) -> bool:
    """Whether the list's query string filters a date by a year Django cannot make a date of
    (0, 1, 10000, -1: `?end_date__year=10000`). Django finds a bad filter while it builds the
    list's query, and shows its "?e=1" page; these fail later, as the query runs. A date
    hierarchy's year, and an ISO year, also may not be 9999: Django works out the year after
    it."""
    for key, values in request.GET.lists():
        parts = key.split("__")
        if len(parts) > 2 and parts[-1] in YEAR_COMPARISONS:
            parts = parts[:-1]
        if len(parts) < 2 or parts[-1] not in YEAR_LOOKUPS:
            continue
        # Django works out the year after a date hierarchy's, and an ISO year's first day
        highest = 9998 if parts[-1] == "iso_year" or key == f"{date_hierarchy}__year" else 9999
        for value in values:
            # nor 1: the first moment of year 1 in Shanghai is in year 0 in UTC, where a
            # time is stored
            if not (re.fullmatch(r"[0-9]{1,4}", value) and 2 <= int(value) <= highest):
                return True
    return False


def _pk_of(model, object_id) -> Any:
    """The primary key an admin URL's object id stands for; an id that is none ("abc",
    "1.5", a number too large for the column) is a page that is not there."""
    try:
        return model._meta.pk.to_python(unquote(str(object_id)))
    except (ValueError, TypeError, ValidationError) as error:
        raise Http404 from error


def _pk_or_404(model, object_id) -> tuple[Any, bool]:
    """The primary key an admin URL's object id stands for (_pk_of), and whether such a
    record exists (in any scope)."""
    pk = _pk_of(model, object_id)
    try:
        return pk, model._default_manager.filter(pk=pk).exists()
    except OverflowError as error:  # a number too large for the column
        raise Http404 from error


class GuardsRequests:
    """What every admin of the site refuses (tests/test_admin_records.py checks they all
    are such admins):

    - a list filtered by a year out of range is a bad filter, Django's "?e=1" page, not a 500;
    - "save as new" sent by hand to a page that offers no such button: Django copies the
      record all the same (a visit with its handovers, whose amounts were then counted
      twice), whatever `save_as` says.

    And the admin's log of actions (the index's "recent actions", a user's delete page)
    names each record in the site's language, not in that of whoever saved it: a handover
    read "160,000.00 yuan on 2024-03-09" beside "2024年3月8日 140,000.00 元"."""

    def log_addition(self, request, obj, message):
        with translation.override(settings.LANGUAGE_CODE):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        with translation.override(settings.LANGUAGE_CODE):
            return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        with translation.override(settings.LANGUAGE_CODE):
            return super().log_deletions(request, queryset)

    def changelist_view(self, request, extra_context=None):
        if _year_out_of_range(request, self.date_hierarchy):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_saveasnew" in request.POST and not self.save_as:
            raise PermissionDenied
        return super().changeform_view(request, object_id, form_url, extra_context)


class DeletionInWords:
    """A delete page's list of what goes with the record, as staff read it (every record's,
    accounts' and roles')."""

    def get_deleted_objects(self, objs, request):
        """What a deletion takes with it, without the record's own many-to-many links: Django
        lists each as a row of its own ("Donation-organisation关系: Donation_donors object
        (146)"), but they are part of the record, whose page names them. Links of another
        record (a visit's member, when deleting the person) stay listed, by name
        (history.name_link_rows): that record loses them."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        links = [field.remote_field.through for field in self.model._meta.local_many_to_many]
        prefixes = tuple(f"{capfirst(model._meta.verbose_name)}: " for model in links)
        plurals = {str(model._meta.verbose_name_plural) for model in links}
        counts = {name: count for name, count in counts.items() if str(name) not in plurals}
        protected = [_colon_after_name(item) for item in protected]
        return _without_links(deleted, prefixes), counts, perms_needed, protected


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """An audit trail (every record's, RecordAdmin; an administrator's locked years and
    pairing assignments): an id that is no id, or a version of another record, is no page,
    and a past version is to read only. simple-history's own view saves what is sent back
    to it, bypassing the change form, and looks a version up by its id alone."""

    def _in_scope_or_404(self, request, object_id) -> None:
        _pk_or_404(self.model, object_id)

    def history_view(self, request, object_id, extra_context=None):
        self._in_scope_or_404(request, object_id)
        extra_context = {**(extra_context or {}), **self.history_context(request, object_id)}
        return super().history_view(request, object_id, extra_context)

    def history_context(self, request, object_id) -> dict:
        """More for the history page of `object_id` (in scope)."""
        return {}

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        """Each version named (its link read as nothing) and what it changed, as entered
        (partnerships/history.py)."""
        history.set_deltas(self.model, list(historical_records))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        version = getattr(obj, "_history", None)  # a past version (history_form_view)
        if version is not None:
            init = history.form_showing_links_of(version, form.__init__)
            form = type(form.__name__, (form,), {"__init__": init})
        return form

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._in_scope_or_404(request, object_id)
        if not re.fullmatch(r"[0-9]+", str(version_id)):  # isdigit() takes "²"
            raise Http404
        # A version the record's list leaves out (get_history_queryset: from while it belonged
        # to a pairing outside the user's scope), or another record's, is no page either.
        pk = self.model._meta.pk
        manager = getattr(self.model, self.model._meta.simple_history_manager_attribute)
        versions = self.get_history_queryset(
            request, manager, pk.attname, pk.to_python(unquote(str(object_id)))
        )
        if not versions.filter(history_id=int(version_id)).exists():
            raise Http404
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class RecordAdmin(
    DeletionInWords,
    GuardsRequests,
    PicksAboveScope,
    SearchByShownNames,
    ScopedChoicesMixin,
    ReadOnlyHistoryAdmin,
):
    """Every record admin: pairing scope, locked years, stale-copy refusal, audit history."""

    form = forms.GuardedModelForm

    def response_action(self, request, queryset):
        """Rows chosen for an action by ids that are no ids ("abc", sent by hand) made the
        action's query fail, a 500: the list says no rows were chosen, as Django's own does."""
        pk = self.model._meta.pk
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                pk.to_python(value)
            except ValidationError:
                return _nothing_chosen(self, request)
        # One transaction: Django's "delete selected" logs each deletion before it deletes,
        # and a delete that lost to another save (a deadlock) left the log saying so.
        with transaction.atomic():
            return super().response_action(request, queryset)

    def get_list_display(self, request):
        columns = []
        for name in super().get_list_display(request):
            try:
                field = self.model._meta.get_field(name) if isinstance(name, str) else None
            except FieldDoesNotExist:
                field = None
            columns.append(_money_column(field) if isinstance(field, MoneyField) else name)
        return columns

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.filter(scope_filter(self.model, access.scope_for(request.user)))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def get_formsets_with_inlines(self, request, obj=None):
        for formset, inline in super().get_formsets_with_inlines(request, obj):
            bases = (forms.RefusesControlCharacters, formset.form)
            if issubclass(formset.form, forms.RefusesControlCharacters):
                bases = (formset.form,)
            formset.form = type(formset.form.__name__, bases, {"user": request.user})
            bases = (
                forms.NamesDuplicateFields,
                forms.NoticesVanishedRows,
                forms.KeepsRowsOfLockedYears,
                formset,
            )
            yield type(formset.__name__, bases, {}), inline

    def _in_scope_or_404(self, request, object_id) -> None:
        """An object outside the user's scope, or an id that is no id, is simply not there."""
        if object_id is None:
            return
        model = self.model
        pk, exists_anywhere = _pk_or_404(model, object_id)
        if not exists_anywhere and not access.scope_for(request.user).everything:
            # The history of a deleted record would show another pairing's figures.
            raise Http404
        if exists_anywhere and not self.get_queryset(request).filter(pk=pk).exists():
            access.refused(request, f"{model._meta.model_name} {object_id}")
            raise Http404

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._in_scope_or_404(request, object_id)
        # One page may save donations of several pairings (the visit page's inlines): their
        # summary keys are refreshed once, at the end, locked together in a fixed order, so
        # two pages saved at once cannot lock the same pairings in opposite orders.
        with transaction.atomic(), summary.deferred():
            response = super().changeform_view(request, object_id, form_url, extra_context)
        self._say_vanished_rows_at_the_top(request, response)
        return response

    def message_user(self, request, message, *args, **kwargs):
        """Django joins two sentences of a message with a space, which in Chinese stands
        after the full stop: "…”。 您可以在下方再次编辑。"."""
        if punctuation.chinese() and "。 " in str(message):
            joined = str(message).replace("。 ", "。")
            message = mark_safe(joined) if isinstance(message, SafeData) else joined
        super().message_user(request, message, *args, **kwargs)

    @staticmethod
    def _say_vanished_rows_at_the_top(request, response) -> None:
        """A row deleted meanwhile (forms.NoticesVanishedRows) is said at its inline, which
        may be thousands of pixels below "please correct the errors below": said on top too."""
        context = getattr(response, "context_data", None) or {}
        for inline in context.get("inline_admin_formsets", []):
            for error in inline.formset.non_form_errors().as_data():
                if error.code == "vanished":
                    messages.error(request, error.message)

    def delete_view(self, request, object_id, extra_context=None):
        self._in_scope_or_404(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_context(self, request, object_id) -> dict:
        """The changes of the rows on the record's page (its handovers, meetings, lines)."""
        pk = self.model._meta.pk.to_python(unquote(str(object_id)))
        scope = access.scope_for(request.user)
        obj = self.model._default_manager.filter(pk=pk).first()
        children = []
        if request.GET.get(PAGE_VAR, "1") == "1":  # below the first page of its versions only
            children = history.child_histories(
                self.model,
                self.get_inline_instances(request, obj),
                pk,
                lambda model: Q() if model is Partnership else scope_filter(model, scope),
                since=self._in_scope_since(request, pk),
            )
        return {"child_histories": children}

    def _in_scope_since(self, request, pk):
        """When the record last came into the user's scope (moved from a pairing outside it),
        or None: the changes of the rows on its page from before then stay hidden, as its own
        versions from then do (a handover's lines to another pairing's village)."""
        if self.model not in PAIRING_RECORDS:
            return None
        scope = access.scope_for(request.user)
        if scope.everything:
            return None
        versions = (
            getattr(self.model, self.model._meta.simple_history_manager_attribute)
            .filter(**{self.model._meta.pk.attname: pk})
            .annotate(seen=Case(When(scope_filter(self.model, scope), then=True), default=False))
            .order_by("-history_date", "-history_id")
            .values_list("seen", "history_date")
        )
        since = None
        for seen, date in versions:
            if not seen:
                break
            since = date
        return since

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        """A record's versions from while it belonged to a pairing outside the user's scope
        (before it was moved) stay hidden, as the records of that pairing do."""
        queryset = super().get_history_queryset(request, history_manager, pk_name, object_id)
        if self.model in PAIRING_RECORDS:
            queryset = queryset.filter(scope_filter(self.model, access.scope_for(request.user)))
        return queryset

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if getattr(request, "_lock_refused_by_form", False):
            return True  # its form refuses the locked year in words (change_view)
        return not access.is_locked_for(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not access.is_locked_for(
            request.user, obj
        )

    def get_fieldsets(self, request, obj=None):
        """A page to read only shows no "Loaded version": the stale-copy check's hidden field,
        which Django would show as text, under its name in English."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return _without_field(fieldsets, "loaded_version")
        return fieldsets

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A record of a locked year says why its page is to read only.

        A save of a page opened before its year was locked is refused by the record's form
        (GuardedModelForm: "2023年已锁定…"), shown with what was typed, as a stale copy is:
        Django refused it as no right to change the record, a 403 saying to ask for a role,
        and the typing was lost."""
        if request.method == "POST" and issubclass(self.form, forms.GuardedModelForm):
            request._lock_refused_by_form = True
        response = super().change_view(request, object_id, form_url, extra_context)
        record = (getattr(response, "context_data", None) or {}).get("original")
        if request.method == "GET" and access.is_locked_for(request.user, record):
            years = sorted(access.years_of(record) & access.locked_years())
            self.message_user(
                request,
                ngettext(
                    "The year %(years)s is locked (its annual assessment is done): this record "
                    "can be read, not changed. An administrator can still change it.",
                    "The years %(years)s are locked (their annual assessment is done): this "
                    "record can be read, not changed. An administrator can still change it.",
                    len(years),
                )
                % {"years": punctuation.joined([str(year) for year in years])},
                messages.WARNING,
            )  # shown on this page: its template is rendered after this
        elif request.method == "GET" and self.has_change_permission(request, record):
            self._say_rows_of_locked_years(request, response)  # not to one who may only view
        return response

    def _say_rows_of_locked_years(self, request, response) -> None:
        """Rows of a locked year on an open record's page are shown read only
        (forms.KeepsRowsOfLockedYears): a stacked row says so itself, a table's row only by
        its greyed boxes, and the page says it for both."""
        context = getattr(response, "context_data", None) or {}
        years = sorted(
            {
                form.locked_year
                for inline in context.get("inline_admin_formsets", ())
                for form in inline.formset.forms
                if getattr(form, "locked_row", False)
            }
        )
        if years:
            self.message_user(
                request,
                ngettext(
                    "Entries of %(years)s on this page belong to a locked year: they are shown "
                    "greyed and cannot be changed; the rest of the page can be saved.",
                    "Entries of %(years)s on this page belong to locked years: they are shown "
                    "greyed and cannot be changed; the rest of the page can be saved.",
                    len(years),
                )
                % {"years": punctuation.joined([str(year) for year in years])},
                messages.WARNING,
            )

    def save_model(self, request, obj, form, change):
        """A save that changes nothing of the record is put off to save_related, which saves
        it only if a row on its page changed: saving it anyway moved its version, so that a
        colleague editing it meanwhile was refused ("… changed: the entries further down its
        page") over nothing, and its history gained an empty version."""
        if change and not form.has_changed() and not _differs_from_stored(obj):
            obj._save_put_off = True
            return
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        """Saves the links and rows below the record (_save_related), then says which of the
        records saved fall outside their pairing's years (models.outside_pairing_years), are
        dated ahead of today (dated_ahead) or record what another does (recorded_twice)."""
        self._save_related(request, form, formsets, change)
        saved = [form.instance]
        for formset in formsets:
            saved += getattr(formset, "new_objects", [])
            saved += [row for row, _fields in getattr(formset, "changed_objects", [])]
        for record in saved:
            if isinstance(record, (Posting, VillageEnterprisePair)):  # dated by a span
                if warning := recorded_twice(record, may_delete=self._may_delete(request, record)):
                    self.message_user(request, warning, messages.WARNING)
                continue
            if not isinstance(record, (Visit, Meeting, Donation)):
                continue
            # A row dated by the visit of this page: the visit's own warning says its years.
            by_the_visit = record is not form.instance and getattr(record, "date", True) is None
            for warning in (
                None if by_the_visit else outside_pairing_years(record),
                dated_ahead(record),
                recorded_twice(record, may_delete=self._may_delete(request, record)),
            ):
                if warning:
                    self.message_user(request, warning, messages.WARNING)

    def _may_delete(self, request, record) -> bool:
        model_admin = self.admin_site._registry.get(type(record))
        return model_admin is not None and model_admin.has_delete_permission(request, record)

    def _save_related(self, request, form, formsets, change):
        """One save, one version: the links saved after the record (donors, recipients, a
        delegation's members and places) go into the version the save recorded, rather than
        a version for each link removed or added (history.snapshot_m2m)."""
        instance = form.instance
        if getattr(instance, "_save_put_off", False):
            del instance._save_put_off
            # A row below it changed: the record's version moves with it, as it always did.
            # (The unchanged formsets are still "saved" below: Django's log reads them.)
            if any(_rows_change(formset) for formset in formsets):
                super().save_model(request, instance, form, change)
        if not history.m2m_tracked(self.model):
            return super().save_related(request, form, formsets, change)
        # Django's save_related, with the links' own versions held back: only while the links
        # are saved, so that any other save of the record is recorded as usual.
        with history.links_in_one_version(instance):
            form.save_m2m()
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        """Rows with links of their own (the handovers on a visit's page, with their donors
        and recipients) get one version per save too, as save_related gives the record."""
        if not history.m2m_tracked(formset.model):
            return super().save_formset(request, form, formset, change)
        rows = formset.save(commit=False)
        for row in formset.deleted_objects:
            row.delete()
        for row in rows:
            row.save()
        with ExitStack() as each:
            for row in rows:
                each.enter_context(history.links_in_one_version(row))
            formset.save_m2m()


class LabelledRowsFormSet(django_forms.BaseFormSet):
    """A table of rows (a visit's activities, a meeting's participants, a handover's lines)
    has its columns' names only in its header, which no box is labelled by: a screen reader
    said "edit text" or "combo box" for each. Each box is named after its column."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        for field in form.fields.values():
            widget = field.widget
            while isinstance(widget, RelatedFieldWidgetWrapper):  # the pencil and eye's
                widget = widget.widget
            if not widget.is_hidden and field.label:
                widget.attrs.setdefault("aria-label", field.label)


class ScopedInline(ScopedChoicesMixin):
    """Inline rows follow their parent's scope and year lock.

    `rows_with` and `rows_prefetched`: what each row's label (Django's inline prints the
    row's record) and its form's initial values read, fetched with the rows, not a query a
    row (tests/test_admin_records.py counts the pages' queries with one row and with four)."""

    rows_with: tuple[str, ...] = ()
    rows_prefetched: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.rows_with:
            queryset = queryset.select_related(*self.rows_with)
        if self.rows_prefetched:
            queryset = queryset.prefetch_related(*self.rows_prefetched)
        return queryset

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return _without_field(fieldsets, "loaded_version")  # as RecordAdmin's
        return fieldsets

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if isinstance(self, admin.TabularInline):
            return type(formset.__name__, (LabelledRowsFormSet, formset), {})
        return formset

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and not access.is_locked_for(
            request.user, obj
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not access.is_locked_for(
            request.user, obj
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not access.is_locked_for(
            request.user, obj
        )


def _import_ticket(value: str) -> dict | None:
    """The ticket of a previewed import as ImportMixin signed it, or None when it is not one:
    expired, tampered with, or signed with the site's key but not in the ticket's shape."""
    try:
        payload = signing.loads(value, salt=IMPORT_SALT, max_age=STAGED_FOR)
    except signing.BadSignature:
        return None
    shape = {"staged": int, "user": int, "nonce": str}
    if not isinstance(payload, dict) or payload.keys() != shape.keys():
        return None
    if any(type(payload[name]) is not kind for name, kind in shape.items()):  # not bool
        return None
    return payload


class ImportMixin:
    """An "Import" page on a changelist: upload, preview every row and problem, then confirm.

    Between the two steps the file waits in StagedImport (the browser holds a signed ticket
    to it); no record is written until the confirmation, which checks the file again.
    """

    import_kind = ""
    change_list_template = "admin/partnerships/change_list_with_import.html"

    def get_urls(self):
        app, model = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name=f"{app}_{model}_import",
            ),
            path(
                "import/template.<slug:fmt>",
                self.admin_site.admin_view(self.import_template),
                name=f"{app}_{model}_import_template",
            ),
            *super().get_urls(),
        ]

    def _check(self, request, data: bytes, name: str):
        if self.import_kind == "regions":
            return imports.check_regions(data, name)[0]
        return imports.check_donations(data, name, request.user)

    def _save(self, request, data: bytes, name: str):
        if self.import_kind == "regions":
            return imports.import_regions(data, name)
        return imports.import_donations(data, name, request.user)

    def _clear_staged(self, request, *, mine: bool = True) -> None:
        """At each upload and confirmation: anyone's previews older than STAGED_FOR (which
        no confirmation would take any more), and at an upload this user's previews of this
        kind but the STAGED_PER_USER - 1 latest, so that a user keeps a few files waiting
        (one previewed in each of two tabs, each confirmable: an upload used to clear the
        other tab's) and no more."""
        too_old = timezone.now() - datetime.timedelta(seconds=STAGED_FOR)
        stale = Q(created__lt=too_old)
        if mine:
            earlier = StagedImport.objects.filter(
                user=request.user, kind=self.import_kind
            ).order_by("-created", "-pk")
            stale |= Q(pk__in=list(earlier.values_list("pk", flat=True)[STAGED_PER_USER - 1 :]))
        StagedImport.objects.filter(stale).delete()

    def _stage(self, request, data: bytes, name: str) -> StagedImport:
        """Keep the previewed file until it is confirmed."""
        return StagedImport.objects.create(
            user=request.user, kind=self.import_kind, name=name[:255], data=data
        )

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import %(things)s") % {"things": self.opts.verbose_name_plural},
            "kind": self.import_kind,
        }
        form = UploadForm()
        if request.method == "POST" and "confirm" in request.POST:
            payload = _import_ticket(request.POST.get("payload", ""))
            if payload is None:
                messages.error(request, _("The preview has expired; upload the file again."))
                return HttpResponseRedirect(request.path)
            done = request.session.get("imports_done", [])
            if payload.get("user") != request.user.pk or payload.get("nonce") in done:
                # A confirmation counts once, and only for whoever previewed the file.
                messages.error(request, _("This file has already been imported."))
                return HttpResponseRedirect(request.path)
            staged = StagedImport.objects.filter(
                pk=payload.get("staged"), user=request.user, kind=self.import_kind
            ).first()
            if staged is None:  # cleared after an hour, or by STAGED_PER_USER later previews
                messages.error(request, _("The preview has expired; upload the file again."))
                return HttpResponseRedirect(request.path)
            preview, saved = self._save(request, bytes(staged.data), staged.name)
            self._clear_staged(request, mine=False)
            if saved:
                staged.delete()
                request.session["imports_done"] = [*done[-49:], payload["nonce"]]
                messages.success(
                    request,
                    _("%(count)d %(things)s imported.")
                    % {"count": saved, "things": self.opts.verbose_name_plural},
                )
                return HttpResponseRedirect(
                    reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
                )
            context.update(preview=preview, name=staged.name)
        elif request.method == "POST":
            self._clear_staged(request)
            form = UploadForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                data = upload.read()
                preview = self._check(request, data, upload.name)
                context.update(preview=preview, name=upload.name)
                if preview.ok:
                    context["payload"] = signing.dumps(
                        {
                            "staged": self._stage(request, data, upload.name).pk,
                            "user": request.user.pk,
                            "nonce": secrets.token_hex(8),
                        },
                        salt=IMPORT_SALT,
                    )
        context["form"] = form
        return TemplateResponse(request, "admin/partnerships/import.html", context)

    def import_template(self, request, fmt):
        if fmt not in ("csv", "xlsx"):
            raise Http404(_("The template is offered as CSV or XLSX."))
        columns, rows = imports.template_rows(self.import_kind)
        summary = exports.Summary(
            _("Import template"),
            columns,
            rows,
            scope=str(self.opts.verbose_name_plural),
            extra={"no_total": True},
        )
        return exports.FORMATS[fmt](summary)


class NamedOnDonationsProtected:
    """Refuse to delete what a donation names as donor or recipient.

    Those are many-to-many links, which Django deletes with the record: the donation would
    silently lose a donor (and be counted without one) or a recipient. Listed as protected,
    the admin's delete page and action say why and delete nothing.
    """

    named_on = ()  # the reverse names of Donation's many-to-many fields to this model
    shown = 5

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        label = capfirst(Donation._meta.verbose_name)
        for obj in objs:
            for name in self.named_on:
                for donation in getattr(obj, name).all()[: self.shown]:
                    protected.append(
                        format_html(
                            "{}{}{}{}{}{}",
                            label,
                            punctuation.punct("："),
                            donation,
                            punctuation.punct("（"),
                            obj,
                            punctuation.punct("）"),
                        )
                    )
        return deleted, counts, perms_needed, protected


@admin.register(Region)
class RegionAdmin(NamedOnDonationsProtected, ImportMixin, RecordAdmin):
    form = forms.RegionForm
    named_on = ("donations_named_in",)
    import_kind = "regions"
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
        if request.GET.get("field_name") == "recipient_regions":
            # recipients are towns and villages; a county is a receiving region
            queryset = queryset.filter(level__gte=Region.Level.TOWN)
        return queryset.select_related(REGION_ANCESTORS), may_have_duplicates


class DonorKindListFilter(admin.ChoicesFieldListFilter):
    """The donors' kind, titled so: the field's own name, "kind", read as the donation's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("donor's kind")

    def get_facet_counts(self, pk_attname, filtered_qs):
        """Handovers, not donor links: a handover from two communities counts once."""
        counts = super().get_facet_counts(pk_attname, filtered_qs)
        for count in counts.values():
            count.distinct = True
        return counts


class PartnershipListFilter(admin.RelatedFieldListFilter):
    """The pairings as a tree to walk down, not every pairing at once (about 1,900 links at
    national scale, which no clerk can read, and 40 ms a page): with nothing chosen, the top
    pairings of the user's scope; with a pairing chosen, the pairings above it that the user
    sees (to go back up), itself and its child pairings. A pairing chosen lists its child
    pairings' records too, as the dashboard counts them (粤黔 holds 莞铜's handovers)."""

    template = "admin/partnerships/pairing_filter.html"

    def _chosen(self) -> list[Partnership]:
        """The pairings chosen (their ids and paths), read once for the offer and the list."""
        if not hasattr(self, "_chosen_pairings"):
            values = self.used_parameters.get(self.lookup_kwarg) or []
            try:  # ids, the same refusal on both databases (SQLite overflows past 64 bits)
                ids = [int(value) for value in values]
            except (TypeError, ValueError) as error:
                raise IncorrectLookupParameters(error) from error
            if not all(0 < pk < 2**63 for pk in ids):
                raise IncorrectLookupParameters(values)
            chosen = Partnership.objects.filter(pk__in=ids).only("path") if ids else []
            self._chosen_pairings = list(chosen)
        return self._chosen_pairings

    def queryset(self, request, queryset):
        if not self.used_parameters.get(self.lookup_kwarg):
            return super().queryset(request, queryset)
        subtrees = Q(pk__in=[])
        for chosen in self._chosen():
            subtrees |= Q(**{f"{self.field_path}__path__startswith": chosen.path})
        return queryset.filter(subtrees)

    def field_choices(self, field, request, model_admin):
        """The pairings offered, in the tree's order, read in one query however many there
        are; `self.tree` holds each one's depth in what is shown and whether it has children."""
        scope = access.scope_for(request.user)
        # The last pairing chosen that the user sees (Django's links choose one at a time).
        shown = next((p for p in reversed(self._chosen()) if scope.allows(p)), None)
        if shown is not None:
            above = path_prefixes(shown.path)
            # its children lie in its subtree, which the user sees whole
            offered = (Q(path__in=above) & scope.q("")) | Q(parent=shown.pk)
        elif scope.everything:
            offered = Q(parent=None)
        else:
            # the assigned pairings that lie below no other assigned one
            offered = Q(path__in=scope.roots)
        pairings = list(
            Partnership.objects.filter(offered)
            .annotate(has_children=Exists(Partnership.objects.filter(parent=OuterRef("pk"))))
            .select_related("helping_region", "assisted_region")
            .order_by("path")
        )
        # One chain and its children below the top one shown; tops of a scope side by side,
        # though a clerk's two assigned pairings may lie at different levels.
        top = min((pairing.path.count("/") for pairing in pairings), default=0)
        self.paths = {pairing.pk: pairing.path for pairing in pairings}
        self.tree = {
            pairing.pk: (pairing.path.count("/") - top if shown else 0, pairing.has_children)
            for pairing in pairings
        }
        return [(pairing.pk, str(pairing)) for pairing in pairings]

    def has_output(self):
        """Shown while a pairing is chosen or there is somewhere to go: another pairing, or
        one below the one shown (a clerk with one pairing walks down into its children)."""
        return (
            bool(self.lookup_val)
            or len(self.lookup_choices) > 1
            or any(has_children for _depth, has_children in self.tree.values())
        )

    def choices(self, changelist):
        """Django's, each pairing with its depth and whether it has children (the template
        indents and marks them)."""
        facet_counts = self.get_facet_queryset(changelist) if changelist.add_facets else None
        yield {
            "selected": self.lookup_val is None and not self.lookup_val_isnull,
            "query_string": changelist.get_query_string(
                remove=[self.lookup_kwarg, self.lookup_kwarg_isnull]
            ),
            "display": _("All"),
        }
        for pk, label in self.lookup_choices:
            depth, has_children = self.tree[pk]
            if facet_counts is not None:
                label = f"{label} ({facet_counts[f'{pk}__c']})"
            yield {
                "selected": self.lookup_val is not None and str(pk) in self.lookup_val,
                "query_string": changelist.get_query_string(
                    {self.lookup_kwarg: pk}, [self.lookup_kwarg_isnull]
                ),
                "display": label,
                "depth": depth,
                "has_children": has_children,
            }

    def get_facet_counts(self, pk_attname, filtered_qs):
        """With "show counts", each pairing counts its subtree, as choosing it lists."""
        return {
            f"{pk}__c": models.Count(
                pk_attname, filter=Q(**{f"{self.field_path}__path__startswith": self.paths[pk]})
            )
            for pk, _label in self.lookup_choices
        }


class ChildPartnershipInline(ScopedInline, admin.TabularInline):
    model = Partnership
    form = forms.GuardedModelForm
    formset = forms.ChildPartnershipFormSet
    fk_name = "parent"
    fields = [
        "name",
        "helping_region",
        "assisted_region",
        "established_year",
        "ended_on",
        "loaded_version",
    ]
    autocomplete_fields = ["helping_region", "assisted_region"]
    rows_with = (f"helping_region__{REGION_ANCESTORS}", f"assisted_region__{REGION_ANCESTORS}")
    extra = 0
    show_change_link = True
    verbose_name = _("child pairing")
    verbose_name_plural = _("child pairings")


@admin.register(Partnership)
class PartnershipAdmin(RecordAdmin):
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

    def save_related(self, request, form, formsets, change):
        """Its dates changed (ended on 2023-12-31 with handovers of 2024): says how many of
        its records now fall outside them, as each of them is told when saved."""
        super().save_related(request, form, formsets, change)
        if not {"established_on", "established_year", "ended_on"} & set(form.changed_data):
            return
        if count := records_outside_years(form.instance):
            self.message_user(
                request,
                ngettext(
                    "%(count)d visit, meeting or handover of this pairing is dated before it "
                    "was established or after it ended: check its date, or the pairing's.",
                    "%(count)d visits, meetings and handovers of this pairing are dated before "
                    "it was established or after it ended: check their dates, or the "
                    "pairing's.",
                    count,
                )
                % {"count": count},
                messages.WARNING,
            )


@admin.register(Organisation)
class OrganisationAdmin(NamedOnDonationsProtected, RecordAdmin):
    form = forms.OrganisationForm
    named_on = ("donations_given", "donations_received")
    list_display = ["name", "kind", "region"]
    list_filter = ["kind", "region__level"]
    search_fields = ["name", "region__name"]
    autocomplete_fields = ["region"]
    list_select_related = [f"region__{REGION_ANCESTORS}"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        form.follow_moved_recipient()


@admin.register(Person)
class PersonAdmin(RecordAdmin):
    list_display = ["name", "position", "organisation"]
    search_fields = ["name", "position", "organisation__name"]
    autocomplete_fields = ["organisation"]
    list_select_related = ["organisation"]


class VisitActivityInline(ScopedInline, admin.TabularInline):
    model = VisitActivity
    fields = ["position", "kind", "title", "date", "place", "description"]
    autocomplete_fields = ["place"]
    extra = 0
    # Six columns in one row: narrow boxes keep the visit page within the screen's width.
    formfield_overrides = {
        models.TextField: {"widget": django_forms.Textarea(attrs={"rows": 2, "cols": 16})},
        models.CharField: {"widget": django_forms.TextInput(attrs={"size": 14})},
        models.PositiveSmallIntegerField: {
            "widget": django_forms.NumberInput(attrs={"class": "vPositiveSmallIntegerField"})
        },
    }

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "place":
            getattr(field.widget, "widget", field.widget).attrs["data-width"] = "14em"
        return field


class MeetingInVisitInline(ScopedInline, admin.StackedInline):
    model = Meeting
    form = forms.GuardedModelForm
    formset = forms.HeldDuringVisitFormSet
    fields = [
        ("title", "date"),
        ("partnership", "venue"),
        "other_attendees",
        "agenda",
        "outcomes",
        "loaded_version",
    ]
    autocomplete_fields = ["partnership"]
    extra = 0
    show_change_link = True
    verbose_name_plural = _("meetings (participants are entered on each meeting's own page)")

    def get_queryset(self, request):
        # in date order, as the report and the dashboard list them, not newest first
        return super().get_queryset(request).order_by(*Meeting.IN_VISIT_ORDER)


class DonationInVisitInline(ScopedInline, admin.StackedInline):
    model = Donation
    form = forms.DonationInVisitForm
    formset = forms.HeldDuringVisitFormSet
    fields = [
        ("date", "partnership"),
        ("amount", "kind", "category", "funding"),
        "materials_description",
        "donors",
        "recipient_regions",
        "recipient_organisations",
        "region",
        "source",
        "loaded_version",
    ]
    autocomplete_fields = [
        "partnership",
        "donors",
        "recipient_regions",
        "recipient_organisations",
        "region",
    ]
    rows_prefetched = ("donors", "recipient_regions", "recipient_organisations")
    extra = 0
    show_change_link = True
    verbose_name_plural = _("donations handed over (itemise them on each donation's own page)")

    def get_queryset(self, request):
        # in date order, undated ones last, as the meetings above them (not newest first)
        return super().get_queryset(request).order_by(*Donation.IN_VISIT_ORDER)


class InspectionInline(ScopedInline, admin.TabularInline):
    model = Inspection
    fields = ["project", "note"]
    autocomplete_fields = ["project"]
    rows_with = ("project",)
    extra = 0
    verbose_name_plural = _("projects inspected (考察项目)")

    def get_queryset(self, request):
        # A visit may inspect a project of a pairing the user does not see (its parent's):
        # that row is neither shown nor changed nor deleted from here.
        return (
            super()
            .get_queryset(request)
            .filter(access.scope_for(request.user).q("project__partnership__"))
        )


# A file of the rows chosen in a list is named so ("…-选中的5条-…"): under the download's
# own name alone it could pass for the whole ledger or list.
def _selected(count: int) -> str:
    return ngettext("%(count)d selected", "%(count)d selected", count) % {"count": count}


def _nothing_chosen(modeladmin, request) -> None:
    """What Django's list says when no rows are chosen for an action."""
    modeladmin.message_user(
        request,
        _(
            "Items must be selected in order to perform actions on them. No items "
            "have been changed."
        ),
        messages.WARNING,
    )


@admin.action(description=_("Export the selected visits as CSV"))
def export_visits(modeladmin, request, queryset):
    ids = list(queryset.values_list("pk", flat=True))
    if not ids:  # only rows out of the user's scope chosen (ids sent by hand): no file of none
        return _nothing_chosen(modeladmin, request)
    summary = exports.visits(filters=reports.Filters(), visit_ids=ids, scope=_selected(len(ids)))
    return exports.csv_response(summary)


@admin.action(description=_("Export the selected donations' lines as CSV"))
def export_donations(modeladmin, request, queryset):
    ids = list(queryset.values_list("pk", flat=True))
    if not ids:
        return _nothing_chosen(modeladmin, request)
    summary = exports.ledger(filters=reports.Filters(), donation_ids=ids)
    summary.scope = _selected(len(ids))
    return exports.csv_response(summary)


SEARCHED_DATE = re.compile(r"(\d{4})(?:[-/.年](\d{1,2})(?:[-/.月](\d{1,2})日?|月)?|年)?")


def searched_dates(text: str) -> tuple[datetime.date, datetime.date] | None:
    """The first and last day of the year, month or day `text` writes, or None when it
    writes none (2023-02-30 is no day: it is searched for as text)."""
    match = SEARCHED_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(part) if part else None for part in match.groups())
    try:
        if day is not None:
            first = last = datetime.date(year, month, day)
        elif month is not None:
            first = datetime.date(year, month, 1)
            last = first.replace(day=calendar.monthrange(year, month)[1])
        else:
            first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    except ValueError:  # no such month or day, or year 0
        return None
    return first, last


@admin.register(Visit)
class VisitAdmin(RecordAdmin):
    form = forms.VisitForm
    actions = [export_visits]
    list_display = [
        "start_date",
        "end_date",
        "partnership",
        "direction",
        "leader",
        "delegation_size",
    ]
    list_filter = ["direction", "start_date", ("partnership", PartnershipListFilter)]
    search_fields = [
        "leader__name",
        "summary",
        "purpose",
        "partnership__name",
        "partnership__helping_region__name",
        "partnership__assisted_region__name",
    ]
    date_hierarchy = "start_date"
    autocomplete_fields = ["partnership", "leader", "members", "places"]
    list_select_related = [*PARTNERSHIP_NAMES, "leader"]
    inlines = [
        VisitActivityInline,
        InspectionInline,
        MeetingInVisitInline,
        DonationInVisitInline,
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "partnership",
                    "direction",
                    ("start_date", "end_date"),
                    "date_note",
                    "loaded_version",
                ]
            },
        ),
        (
            _("Delegation"),
            {"fields": ["leader", "members", ("delegation_size", "delegation_description")]},
        ),
        (_("Programme"), {"fields": ["places", "purpose", "summary", "source"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        # Autocomplete names each visit by its pairing: fetch them with the visits.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.select_related(*PARTNERSHIP_NAMES), may_have_duplicates

    def search_beyond_fields(self, bit):
        # Staff choose a meeting's or a handover's visit by its date, written as they write
        # dates: 2023, 2023年1月, 2023-01-10, 2023.1.10, 2023年1月10日. A visit is found by
        # any day of its span.
        span = searched_dates(bit)
        if span is None:
            return None
        first, last = span
        return Q(start_date__lte=last, end_date__gte=first)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for donation in form.instance.donations.all():
            donation.rebalance()


class MeetingParticipantInline(ScopedInline, admin.TabularInline):
    model = MeetingParticipant
    formset = forms.MeetingParticipantFormSet
    fields = ["person", "role", "remarks"]
    autocomplete_fields = ["person"]
    rows_with = ("person",)
    extra = 1


@admin.register(Meeting)
class MeetingAdmin(RecordAdmin):
    list_display = ["title", "date", "year", "partnership", "venue", "visit"]
    list_filter = ["year", ("partnership", PartnershipListFilter)]
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
        "loaded_version",
        "title",
        ("partnership", "visit"),
        ("date", "venue"),
        "other_attendees",
        "agenda",
        "outcomes",
        "source",
    ]


class DonationLineInline(ScopedInline, admin.TabularInline):
    model = DonationLine
    formset = forms.DonationLineFormSet
    fields = ["amount", "region", "recipient_organisation", "donor", "note"]
    autocomplete_fields = ["region", "recipient_organisation", "donor"]
    extra = 0
    verbose_name = _("itemised line")
    verbose_name_plural = _(
        "itemised lines (what is not itemised is counted at the receiving region)"
    )

    # The not-itemised line is kept by the model (Donation.rebalance), not entered.
    history_q = Q(is_itemised=True)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(is_itemised=True)
            .select_related(f"region__{REGION_ANCESTORS}", "recipient_organisation", "donor")
        )


class YearListFilter(admin.SimpleListFilter):
    """Years from the first to the last with donations: two index lookups, where the built-in
    filter would read every donation for its distinct years."""

    title = _("year")
    parameter_name = "year"

    def lookups(self, request, model_admin):
        bounds = model_admin.get_queryset(request).aggregate(low=Min("year"), high=Max("year"))
        low, high = bounds["low"], bounds["high"]
        if low is None:
            return []
        return [(str(year), str(year)) for year in range(high, low - 1, -1)]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        try:
            return queryset.filter(year=int(value))
        except (TypeError, ValueError, OverflowError):
            return queryset.none()


# The donations list names this many donors of a handover, then says how many more.
DONORS_LISTED = 3


@admin.register(Donation)
class DonationAdmin(ImportMixin, RecordAdmin):
    import_kind = "donations"
    actions = [export_donations]
    form = forms.DonationForm
    # "12 of 1,000,000" would count every donation a second time on each filtered page.
    show_full_result_count = False
    # Short cells, so that the list fits an office screen (1280 px): the day or year as the
    # link, the place's own name (its path in a tooltip), the first donors and how many more.
    list_display = [
        "handed_over",
        "partnership",
        "amount_display",
        "kind",
        "category",
        "funding_short",
        "region_name",
        "donor_names",
    ]
    list_filter = [
        YearListFilter,
        "kind",
        "category",
        "funding",
        ("partnership", PartnershipListFilter),
        ("donors__kind", DonorKindListFilter),
    ]
    search_fields = [
        "donors__name",
        "recipient_regions__name",
        "recipient_organisations__name",
        "region__name",
        "source",
    ]
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
    readonly_fields = ["not_itemised"]
    fieldsets = [
        (None, {"fields": [("partnership", "visit"), "date", "loaded_version"]}),
        (
            _("What was given"),
            {
                "fields": [
                    ("amount", "not_itemised"),
                    ("kind", "category", "funding"),
                    "materials_description",
                ]
            },
        ),
        (
            _("Who gave it to whom"),
            {"fields": ["donors", "recipient_regions", "recipient_organisations", "region"]},
        ),
        (_("Source"), {"fields": ["source", "notes"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(reports.in_recorded_order("donors", Organisation))
        )

    @admin.display(description=_("amount (yuan)"), ordering="amount")
    def amount_display(self, donation):
        return f"{donation.amount:,.2f}"

    @admin.display(description=_("not itemised (yuan)"))
    def not_itemised(self, donation):
        """The rest of the amount the lines leave, as the model keeps it in the not-itemised
        line (Donation.rebalance) and the dashboard counts it at the receiving region."""
        if donation.pk is None or getattr(donation, "_history", None) is not None:
            # nothing saved yet; a past version's lines are not kept with it
            return "—"
        rest = donation.lines.filter(is_itemised=False).values_list("amount", flat=True).first()
        return f"{rest or Decimal(0):,.2f}"

    @admin.display(description=_("date"), ordering="date")
    def handed_over(self, donation):
        if donation.date is None:
            return _("%(year)s (day not reported)") % {"year": donation.year}
        # kept on one line (admin.css); the longer "year only" note may wrap
        return format_html(
            '<span class="day">{}</span>', formats.date_format(donation.date, "SHORT_DATE_FORMAT")
        )

    # The list's column says fiscal or social in a word; the full label shows on hover, as
    # in the filter. "社会帮扶资金及物资" took the width the donors' names wrap in.
    FUNDING_SHORT = {
        Funding.FISCAL: _("fiscal"),
        Funding.SOCIAL: _("social"),
        # not "not split": the kind's "funds and materials (not split)" means another thing
        Funding.UNSPLIT: _("not stated"),
    }

    @admin.display(description=_("fiscal or social"), ordering="funding")
    def funding_short(self, donation):
        return format_html(
            '<span title="{}">{}</span>',
            donation.get_funding_display(),
            self.FUNDING_SHORT[donation.funding],
        )

    @admin.display(description=_("receiving region"), ordering="region__name")  # the form's
    def region_name(self, donation):
        return format_html('<span title="{}">{}</span>', donation.region, donation.region.name)

    @admin.display(description=_("donors"))
    def donor_names(self, donation):
        donors = [donor.name for donor in donation.donors.all()]
        more = len(donors) - DONORS_LISTED
        if more <= 1:  # "and 1 more" is no shorter than the name
            return punctuation.joined(donors)
        names = punctuation.joined(donors[:DONORS_LISTED])
        text = ngettext("%(names)s and %(count)s more", "%(names)s and %(count)s more", more)
        return text % {"names": names, "count": more}

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.rebalance()

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        # Each deleted donation refreshes its summary key; collect them and refresh once.
        with summary.deferred():
            super().delete_queryset(request, queryset)


def _without_browser(columns) -> list[str]:
    """django-axes' list columns without the browser's long identification string, which
    pushed the counts and status off an office screen; each record's page still shows it."""
    return [column for column in columns if column != "user_agent"]


class SignInAttemptAdmin(GuardsRequests, AccessAttemptAdmin):
    """django-axes' list of sign-in attempts, its status column named and counted in the
    user's language ("STATUS", "3 Attempt Remaining")."""

    list_display = _without_browser(AccessAttemptAdmin.list_display)

    @admin.display(description=_("status"))
    def status(self, obj):
        remaining = settings.AXES_FAILURE_LIMIT - obj.failures_since_start
        if remaining > 0:
            return ngettext("%(count)d attempt left", "%(count)d attempts left", remaining) % {
                "count": remaining
            }
        return _("Locked Out")


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, SignInAttemptAdmin)


class SignInFailureAdmin(GuardsRequests, AccessFailureLogAdmin):
    list_display = _without_browser(AccessFailureLogAdmin.list_display)


class SignInLogAdmin(GuardsRequests, AccessLogAdmin):
    list_display = _without_browser(AccessLogAdmin.list_display)


for _model, _model_admin in ((AccessFailureLog, SignInFailureAdmin), (AccessLog, SignInLogAdmin)):
    if admin.site.is_registered(_model):  # as django-axes' settings have it
        admin.site.unregister(_model)
        admin.site.register(_model, _model_admin)


class RoleUserAdmin(DeletionInWords, GuardsRequests, UserAdmin):
    """Accounts get their rights from the four roles (access.setup_roles), not one by one.

    Django's list of some 300 single permissions, named in English as the database stores them,
    is left off the form unless the account already holds some (they would otherwise act
    unseen); the roles say in both languages what each may do."""

    # Set by signing in and joining, not typed: the form's copy (to the second) read as
    # changed on every save, and put back an older sign-in time over a newer one.
    readonly_fields = ["last_login", "date_joined"]

    def construct_change_message(self, request, form, formsets, add=False):
        """Django's log said "changed groups": which role was given or taken away, and so who
        made this account an administrator, could not be found. Each is named."""
        message = super().construct_change_message(request, form, formsets, add)
        if add or "groups" not in form.changed_data:
            return message
        before = {group.pk: group for group in form.initial.get("groups") or ()}
        after = {group.pk: group for group in form.cleaned_data.get("groups") or ()}
        # the roles named instead of Django's "changed groups"
        with translation.override(None):  # as Django keeps the fields' names
            label = str(form["groups"].label)
        for part in message:
            fields = part.get("changed", {}).get("fields")
            if fields and label in fields:
                fields.remove(label)
        message = [part for part in message if part.get("changed", {}).get("fields", True)]
        name = gettext_noop("role")  # translated when the log is read, as Django's names are
        for group in sorted(set(after) - set(before)):
            message.append({"added": {"name": name, "object": str(after[group])}})
        for group in sorted(set(before) - set(after)):
            message.append({"deleted": {"name": name, "object": str(before[group])}})
        return message

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Staff and administrators work in the admin, which signs in only accounts with staff
        # status: without it, their right password was refused as a wrong one.
        account = form.instance
        roles = account.groups.filter(name__in=[access.ADMINISTRATOR, access.DATA_ENTRY])
        if not account.is_staff and roles.exists():
            account.is_staff = True
            account.save(update_fields=["is_staff"])
            self.message_user(
                request,
                _(
                    "Staff status was given to %(user)s: their role works in the admin, "
                    "which needs it."
                )
                % {"user": account.get_username()},
                messages.WARNING,
            )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        left_out = set()
        if obj is None or not obj.user_permissions.exists():
            left_out.add("user_permissions")
        if not request.user.is_superuser:
            left_out.add("is_superuser")  # an administrator cannot make anyone a superuser
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in left_out]})
            for name, options in fieldsets
        ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        return permission_choices(formfield) if db_field.name == "user_permissions" else formfield

    # A superuser's account (its password, its roles, its status) is changed by a superuser
    # only: an administrator could otherwise take it over. Administrators still see it.
    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, RoleUserAdmin)

# A permission's action, by its codename's first word, as the admin names it.
PERMISSION_ACTIONS = {
    "add": _("Add %(model)s"),
    "change": _("Change %(model)s"),
    "delete": _("Delete %(model)s"),
    "view": _("View %(model)s"),
}


def permission_label(permission: Permission) -> str:
    """A permission in the user's language ("添加地区"), where the database keeps Django's
    English ("Can add region"). One of the app's own (view_all_pairings, which is no "view"
    of a model) is its name, translated."""
    action = permission.codename.split("_", 1)[0]
    model = permission.content_type.model_class()
    if (
        model is None
        or action not in PERMISSION_ACTIONS
        or permission.codename != f"{action}_{model._meta.model_name}"
    ):
        return gettext(permission.name)
    return str(PERMISSION_ACTIONS[action] % {"model": model._meta.verbose_name})


def shown_permissions(queryset):
    """Permissions as a group's or an account's page lists them: without those of the audit
    trail's history tables, which the roles grant with their records and nobody picks."""
    return queryset.exclude(content_type__model__startswith="historical").select_related(
        "content_type"
    )


def permission_choices(formfield):
    """A field choosing permissions, as shown_permissions lists them and in the user's
    language (a group's, or an account's single permissions)."""
    formfield.queryset = shown_permissions(formfield.queryset)
    formfield.label_from_instance = permission_label
    return formfield


class RoleGroupAdmin(DeletionInWords, GuardsRequests, GroupAdmin):
    """The four roles are the app's (access.setup_roles), set again after every `migrate`: a
    change or deletion made here would hold until the next update and then silently be
    undone. Their pages are to read, and say so; groups of an administrator's own may be
    changed. Permissions are named in the user's language."""

    readonly_fields = ["permission_list"]

    def get_actions(self, request):
        """Without "delete selected", which would delete roles (it asks has_delete_permission
        of no one group): a group is deleted on its own page."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @staticmethod
    def is_role(group) -> bool:
        return group is not None and group.name in access.ROLE_PERMISSIONS

    def has_change_permission(self, request, obj=None):
        return not self.is_role(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self.is_role(obj) and super().has_delete_permission(request, obj)

    def get_fields(self, request, obj=None):
        if self.is_role(obj):
            return ["name", "permission_list"]
        return ["name", "permissions"]

    @admin.display(description=_("permissions"))
    def permission_list(self, group):
        labels = sorted(
            permission_label(permission) for permission in shown_permissions(group.permissions)
        )
        return punctuation.joined(labels) if labels else "—"

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        return permission_choices(formfield) if db_field.name == "permissions" else formfield

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        group = (getattr(response, "context_data", None) or {}).get("original")
        if request.method == "GET" and self.is_role(group):
            self.message_user(
                request,
                _(
                    "This role is the application's own: it is set again with every update, "
                    "so it cannot be changed or deleted here. Give accounts their rights by "
                    "their roles; for other rights, add a group of your own."
                ),
                messages.INFO,
            )
        return response


admin.site.unregister(Group)
admin.site.register(Group, RoleGroupAdmin)


@admin.register(Assignment)
class AssignmentAdmin(GuardsRequests, SearchByShownNames, ReadOnlyHistoryAdmin):
    def history_view(self, request, object_id, extra_context=None):
        """An assignment made before assignments had an audit trail (migration 0046) has
        only Django's log of the admin's actions: shown as before, not as no history."""
        pk = _pk_of(self.model, object_id)
        try:
            older = (
                not self.model.history.filter(id=pk).exists()
                and self.model._default_manager.filter(pk=pk).exists()
            )
        except OverflowError as error:  # a number too large for the column
            raise Http404 from error
        if older:
            response = admin.ModelAdmin.history_view(self, request, object_id, extra_context)
            if isinstance(response, TemplateResponse):  # not rendered yet: Django's template
                response.template_name = "admin/object_history.html"
            return response
        return super().history_view(request, object_id, extra_context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # a user or pairing id posted as "abc" is refused by the form, not a 500
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = TolerantAutocompleteSelect(db_field, self.admin_site)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    list_display = ["user", "partnership"]
    list_filter = [("partnership", PartnershipListFilter)]
    search_fields = [
        "user__username",
        "partnership__name",
        "partnership__helping_region__name",
        "partnership__assisted_region__name",
    ]
    autocomplete_fields = ["user", "partnership"]
    list_select_related = [
        "user",
        *(f"partnership__{n}" for n in ("helping_region", "assisted_region")),
    ]


@admin.register(LockedYear)
class LockedYearAdmin(GuardsRequests, ReadOnlyHistoryAdmin):
    holds_locked_years_alone = True  # sites.PartnershipsAdminSite.admin_view
    list_display = ["year", "locked_at", "locked_by_name", "note"]
    list_select_related = ["locked_by"]
    fields = ["year", "note"]

    @admin.display(description=LockedYear._meta.get_field("locked_by").verbose_name)
    def locked_by_name(self, locked):
        # by name, as the audit trail names who changed what
        return history.user_name(locked.locked_by) if locked.locked_by else None

    def save_model(self, request, obj, form, change):
        if not change:
            obj.locked_by = request.user
        super().save_model(request, obj, form, change)

    # An unlocked year's row is gone from the list: who unlocked it, and when, was only at
    # its old id's history page, which nothing linked to. The latest unlockings are listed
    # below the locked years.
    UNLOCKINGS_SHOWN = 20

    def changelist_view(self, request, extra_context=None):
        unlockings = (
            LockedYear.history.filter(history_type="-")
            .select_related("history_user")
            .order_by("-history_date", "-history_id")[: self.UNLOCKINGS_SHOWN]
        )
        rows = [
            {
                "year": record.year,
                "when": record.history_date,
                "who": history.user_name(record.history_user) if record.history_user else None,
                "history_url": reverse("admin:partnerships_lockedyear_history", args=[record.id]),
            }
            for record in unlockings
        ]
        extra_context = {**(extra_context or {}), "unlockings": rows}
        return super().changelist_view(request, extra_context)


@admin.register(Posting)
class PostingAdmin(RecordAdmin):
    list_display = [
        "__str__",
        "kind",
        "partnership",
        "direction",
        "headcount_display",
        "start_date",
        "end_date",
        "known_on",
    ]
    list_filter = ["kind", "direction", "year", ("partnership", PartnershipListFilter)]
    search_fields = ["person__name", "host_region__name", "host_organisation__name", "notes"]
    autocomplete_fields = [
        "partnership",
        "known_during",
        "person",
        "sending_organisation",
        "host_organisation",
        "host_region",
    ]
    list_select_related = [*PARTNERSHIP_NAMES, "person", "host_region"]
    fieldsets = [
        (None, {"fields": ["partnership", ("kind", "direction"), "loaded_version"]}),
        (
            _("Who"),
            {"fields": [("person", "headcount"), ("sending_organisation", "host_organisation")]},
        ),
        (
            _("Where and when"),
            {"fields": ["host_region", ("start_date", "end_date"), ("known_on", "known_during")]},
        ),
        (_("Source"), {"fields": ["source", "notes"]}),
    ]

    @admin.display(description=_("number of people"), ordering="headcount")
    def headcount_display(self, posting):
        return _("not reported") if posting.headcount is None else posting.headcount


class ProjectFundsInline(ScopedInline, admin.TabularInline):
    model = ProjectFunds
    form = forms.LockedYearForm
    formset = forms.ProjectFundsFormSet
    fields = ["year", "committed", "spent"]
    rows_with = ("project",)
    extra = 0


class InspectedByInline(ScopedInline, admin.TabularInline):
    """The visits that inspected a project; they are added on the visit's page."""

    model = Inspection
    fields = ["named_visit", "note"]
    readonly_fields = ["named_visit", "note"]
    extra = 0
    can_delete = False
    verbose_name_plural = _("inspected during (add inspections on the visit's page)")
    rows_with = ("project",)
    history_shown = False  # entered on the visit's page, and listed in its history

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # A project may be inspected by a visit of a pairing the user does not see.
        return (
            super()
            .get_queryset(request)
            .filter(access.scope_for(request.user).q("visit__partnership__"))
            .select_related(*(f"visit__{n}" for n in PARTNERSHIP_NAMES), "visit__leader")
            .annotate(
                visit_has_namesake=Exists(
                    Visit.objects.filter(
                        partnership=OuterRef("visit__partnership"),
                        start_date=OuterRef("visit__start_date"),
                    ).exclude(pk=OuterRef("visit_id"))
                )
            )
        )

    @admin.display(description=Inspection._meta.get_field("visit").verbose_name)
    def named_visit(self, inspection: Inspection) -> str:
        """The visit, linked, named as the pickers name it (Visit.unambiguous_name): two
        delegations of the pairing that started the same day read alike as Django names them."""
        visit = inspection.visit
        visit.has_namesake = inspection.visit_has_namesake
        url = reverse("admin:partnerships_visit_change", args=[visit.pk])
        return format_html('<a href="{}">{}</a>', url, visit.unambiguous_name)


@admin.register(AidProject)
class AidProjectAdmin(RecordAdmin):
    list_display = ["name", "partnership", "region", "category", "status", "start_year"]
    list_filter = ["status", "category", "start_year", ("partnership", PartnershipListFilter)]
    search_fields = ["name", "region__name", "description"]
    autocomplete_fields = ["partnership", "region"]
    list_select_related = [*PARTNERSHIP_NAMES, f"region__{REGION_ANCESTORS}"]
    inlines = [ProjectFundsInline, InspectedByInline]
    fieldsets = [
        (None, {"fields": ["partnership", "name", "region", "category", "loaded_version"]}),
        (
            _("Progress"),
            {"fields": [("status", "status_as_of"), ("start_year", "completed_on")]},
        ),
        (_("Source"), {"fields": ["description", "source"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.select_related("region"), may_have_duplicates


@admin.register(VillageEnterprisePair)
class VillageEnterprisePairAdmin(RecordAdmin):
    list_display = ["__str__", "partnership", "start_date", "end_date", "known_on", "meeting"]
    list_filter = ["year", ("partnership", PartnershipListFilter)]
    search_fields = ["organisation__name", "village__name", "notes"]
    autocomplete_fields = ["partnership", "organisation", "village", "meeting", "known_during"]
    list_select_related = [*PARTNERSHIP_NAMES, "organisation", "village", "meeting"]
    fields = [
        "loaded_version",
        "partnership",
        ("organisation", "village"),
        ("start_date", "end_date"),
        ("known_on", "known_during"),
        "meeting",
        "source",
        "notes",
    ]


@admin.register(CooperationResult)
class CooperationResultAdmin(RecordAdmin):
    list_display = [
        "partnership",
        "period_start",
        "period_end",
        "workers_employed",
        "formerly_poor_employed",
        "purchases",
        "enterprises_invested",
        "investment",
        "industrial_parks",
    ]
    list_filter = ["year", ("partnership", PartnershipListFilter)]
    search_fields = [
        "partnership__name",
        "partnership__helping_region__name",
        "partnership__assisted_region__name",
        "source",
    ]
    autocomplete_fields = ["partnership"]
    list_select_related = PARTNERSHIP_NAMES
    fieldsets = [
        (None, {"fields": ["partnership", ("period_start", "period_end"), "loaded_version"]}),
        (
            _("Labour cooperation (劳务协作)"),
            {"fields": [("workers_employed", "formerly_poor_employed")]},
        ),
        (_("Consumption aid (消费帮扶)"), {"fields": ["purchases"]}),
        (
            _("Industrial cooperation (产业协作)"),
            {"fields": [("enterprises_invested", "investment"), "industrial_parks"]},
        ),
        (_("Source"), {"fields": ["source", "notes"]}),
    ]


@admin.register(AnnualTarget)
class AnnualTargetAdmin(RecordAdmin):
    list_display = ["partnership", "year", "indicator", "value_display"]
    list_filter = ["year", "indicator", ("partnership", PartnershipListFilter)]
    search_fields = [
        "partnership__name",
        "partnership__helping_region__name",
        "partnership__assisted_region__name",
        "source",
    ]
    autocomplete_fields = ["partnership"]
    list_select_related = PARTNERSHIP_NAMES
    fields = ["loaded_version", "partnership", ("year", "indicator"), ("amount", "count"), "source"]

    @admin.display(description=_("target"))
    def value_display(self, target):
        value = target.value
        if target.amount is not None:
            return f"{value:,.2f}"
        return value
