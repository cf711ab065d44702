"""List the records saved under earlier rules that a save would now refuse.

    python manage.py check_records   # exit status 1 and each such value, with its admin page

A rule added by an upgrade (a region's name without spaces, an activity's order that fits
its column, a project's years within the programme's) applies to what is typed from then on:
the rows saved before are left as they were, and staff learn of one only when a save of its
page is refused. Run after `migrate`: each value a field's own rules refuse is listed, and
each text that holds characters that show as nothing (a save drops them; a name that did may
be a twin of another, to be merged) or a control character (a save refuses it).

Only what each field says of its own value is checked, not the rules between fields or
records a form adds (a handover's lines against its total), which were there from the start.
"""

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from partnerships import summary
from partnerships.forms import CONTROL_CHARACTERS, INVISIBLE_CHARACTERS

# Kept by the code, not typed by staff: nothing in them is a user's to correct.
NOT_ENTERED = {
    *summary.DERIVED,
    *(
        apps.get_model("partnerships", name)
        for name in (
            "StagedImport",
            "DataVersion",
            "DataChange",
        )
    ),
}
CHUNK = 2000
SHOWN = 200


class Command(BaseCommand):
    help = "List the records saved under earlier rules that a save would now refuse."

    def handle(self, *args, **options):
        found = 0
        with translation.override("en"):
            for model in entered_models():
                for line in problems_of(model):
                    found += 1
                    if found <= SHOWN:
                        self.stdout.write(line)
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


def problems_of(model: type[models.Model]):
    fields = [
        field
        for field in model._meta.concrete_fields
        if not field.is_relation and not field.primary_key and field.editable
    ]
    if not fields:
        return
    page = admin_page(model)
    rows = (
        model._base_manager.order_by("pk")
        .values_list("pk", *(field.attname for field in fields))
        .iterator(chunk_size=CHUNK)
    )
    for pk, *values in rows:
        for field, value in zip(fields, values, strict=True):
            for message in field_problems(field, value):
                where = page(pk)
                yield (
                    f"{model._meta.verbose_name} {pk}, {field.verbose_name} {value!r}: "
                    f"{message}{f' ({where})' if where else ''}"
                )


def field_problems(field: models.Field, value) -> list[str]:
    if value in field.empty_values:
        return []
    messages = []
    try:
        field.run_validators(value)
    except ValidationError as error:
        messages += error.messages
    if field.choices and value not in {key for key, _label in field.flatchoices}:
        messages.append("not one of the choices offered today.")
    if isinstance(value, str):
        if INVISIBLE_CHARACTERS.search(value):
            messages.append(
                "holds characters that show as nothing (such as a zero-width space), which a "
                "save drops; if another record has the same name without them, merge the two."
            )
        if CONTROL_CHARACTERS.search(value):
            messages.append("holds a control character, which a save refuses: remove it.")
    return messages


def admin_page(model: type[models.Model]):
    """The admin address where a row of `model` is corrected: its own change page, or, for a
    row edited on another record's page (a visit's activities), that record's."""
    if model in admin.site._registry:
        return lambda pk: _change_url(model, pk)
    for field in model._meta.concrete_fields:
        parent = field.related_model if field.many_to_one else None
        if parent is not None and parent in admin.site._registry:
            return lambda pk, field=field, parent=parent: _change_url(
                parent,
                model._base_manager.filter(pk=pk).values_list(field.attname, flat=True).first(),
            )
    return lambda pk: None


def _change_url(model: type[models.Model], pk) -> str | None:
    if pk is None:
        return None
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return None
