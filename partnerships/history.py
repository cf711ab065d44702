"""The audit trail as staff read it on a record's history page.

django-simple-history lists a record's versions and what each changed. Here the changes read
as the record was entered (choice labels, names, 1,050,000.00, dates in the page's language,
"—" for nothing) rather than as stored values, and the rows entered on the record's own page
(a donation's lines, a meeting's participants, a visit's meetings and handovers…) have their
changes listed below its own.
"""

from __future__ import annotations

import datetime
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q
from django.forms.models import _get_foreign_key
from django.utils import formats
from django.utils.html import conditional_escape
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from simple_history.models import DeletedObject, ModelChange
from simple_history.template_utils import HistoricalRecordContextHelper

from . import punctuation
from .models import REGION_ANCESTORS, HeldDuringVisit, Organisation, Region, Visit

# A record's page lists the latest changes of each kind of row entered on it, at most this many
# (as many as the library shows of its own versions on one page).
CHILD_ROWS_SHOWN = 100
NOTHING = "—"


# A name written in Chinese characters runs family name and given name together (张三).
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")  # with rare surnames


def user_name(user) -> str:
    """Who did it, as colleagues know them: family name then given name, as Chinese names are
    written (张三; Zhang San in Latin letters), or the username when no name is set. Staff
    read the audit trail to know whom to ask, and "zhangs02" does not tell them."""
    family, given = user.last_name.strip(), user.first_name.strip()
    if not (family or given):
        return user.get_username()
    separator = "" if HAN.search(family + given) else " "
    return separator.join(part for part in (family, given) if part)


def readable(field: models.Field, value: Any) -> str:
    """A stored value as the admin's form showed it."""
    if isinstance(value, list):  # many-to-many: the related objects, some since deleted
        return punctuation.joined(readable(field, item) for item in value) or NOTHING
    if value is None or value == "" or (isinstance(value, DeletedObject) and value.pk is None):
        return NOTHING  # an empty foreign key comes as a "deleted" object without a key
    if isinstance(value, DeletedObject):
        return _("%(kind)s no. %(id)s, since deleted") % {
            "kind": capfirst(value.model._meta.verbose_name),
            "id": value.pk,
        }
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, datetime.datetime):
        return formats.date_format(value, "DATETIME_FORMAT")
    if isinstance(value, datetime.date):
        return formats.date_format(value)
    return str(value)


class ReadableChanges(HistoricalRecordContextHelper):
    def prepare_delta_change_value(self, change, value):
        # Many-to-many values come as the related objects (_m2m_values), not the library's rows.
        return readable(self.model._meta.get_field(change.field), value)

    def stringify_delta_change_values(self, change, old, new):
        # Whole values: the library's shortening ("江[53 chars]县") hides what changed.
        return conditional_escape(old), conditional_escape(new)


def label(record, visit_years: dict[Any, int] | None = None) -> str:
    """The version's record named as the admin names it, without a query for each related
    row the history query already read, and without failing when one has since been deleted
    (a participant's person, an inspection's project).

    The audit trail keeps no stored year: a version without a day takes its visit's year as
    the visit is now (from `visit_years`, visit id -> year; a visit moved since moves it too),
    so it is named "2023 年 …元" as on every other page."""
    instance = record.history_object
    if isinstance(instance, HeldDuringVisit):
        if instance.date is not None:
            instance.year = instance.date.year
        elif visit_years:
            instance.year = visit_years.get(instance.visit_id)
    for name, related in record._state.fields_cache.items():
        if related is not None:
            instance._state.fields_cache[name] = related
    try:
        return str(instance)
    except ObjectDoesNotExist:
        return f"{capfirst(instance._meta.verbose_name)} {instance.pk}"


def _years_of_undated_visits(model: type[models.Model], records: Sequence) -> dict[Any, int]:
    """The year each visit of a version without a day falls in (its start's, as `save` stores
    it), in one query. A visit since deleted is missing: the version then reads "undated"."""
    if not issubclass(model, HeldDuringVisit):
        return {}
    visits = {record.visit_id for record in records if record.date is None and record.visit_id}
    if not visits:
        return {}
    return dict(Visit.objects.filter(pk__in=visits).values_list("pk", "start_date__year"))


def _m2m_values(model: type[models.Model], records: Sequence) -> dict[str, dict[Any, list]]:
    """For each many-to-many field with an audit trail, each version's related objects
    (history id -> objects, in the order pages list them): two queries a field for all
    versions.

    The library's diff_against reads them with two queries a field for each pair compared."""
    if not records:
        return {}
    ids = [record.history_id for record in records]
    values = {}
    for field in getattr(records[0], "_history_m2m_fields", []):
        through = getattr(records[0], field.name).model  # the versions' copy of the through rows
        target = field.m2m_reverse_field_name()
        target_id = through._meta.get_field(target).attname
        rows = list(through.objects.filter(history_id__in=ids).values_list("history_id", target_id))
        model = field.related_model
        # donors and recipients in the order they were entered, as every page and download
        # lists them (reports.in_recorded_order); others in their model's order
        ordering = ["pk"] if model in (Organisation, Region) else model._meta.ordering
        objects = model._base_manager.order_by(*(ordering or ["pk"]))
        if model is Region:  # named with their county and province
            objects = objects.select_related(REGION_ANCESTORS)
        related = objects.in_bulk({pk for _id, pk in rows})
        order = {pk: index for index, pk in enumerate(related)}
        by_version: dict[Any, list] = {history_id: [] for history_id in ids}
        for history_id, pk in rows:
            by_version[history_id].append(related.get(pk) or DeletedObject(model, pk))
        for objects in by_version.values():
            objects.sort(key=lambda obj: (order.get(obj.pk, len(order)), str(obj.pk)))
        values[field.name] = by_version
    return values


def form_showing_links_of(version, init):
    """A form's __init__ that shows the many-to-many links `version` kept: Django fills
    them in from the record as it is now, so a past version read its members, donors and
    recipients of today."""

    def __init__(form, *args, **kwargs):
        init(form, *args, **kwargs)
        _disable(form)
        for name, by_version in _m2m_values(type(version), [version]).items():
            if name in form.fields:
                # a related object deleted since has no choice to show
                form.initial[name] = [
                    obj.pk
                    for obj in by_version[version.history_id]
                    if not isinstance(obj, DeletedObject)
                ]

    return __init__


def _disable(form) -> None:
    """A past version's boxes shown as such: greyed and not to be typed in (the page has no
    button to save them, and a page sent back is refused)."""
    for field in form.fields.values():
        field.disabled = True


def m2m_tracked(model: type[models.Model]) -> list:
    """The many-to-many fields whose values each version of `model` keeps."""
    manager_name = getattr(model._meta, "simple_history_manager_attribute", None)
    if manager_name is None:
        return []
    return list(getattr(getattr(model, manager_name).model, "_history_m2m_fields", []))


def name_link_rows() -> None:
    """Name the rows of this app's many-to-many links by what they link ("江口县 visit of
    2023-01-10: 黄淦洪") rather than "Visit_members object (3)": the admin lists them when
    deleting a record another record links to (a person named in a visit's delegation)."""
    from django.apps import apps

    for model in apps.get_app_config("partnerships").get_models():
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            if not through._meta.auto_created:
                continue
            source, target = field.m2m_field_name(), field.m2m_reverse_field_name()

            def __str__(row, source=source, target=target) -> str:
                return f"{getattr(row, source)}{punctuation.punct('：')}{getattr(row, target)}"

            through.__str__ = __str__


# Where remember_version puts the version a save recorded, on the instance saved.
SAVED_VERSION = "_saved_version"


def remember_version(sender, instance, history_instance, **kwargs) -> None:
    """post_create_historical_record: the version this save recorded, for snapshot_m2m (the
    newest by date may be another server's, whose clock runs ahead)."""
    setattr(instance, SAVED_VERSION, history_instance)


def snapshot_m2m(instance: models.Model) -> None:
    """Give the version the record's last save recorded the many-to-many values it has now.

    The admin saves a record, which records a version with the links it had before, then
    its links, each change of which would record a version of its own: swapping a donor made
    one version without either donor, then one with the new one. links_in_one_version stops
    those and calls this instead, so one save is one version, as entered. The version is
    used once: a later call without a new save leaves the old versions alone."""
    record = instance.__dict__.pop(SAVED_VERSION, None)
    if record is None:  # the save recorded no version (history switched off)
        return
    for field in record._history_m2m_fields:
        kept = getattr(record, field.name).model  # the versions' copy of the through rows
        through = field.remote_field.through
        names = [f.attname for f in through._meta.concrete_fields]
        rows = through.objects.filter(**{field.m2m_field_name(): instance.pk}).values(*names)
        kept.objects.filter(history=record).delete()
        kept.objects.bulk_create([kept(history=record, **row) for row in rows])


@contextmanager
def links_in_one_version(instance: models.Model) -> Iterator[None]:
    """Set the just-saved record's many-to-many links inside this block: their changes record
    no versions of their own, and the save's version gets the links as set (snapshot_m2m).
    Used wherever a record is saved and then linked: the admin, imports, the demo loaders."""
    instance.skip_history_when_saving = True  # django-simple-history's switch
    try:
        yield
    finally:
        del instance.skip_history_when_saving
    snapshot_m2m(instance)


def set_deltas(
    model: type[models.Model],
    records: Sequence,
    m2m: dict[str, dict] | None = None,
    visit_years: dict[Any, int] | None = None,
) -> None:
    """Give each record (newest first, all of one object) its `label` and
    `history_delta_changes`: what it changed against the record before it, readable. The
    oldest one changed nothing it can be compared with. `m2m`: _m2m_values of these records
    (or more), and `visit_years`: _years_of_undated_visits of them (or more), when the
    caller has read them already."""
    if visit_years is None:
        visit_years = _years_of_undated_visits(model, records)
    for record in records:
        record.label = label(record, visit_years)
    if m2m is None:
        m2m = _m2m_values(model, records)
    deltas = []
    for newer, older in itertools.pairwise(records):
        if newer.history_type == "-":
            # A deletion changed no field: its links, gone with it, read as edits ("捐赠方：
            # 某公司 → —"). The action column says 已删除; the version before, what it was.
            newer.history_delta_changes = []
            newer.unchanged = False
            continue
        # Only fields staff edit are compared: not the `version` counter, paths or stored years.
        delta = newer.diff_against(older, excluded_fields=m2m, foreign_keys_are_objs=True)
        for name, by_version in m2m.items():
            old, new = by_version[older.history_id], by_version[newer.history_id]
            if [obj.pk for obj in old] != [obj.pk for obj in new]:
                delta.changes.append(ModelChange(name, old, new))
                delta.changed_fields.append(name)
        delta.changes.sort(key=lambda change: change.field)
        deltas.append((newer, delta))
    named = _regions_named(deltas)
    for newer, delta in deltas:
        delta.changes[:] = [
            ModelChange(change.field, named(change.old), named(change.new))
            for change in delta.changes
        ]
        newer.history_delta_changes = ReadableChanges(model, newer).context_for_delta_changes(delta)
        # A save that changed nothing staff enter: said so, rather than an empty cell.
        newer.unchanged = newer.history_type == "~" and not newer.history_delta_changes


def _regions_named(deltas: list) -> Callable[[Any], Any]:
    """The regions the changes name (a handover's receiving region, an activity's place),
    read again with their parents in one query: each is named by its full name, which walked
    up its parents a query a level, for each version (a visit's history grew by eight queries
    for each activity)."""
    ids = {
        value.pk
        for _newer, delta in deltas
        for change in delta.changes
        for value in (change.old, change.new)
        if isinstance(value, Region)
    }
    regions = Region.objects.select_related(REGION_ANCESTORS).in_bulk(ids) if ids else {}

    def named(value: Any) -> Any:
        return regions.get(value.pk, value) if isinstance(value, Region) else value

    return named


@dataclass
class ChildHistory:
    title: str
    records: list
    more: int  # changes not shown, beyond CHILD_ROWS_SHOWN


def _with_linked_records(rows, historical: type[models.Model]):
    """`rows` of a historical model with the records their keys name, each key's fetched
    apart, in as many queries whatever their number. Joined (simple-history's
    select_related), the rows whose record is gone were dropped: the rows' own filter on
    their page's key (a meeting's visit) makes an inner join, which the select_related then
    reuses, so the activities of a deleted visit, the funds of a deleted project, a meeting
    moved from a visit since deleted vanished from its history. A deleted record is missing
    (label names the row without it)."""
    keys = [field for field in historical.tracked_fields if isinstance(field, models.ForeignKey)]
    return rows.prefetch_related(*(key.name for key in keys))


def child_histories(
    parent: type[models.Model],
    inlines: Iterable,
    object_id,
    visible: Callable[[type], Q],
    since=None,
) -> list:
    """The changes of the rows entered on the parent's page, one list per inline with an
    audit trail: newest first, each with what it changed. A row since deleted shows too.

    `inlines` are the inline admins the user has; `visible(model)` narrows a model's history
    to the rows the user may see (their pairings). An inline may narrow it further with
    `history_q` (a donation's lines: not the not-itemised line the model keeps itself) or
    leave it out with `history_shown = False` (rows entered on another record's page).
    `since`: no change from before then (the parent came into the user's scope then)."""
    histories = []
    for inline in inlines:
        model = inline.model
        manager_name = getattr(model._meta, "simple_history_manager_attribute", None)
        if manager_name is None or not getattr(inline, "history_shown", True):
            continue
        key = _get_foreign_key(parent, model, fk_name=inline.fk_name)
        manager = getattr(model, manager_name)
        rows = (
            manager.filter(
                visible(model), getattr(inline, "history_q", Q()), **{key.attname: object_id}
            )
            .filter(Q() if since is None else Q(history_date__gte=since))
            .select_related("history_user")
            .order_by("-history_date", "-history_id")
        )
        rows = _with_linked_records(rows, manager.model)
        shown = list(rows[: CHILD_ROWS_SHOWN + 1])
        more = 0
        if len(shown) > CHILD_ROWS_SHOWN:
            more = rows.count() - CHILD_ROWS_SHOWN
            shown = shown[:CHILD_ROWS_SHOWN]
        by_row: dict[Any, list] = {}
        for record in shown:
            by_row.setdefault(getattr(record, model._meta.pk.attname), []).append(record)
        m2m = _m2m_values(model, shown)  # for every row at once
        visit_years = _years_of_undated_visits(model, shown)  # and not a query a row
        for records in by_row.values():
            set_deltas(model, records, m2m, visit_years)
        # A save that changed nothing staff see (the visit page saves every row on it) is noise.
        shown = [
            record
            for record in shown
            if record.history_type != "~" or getattr(record, "history_delta_changes", None) != []
        ]
        if shown or more:
            histories.append(ChildHistory(capfirst(model._meta.verbose_name_plural), shown, more))
    return histories
