"""List the records saved under earlier rules that a save would now refuse.

    python manage.py check_records   # exit status 1 and each such value, with its admin page

A rule added by an upgrade (a region's name without spaces, an activity's order that fits
its column, a project's years within the programme's) applies to what is typed from then on:
the rows saved before are left as they were, and staff learn of one only when a save of its
page is refused. Run after `migrate`: each value a field's own rules refuse is listed, each
name that holds characters that show as nothing (a save drops them; such a name may be a twin
of another, to be merged), and each text with a control character (a save refuses it).

Beside what each field says of its own value, the rules between a record's fields that
upgrades added are checked (RULES_BETWEEN_FIELDS: the visit that found people sent, a
project's status date); not those that were there from the start (a handover's lines against
its total), which no saved record can break.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from partnerships import summary
from partnerships.forms import CONTROL_CHARACTERS, INVISIBLE_CHARACTERS
from partnerships.models import (
    AidProject,
    DataChange,
    DataVersion,
    Posting,
    StagedImport,
    VillageEnterprisePair,
)

# Kept by the code, not typed by staff: nothing in them is a user's to correct.
NOT_ENTERED = {*summary.DERIVED, StagedImport, DataVersion, DataChange}
CHUNK = 2000
SHOWN = 200


class Command(BaseCommand):
    help = "List the records saved under earlier rules that a save would now refuse."

    def handle(self, *args, **options):
        found = 0
        with translation.override("en"):
            for model in entered_models():
                for problem in [*problems_of(model), *rule_problems(model)]:
                    found += 1
                    if found <= SHOWN:  # the rest are only counted
                        self.stdout.write(problem.line())
        if found:
            more = f" (the first {SHOWN} listed)" if found > SHOWN else ""
            raise CommandError(
                f"{found} values saved under earlier rules would be refused by a save{more}: "
                "correct them on the pages given."
            )
        self.stdout.write(self.style.SUCCESS("Every record meets today's rules."))


def entered_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_app_config("partnerships").get_models()
        if model not in NOT_ENTERED and not model.__name__.startswith("Historical")
    ]


@dataclass
class Problem:
    model: type[models.Model]
    pk: Any
    page: tuple[type[models.Model], Any] | None  # the record whose admin page edits the row
    field: models.Field
    value: Any
    messages: list[str]

    def line(self) -> str:
        where = _change_url(*self.page) if self.page else None
        return (
            f"{self.model._meta.verbose_name} {self.pk}, {self.field.verbose_name} "
            f"{self.value!r}: {' '.join(self.messages)}{f' ({where})' if where else ''}"
        )


def problems_of(model: type[models.Model]) -> Iterator[Problem]:
    fields = [
        field
        for field in model._meta.concrete_fields
        if not field.is_relation and not field.primary_key and field.editable
    ]
    if not fields:
        return
    offered = {
        field.name: frozenset(key for key, _label in field.flatchoices)
        for field in fields
        if field.choices
    }
    edited_on = page_of(model)
    link = [edited_on[1].attname] if edited_on and edited_on[1] is not None else []
    rows = (
        model._base_manager.order_by("pk")
        .values_list("pk", *link, *(field.attname for field in fields))
        .iterator(chunk_size=CHUNK)
    )
    for pk, *values in rows:
        page = None
        if edited_on is not None:
            page = (edited_on[0], values.pop(0) if link else pk)
        for field, value in zip(fields, values, strict=True):
            if messages := field_problems(field, value, offered.get(field.name)):
                yield Problem(model, pk, page, field, value, messages)


def field_problems(field: models.Field, value, offered: frozenset | None) -> list[str]:
    """What is wrong with one stored value; `offered` holds the field's choices, if any."""
    if value in field.empty_values:
        return []
    messages = []
    try:
        field.run_validators(value)
    except ValidationError as error:
        messages += error.messages
    if offered is not None and value not in offered:
        messages.append("not one of the choices offered today.")
    if isinstance(value, str):
        # In a name only: there it makes a twin the pickers cannot tell apart. In a note it
        # is part of an emoji (❤️, a family's joined faces), which a save of the page drops.
        if field.name == "name" and INVISIBLE_CHARACTERS.search(value):
            messages.append(
                "holds characters that show as nothing (such as a zero-width space), which a "
                "save drops; if another record has the same name without them, merge the two."
            )
        if CONTROL_CHARACTERS.search(value):
            messages.append("holds a control character, which a save refuses: remove it.")
    return messages


# The rules between fields added after records were saved, and how each is checked: the
# visit that found people sent or a village–enterprise pair agrees with them; a project's
# status is not reported before it could be true. Few rows (thousands), read in full.
RULES_BETWEEN_FIELDS = {
    Posting: (Posting.clean_visit_that_found_it, ["partnership", "known_during__partnership"]),
    VillageEnterprisePair: (
        VillageEnterprisePair.clean_visit_that_found_it,
        ["partnership", "known_during__partnership"],
    ),
    AidProject: (AidProject.clean, ["partnership", "region"]),
}


def rule_problems(model: type[models.Model]) -> Iterator[Problem]:
    """The records of `model` that its rules between fields (RULES_BETWEEN_FIELDS) refuse."""
    if model not in RULES_BETWEEN_FIELDS:
        return
    check, related = RULES_BETWEEN_FIELDS[model]
    edited_on = page_of(model)
    records = model._base_manager.select_related(*related).order_by("pk")
    for record in records.iterator(chunk_size=CHUNK):
        try:
            check(record)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                field = model._meta.get_field(name)
                page = None
                if edited_on is not None:
                    key = edited_on[1]
                    page = (
                        edited_on[0],
                        record.pk if key is None else getattr(record, key.attname),
                    )
                value = getattr(record, field.attname)
                yield Problem(model, record.pk, page, field, value, messages)


def page_of(model: type[models.Model]) -> tuple[type[models.Model], Any] | None:
    """Where a row of `model` is corrected: the model's own admin page (model, None), or for
    a row edited on another record's page (a visit's activities, a handover's lines), that
    record's model and the foreign key to it; None if no page edits it."""
    if model in admin.site._registry:
        return model, None
    for field in model._meta.concrete_fields:
        if field.many_to_one and field.related_model in admin.site._registry:
            return field.related_model, field
    return None


def _change_url(model: type[models.Model], pk) -> str | None:
    if pk is None:
        return None
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return None
