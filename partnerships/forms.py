"""Forms: admin rules that span several fields or related rows, and the dashboard's filters."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.forms.models import BaseInlineFormSet, ModelChoiceIterator
from django.utils import formats, timezone
from django.utils.functional import cached_property, lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import history, punctuation, search
from .models import (
    FIRST_YEAR,
    GOVERNMENT_KINDS,
    Category,
    Donation,
    DonationKind,
    DonationLine,
    Funding,
    MeetingParticipant,
    Organisation,
    Partnership,
    Region,
    Visit,
    last_year,
)
from .money import from_full_width

# Moving a recipient organisation that its handovers do not allow names this many of them.
MOVED_RECIPIENT_PROBLEMS_SHOWN = 5


def locked_year_error(year: int) -> ValidationError:
    return ValidationError(
        _(
            "%(year)d is locked: its annual assessment is done. Only an administrator "
            "can add or change its records."
        )
        % {"year": year},
        code="locked",
    )


# Characters no text of a record may hold: PostgreSQL refuses NUL, and XLSX (so every
# download in it) refuses all of them. They come in by pasting from other programs.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

# Characters that show as nothing (zero-width spaces and joiners, the byte-order mark, the
# soft hyphen, bidirectional controls, variation selectors, blank fillers such as U+3164 and
# U+2800), which pasting from web pages, WeChat or Word brings
# along: dropped from every text, since no one can see them to remove them, and a name with
# one was a second 齐心村 beside the first, the same to the eye and to every picker.
INVISIBLE_CHARACTERS = re.compile(
    "[\u00ad\u034f\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069"
    "\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)


def without_invisible(text: str) -> str:
    return INVISIBLE_CHARACTERS.sub("", text)


def rewrite_posted(form: forms.BaseForm, names, transform) -> None:
    """Rewrite the posted values of the fields `names` of `form` with `transform`, before any
    field reads them. A box posted in parts (a widget of several, `when_0`, `when_1`) is
    rewritten part by part, and a list (a multiple choice) item by item."""
    if not form.is_bound:
        return
    data = None
    for name in names:
        key = form.add_prefix(name)
        widget = form.fields[name].widget
        parts = getattr(widget, "widgets_names", None) or [""]
        for part in parts:
            many = hasattr(form.data, "getlist")
            values = form.data.getlist(key + part) if many else [form.data.get(key + part)]
            changed = [transform(v) if isinstance(v, str) else v for v in values]
            if changed != values:
                data = data if data is not None else form.data.copy()
                if many:
                    data.setlist(key + part, changed)
                else:
                    data[key + part] = changed[0]
    if data is not None:
        form.data = data


def drop_invisible(form: forms.BaseForm) -> None:
    """The posted values of `form` without INVISIBLE_CHARACTERS: an amount, a date or a code
    with a zero-width space in it was refused for a cause no one could see."""
    rewrite_posted(form, form.fields, without_invisible)


# Fields read from digits, which a Chinese input method may type full width (２０２４－０３－０６,
# ２０２４年３月６日, ３０): read as their ASCII forms, as the amounts and the imports read them.
# Only the full-width forms (money.from_full_width): all of NFKC also read a footnote's ¹ as 1.
NUMERIC_FIELDS = (
    forms.DateField,
    forms.DateTimeField,
    forms.SplitDateTimeField,
    forms.TimeField,
    forms.IntegerField,
    forms.DecimalField,
    forms.FloatField,
)


DATE_FIELDS = (forms.DateField, forms.DateTimeField, forms.SplitDateTimeField)

GROUPED_DIGITS = re.compile(r"\s*[1-9][0-9]{0,2}(?:,[0-9]{3})+\s*")


def without_thousands_separators(text: str) -> str:
    """1,200 as 1200; any other text as it is (1,20 or 0,500 is no count, and stays refused)."""
    return text.replace(",", "") if GROUPED_DIGITS.fullmatch(text) else text


INVALID_DATE = _("Enter a valid date, such as 2024-03-06.")


class RefusesControlCharacters:
    """A form whose texts may not hold control characters, each said at its field; its dates
    and numbers may be typed with full-width digits (NUMERIC_FIELDS)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        drop_invisible(self)
        numeric = [name for name, field in self.fields.items() if isinstance(field, NUMERIC_FIELDS)]
        rewrite_posted(self, numeric, from_full_width)
        # A count typed with thousands separators (1,200 teachers, as reports write it).
        counts = [name for name, field in self.fields.items() if type(field) is forms.IntegerField]
        rewrite_posted(self, counts, without_thousands_separators)
        # With Chinese punctuation on, an input method types 。 for the point of 2024.3.6.
        dates = [name for name, field in self.fields.items() if isinstance(field, DATE_FIELDS)]
        rewrite_posted(self, dates, lambda text: text.replace("。", "."))
        for field in self.fields.values():
            if isinstance(field, forms.DateField) and not isinstance(field, forms.DateTimeField):
                # Django's English "Enter a valid date." gave no example, where the Chinese
                # (third_party_strings) does, and 03/06/2024 is refused on English pages.
                field.error_messages["invalid"] = INVALID_DATE

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):  # add_error takes the field out of it
            if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
                self.add_error(
                    name,
                    _(
                        "This text holds a control character (such as a vertical tab pasted "
                        "from another program), which cannot be saved: remove it."
                    ),
                )
        return cleaned


class GuardedModelForm(RefusesControlCharacters, forms.ModelForm):
    """Refuses a save based on a stale copy (optimistic locking) or into a locked year.

    The admin sets `user` on the form class it builds (admin.RecordAdmin.get_form).
    """

    loaded_version = forms.IntegerField(
        label=_("Version when the page was opened"), widget=forms.HiddenInput, required=False
    )
    user = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and hasattr(self.instance, "version"):
            self.fields["loaded_version"].initial = self.instance.version
            # Without it the stale-copy check could be skipped by leaving the field out.
            self.fields["loaded_version"].required = True

    def clean(self):
        cleaned = super().clean()
        self._check_version(cleaned.get("loaded_version"))
        self._check_locked_year(cleaned)
        return cleaned

    def _update_errors(self, errors):
        """The model's checks run on what the fields could read: a field refused by its own
        check (an amount "1.234") reads as empty there, and was refused again as missing
        ("请填写目标金额（元）", "请至少填写一项数据"). Its own message says what is wrong."""
        if hasattr(errors, "error_dict"):
            refused = set(self._errors or ())
            figures = set(getattr(self._meta.model, "FIGURES", ()))
            kept = {}
            for field, messages in errors.error_dict.items():
                if field in refused:
                    continue
                messages = [
                    message
                    for message in messages
                    if not (message.code == "no_figure" and refused & figures)
                ]
                if messages:
                    kept[field] = messages
            if not kept:
                return
            errors = ValidationError(kept)
        super()._update_errors(errors)

    def _check_version(self, loaded) -> None:
        instance = self.instance
        if not instance.pk or loaded is None:
            return
        # Lock the row until this save commits, so two saves cannot both pass the check. Not
        # against the key-share lock a foreign key's check takes (a handover naming this
        # organisation or region, saved meanwhile): with it, such a save deadlocked with this
        # one, which then locked the pairings the other held (models.lock_given).
        current = (
            type(instance)
            .objects.select_for_update(no_key=True)
            .filter(pk=instance.pk)
            .values_list("version", flat=True)
            .first()
        )
        if current is None or current == loaded:
            return
        raise ValidationError(self._changed_meanwhile(loaded), code="stale")

    def _changed_meanwhile(self, loaded: int) -> str:
        records = list(
            self.instance.history.filter(version__gt=loaded)
            .select_related("history_user")
            .order_by("history_date")
        )
        fields, people = [], []
        for record in records:
            name = record.history_user and history.user_name(record.history_user)
            if name and name not in people:
                people.append(name)
            previous = record.prev_record
            if previous is None:
                continue
            for change in record.diff_against(previous).changes:
                if change.field == "version":
                    continue
                label = str(type(self.instance)._meta.get_field(change.field).verbose_name)
                if label not in fields:
                    fields.append(label)
        when = timezone.localtime(records[-1].history_date) if records else None
        return _(
            "While you were editing, %(people)s saved this record (%(when)s) and changed: "
            "%(fields)s. Nothing of yours was saved; reload the page to see the current "
            "values and make your change again."
        ) % {
            "people": punctuation.joined(people) or _("someone else"),
            # as the history page writes it (2026年12月7日 19:30)
            "when": formats.date_format(when, "DATETIME_FORMAT") if when else "",
            # no field of its own changed: the save changed its entries (lines, activities)
            "fields": punctuation.joined(fields) or _("the entries further down its page"),
        }

    def record_years(self, cleaned) -> set[int]:
        """The years a record would belong to once saved (see access.years_of)."""
        model = self._meta.model
        of_change = getattr(model, "locking_years_of_change", None)
        if of_change is not None:
            return of_change(self.instance, cleaned)
        locking_years = getattr(model, "locking_years", None)
        if locking_years is not None:
            return locking_years(cleaned)
        if "year" in self.fields:
            return {cleaned["year"]} if cleaned.get("year") else set()
        if model is Visit:
            start = cleaned.get("start_date")
            return {start.year} if start else set()
        if hasattr(model, "year") and "date" in self.fields:
            if cleaned.get("date"):
                return {cleaned["date"].year}
            visit = cleaned.get("visit") or getattr(self.instance, "visit", None)
            return {visit.start_date.year} if visit and visit.start_date else set()
        return set()

    def _check_locked_year(self, cleaned) -> None:
        from .access import can_edit_locked_years, locked_years, years_of

        if self.user is None or can_edit_locked_years(self.user):
            return
        if getattr(self, "locked_row", False):
            return  # shown read only and left as it is (KeepsRowsOfLockedYears)
        # The years it has now count as much as the years it would get: a record of a locked
        # year cannot be moved out of it either (say, from the visit page).
        years = self.record_years(cleaned) | years_of(self.instance)
        year = min(years & locked_years(), default=None)
        if year is not None:
            raise locked_year_error(year)


class OrganisationForm(GuardedModelForm):
    """An organisation's kind decides which handovers count as government money: changing it
    must not break a fiscal handover's rule, nor change the figures of a locked year."""

    def clean(self):
        cleaned = super().clean()
        self._check_lines_received(cleaned)
        self._check_donations_received(cleaned)
        self._check_place_in_scope(cleaned)
        organisation, kind = self.instance, cleaned.get("kind")
        if not organisation.pk or not kind or kind == organisation.kind:
            return cleaned
        given = Donation.objects.filter(donors=organisation)
        if organisation.kind in GOVERNMENT_KINDS and kind not in GOVERNMENT_KINDS:
            fiscal = given.filter(funding=Funding.FISCAL).count()
            if fiscal:
                self.add_error(
                    "kind",
                    ngettext(
                        "%(count)d handover from this organisation is recorded as fiscal "
                        "assistance funds, which come from government bodies only: change "
                        "its funding first.",
                        "%(count)d handovers from this organisation are recorded as fiscal "
                        "assistance funds, which come from government bodies only: change "
                        "their funding first.",
                        fiscal,
                    )
                    % {"count": fiscal},
                )
        from .access import can_edit_locked_years, locked_years

        if self.user is not None and not can_edit_locked_years(self.user):
            locked = sorted(
                set(given.filter(year__in=locked_years()).values_list("year", flat=True))
            )
            if locked:
                self.add_error(
                    "kind",
                    _(
                        "This organisation gave handovers in %(years)s, whose assessment is "
                        "locked: its kind counts in those years' figures (government or "
                        "social donors). Ask an administrator."
                    )
                    % {"years": punctuation.joined(str(year) for year in locked)},
                )
        return cleaned

    def _check_place_in_scope(self, cleaned) -> None:
        """Staff assigned to pairings see the organisations placed on their pairings' sides
        and those their records name (access.organisation_q). One they placed elsewhere (a
        company in 东莞市, entered by a 凤岗镇 clerk) was saved, then hidden from them: not
        listed, not offered as a donor, not to be entered again (its name was taken there).
        It is refused instead, saying what to do."""
        from .access import named_organisation_q, placed_on_sides_q, scope_for

        region = cleaned.get("region")
        if self.user is None or region is None or "region" not in self.changed_data:
            return
        scope = scope_for(self.user)
        if scope.everything:
            return
        if Region.objects.filter(placed_on_sides_q(scope), pk=region.pk).exists():
            return
        organisation = self.instance
        if organisation.pk and (
            Organisation.objects.filter(named_organisation_q(scope), pk=organisation.pk).exists()
        ):
            return  # named on their records: theirs to see wherever it is
        self.add_error(
            "region",
            _(
                "%(region)s is on neither side of the pairings you are assigned to: an "
                "organisation placed there would be hidden from you once saved. Choose a place "
                "on a side of your pairings, or leave the region empty (as for a company of a "
                "whole city or province), or ask an administrator to enter it."
            )
            % {"region": region.full_name},
        )

    def _check_lines_received(self, cleaned) -> None:
        """A line's recipient organisation lies in the line's place: a new region must too."""
        region = cleaned.get("region")
        if not self.instance.pk or region is None or region.pk == self.instance.region_id:
            return
        for line in self.instance.donation_lines_received.select_related("region"):
            error = line_organisation_error(self.instance, line.region, place=region)
            if error:
                self.add_error("region", error)
                return

    def _check_donations_received(self, cleaned) -> None:
        """Moved, a recipient organisation takes its handovers' lines and receiving regions
        along: it must stay in each pairing's assisted side, keep holding the lines that went
        to its old place (unless another recipient holds them) and lie in a receiving region
        chosen by hand. A region the form filled in follows it (`moved_regions`, saved by
        `follow_moved_recipient`), as it follows a handover's recipients."""
        self.moved_regions: dict[Donation, Region] = {}
        region = cleaned.get("region")
        if not self.instance.pk or self.instance.region_id == (region.pk if region else None):
            return
        from .access import can_edit_locked_years, locked_years, scope_for

        locked = set() if self.user is None or can_edit_locked_years(self.user) else locked_years()
        received = self.instance.donations_received.select_related(
            "partnership__assisted_region", "partnership__helping_region", "region"
        ).prefetch_related(
            "recipient_regions",
            "recipient_organisations__region",
            Prefetch(
                "lines",
                DonationLine.objects.filter(is_itemised=True).select_related("region"),
                to_attr="itemised",
            ),
        )
        hidden = set()  # of pairings the user is not assigned to: counted, not described
        if self.user is not None and not scope_for(self.user).everything:
            hidden = set(
                received.exclude(scope_for(self.user).q("partnership__")).values_list(
                    "pk", flat=True
                )
            )
        problems, hidden_problems = [], 0
        for donation in received:
            organisations = [
                organisation if organisation.pk != self.instance.pk else Organisation(region=region)
                for organisation in donation.recipient_organisations.all()
            ]
            problem = self._moved_recipient_problem(donation, region, organisations)
            if problem is None and donation.region_filled_in:
                follows = self._region_filled_in(donation, organisations)
                if follows != donation.region:
                    if donation.pk in hidden:
                        # a handover the user may not change is not changed in their name
                        problem = True
                    elif donation.year in locked:
                        problem = locked_year_error(donation.year).message
                    else:
                        self.moved_regions[donation] = follows
            if problem and donation.pk in hidden:
                hidden_problems += 1
            elif problem:
                problems.append((donation, problem))
        if problems or hidden_problems:
            self.moved_regions = {}
            shown = [
                _("“%(donation)s” (%(pairing)s): %(problem)s")
                % {"donation": donation, "pairing": donation.partnership, "problem": problem}
                for donation, problem in problems[:MOVED_RECIPIENT_PROBLEMS_SHOWN]
            ]
            more = len(problems) - len(shown)
            if more:
                shown.append(
                    ngettext("and %(count)d more handover.", "and %(count)d more handovers.", more)
                    % {"count": more}
                )
            if hidden_problems:
                shown.append(
                    ngettext(
                        "and %(count)d handover of a pairing you are not assigned to: ask an "
                        "administrator.",
                        "and %(count)d handovers of pairings you are not assigned to: ask an "
                        "administrator.",
                        hidden_problems,
                    )
                    % {"count": hidden_problems}
                )
            self.add_error(
                "region",
                ValidationError(
                    [
                        _(
                            "This organisation received handovers that its new place does not "
                            "fit; change them first:"
                        ),
                        *shown,
                    ]
                ),
            )

    @staticmethod
    def _moved_recipient_problem(donation, place, organisations) -> str | None:
        assisted = donation.partnership.assisted_region
        if place is not None and not place.is_within(assisted):
            return _("%(place)s lies outside %(region)s, the side this pairing assists.") % {
                "place": place.name,
                "region": assisted.name,
            }
        if (
            place is not None
            and not donation.region_filled_in
            and not place.is_within(donation.region)
        ):
            return _(
                "its receiving region %(region)s, chosen by hand, does not hold %(place)s."
            ) % {"region": donation.region.name, "place": place.name}
        places = recipient_places(list(donation.recipient_regions.all()), organisations)
        for line in donation.itemised:
            error = line_outside_recipients_error(line.region, places)
            if error:
                return error
        return None

    @staticmethod
    def _region_filled_in(donation, organisations) -> Region:
        """The handover's filled-in region with the organisation in its new place."""
        places = [
            *donation.recipient_regions.all(),
            *(organisation.region for organisation in organisations if organisation.region),
            *(line.region for line in donation.itemised),
        ]
        return filled_in_region(places, organisations, donation.partnership.assisted_region)

    def follow_moved_recipient(self) -> None:
        """After the organisation is saved: the receiving regions that follow it move, with
        the not-itemised rest of each handover, in one version each."""
        for donation, region in self.moved_regions.items():
            donation.region = region
            donation.save()
            donation.rebalance()


class LockedYearForm(GuardedModelForm):
    """For inline rows without a version of their own (a project's funds of one year)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["loaded_version"].required = False

    def _check_version(self, loaded) -> None:
        return


def smallest_common_region(regions: list[Region]) -> Region | None:
    """The deepest region that contains all of `regions` (by their materialised paths)."""
    if not regions:
        return None
    split = [region.path.strip("/").split("/") for region in regions]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if not common:
        return None
    return Region.objects.get(pk=int(common[-1]))


def filled_in_region(places, organisations, assisted: Region) -> Region:
    """A handover's receiving region when staff leave it empty: the smallest region holding
    `places` (its recipients' places and its itemised lines, which must lie within it); the
    pairing's assisted side where a recipient organisation's place is not known, since the
    rest may have gone anywhere in it."""
    if any(organisation.region is None for organisation in organisations):
        return assisted
    return smallest_common_region(places) or assisted


class VisitForm(GuardedModelForm):
    class Meta:
        model = Visit
        fields = [
            "partnership",
            "direction",
            "start_date",
            "end_date",
            "date_note",
            "leader",
            "members",
            "delegation_size",
            "delegation_description",
            "places",
            "purpose",
            "summary",
            "source",
            "loaded_version",
        ]

    def clean(self):
        cleaned = super().clean()
        size = cleaned.get("delegation_size")
        members = cleaned.get("members") or []
        leader = cleaned.get("leader")
        named = len({*(m.pk for m in members), *([leader.pk] if leader else [])})
        if size is not None and size < named:
            self.add_error(
                "delegation_size",
                _("The delegation cannot be smaller than the %(count)d people named in it.")
                % {"count": named},
            )
        return cleaned


class DonationForm(GuardedModelForm):
    class Meta:
        model = Donation
        fields = [
            "partnership",
            "visit",
            "date",
            "amount",
            "kind",
            "materials_description",
            "category",
            "funding",
            "donors",
            "recipient_regions",
            "recipient_organisations",
            "region",
            "source",
            "notes",
            "loaded_version",
        ]

    def clean(self):
        cleaned = super().clean()
        # Every check runs, so one save shows every problem (not one problem a save).
        self._check_places(cleaned)
        if cleaned.get("kind") == DonationKind.FUNDS and cleaned.get("materials_description"):
            self.add_error(
                "materials_description",
                _("A donation of funds only has no materials; choose “funds and materials”."),
            )
        self._check_funding(cleaned)
        return cleaned

    def _check_places(self, cleaned) -> None:
        """The recipients lie in the assisted side, and the receiving region holds them all
        (filled in where left empty)."""
        partnership = cleaned.get("partnership")
        recipient_regions = list(cleaned.get("recipient_regions") or [])
        recipient_organisations = list(cleaned.get("recipient_organisations") or [])
        named_places = recipient_regions + [o.region for o in recipient_organisations if o.region]
        if partnership is not None and self._recipients_outside(
            partnership, recipient_regions, recipient_organisations
        ):
            return
        region = cleaned.get("region")
        if self._region_follows():
            region = None
        if region is None and partnership is not None:
            region = filled_in_region(
                named_places + self._line_places(),
                recipient_organisations,
                partnership.assisted_region,
            )
            cleaned["region"] = region
            self.instance.region_filled_in = True
        elif "region" in self.changed_data:
            self.instance.region_filled_in = False  # chosen by hand: it stays
        if region is not None and partnership is not None:
            message = Donation.region_outside_assisted_side(region, partnership)
            if message:
                self.add_error("region", message)
                return
        if region is not None:
            outside = [place for place in named_places if not place.is_within(region)]
            if outside:
                self.add_error(
                    "region",
                    ngettext(
                        "%(places)s lies outside the receiving region %(region)s. Choose a "
                        "region that holds every recipient, or leave it empty to have it "
                        "filled in.",
                        "%(places)s lie outside the receiving region %(region)s. Choose a region "
                        "that holds every recipient, or leave it empty to have it filled in.",
                        len(outside),
                    )
                    % {
                        "places": punctuation.joined(p.name for p in outside),
                        "region": region.name,
                    },
                )

    def _recipients_outside(self, partnership, regions, organisations) -> bool:
        """Recipients must lie in the pairing's assisted side, and recipient places added be
        towns or villages (the choices offer only those; a county typed into a form or a file
        was taken); says which are not."""
        assisted = partnership.assisted_region
        found = False
        for field, names in (
            ("recipient_regions", [r.name for r in regions if not r.is_within(assisted)]),
            (
                "recipient_organisations",
                [o.name for o in organisations if o.region and not o.region.is_within(assisted)],
            ),
        ):
            if names:
                found = True
                self.add_error(
                    field,
                    ngettext(
                        "%(names)s lies outside %(region)s, the side this pairing assists.",
                        "%(names)s lie outside %(region)s, the side this pairing assists.",
                        len(names),
                    )
                    % {"names": punctuation.joined(names), "region": assisted.name},
                )
        # One named before stays named: a save keeps what the page shows.
        named = set(self.instance.recipient_regions.all()) if self.instance.pk else set()
        too_large = [r.name for r in regions if r.level < Region.Level.TOWN and r not in named]
        if too_large:
            found = True
            self.add_error(
                "recipient_regions",
                ngettext(
                    "%(names)s is a county or a larger region, not a town or village: name the "
                    "towns or villages that received, or choose it as the receiving region.",
                    "%(names)s are counties or larger regions, not towns or villages: name the "
                    "towns or villages that received, or choose them as the receiving region.",
                    len(too_large),
                )
                % {"names": punctuation.joined(too_large)},
            )
        return found

    def _region_follows(self) -> bool:
        """A receiving region the form filled in, left as it is, is filled in afresh at each
        save, following the recipients, the pairing and the itemised lines; one chosen by hand
        stays (and is checked).

        Otherwise a handover's region, once filled in, would refuse every recipient outside it
        until staff thought to empty the field. It followed only a change of recipients, and
        then with the lines as saved before: a line deleted in the same save kept the region
        wide, the handover's money counted at the town, not at the one village it went to.
        """
        return bool(
            self.instance.pk
            and self.instance.region_filled_in
            and "region" not in self.changed_data
        )

    def _line_places(self) -> list[Region]:
        """The places of the itemised lines as this save leaves them. On the donation's page
        its lines are posted with it (LINES_PREFIX): those not ticked for deletion, with the
        places they are given (a line's own form checks them; nothing is saved if one is
        refused). Elsewhere (the visit's page) the lines are as saved."""
        data = self.data if self.is_bound else {}
        if f"{LINES_PREFIX}-TOTAL_FORMS" not in data:
            return [line.region for line in self.saved_itemised_lines]
        total = str(data[f"{LINES_PREFIX}-TOTAL_FORMS"])
        if not re.fullmatch(r"[0-9]{1,4}", total):  # the formset refuses it
            return [line.region for line in self.saved_itemised_lines]
        saved = {str(line.pk): line.region for line in self.saved_itemised_lines}
        ticked = forms.CheckboxInput()  # "on", "true": as the formset reads DELETE
        ids, places = [], []
        for index in range(int(total)):
            row = f"{LINES_PREFIX}-{index}-"
            if ticked.value_from_datadict(data, {}, row + "DELETE"):
                continue
            if row + "region" not in data and str(data.get(row + "id")) in saved:
                places.append(saved[str(data[row + "id"])])  # shown to read only
                continue
            region = str(data.get(row + "region") or "")
            # A place that is no id is refused by the line's own form.
            if re.fullmatch(r"[0-9]{1,18}", region):
                ids.append(int(region))
        return places + list(Region.objects.filter(pk__in=ids))

    @cached_property
    def saved_itemised_lines(self) -> list[DonationLine]:
        """The donation's itemised lines as saved (none for a new one), read once a form."""
        if not self.instance.pk:
            return []
        return list(self.instance.lines.filter(is_itemised=True).select_related("region"))

    def _check_funding(self, cleaned) -> None:
        if cleaned.get("funding") != Funding.FISCAL or "donors" not in cleaned:
            return
        others = [d.name for d in cleaned["donors"] if d.kind not in GOVERNMENT_KINDS]
        if others:
            self.add_error(
                "funding",
                ngettext(
                    "Fiscal assistance funds come from government bodies only; %(names)s "
                    "is not one. Choose “social donations” or “not stated”.",
                    "Fiscal assistance funds come from government bodies only; %(names)s "
                    "are not. Choose “social donations” or “not stated”.",
                    len(others),
                )
                % {"names": punctuation.joined(others)},
            )


class DonationInVisitForm(DonationForm):
    """On the visit page the donation's lines are not editable, so check against saved ones."""

    def clean(self):
        cleaned = super().clean()
        amount = cleaned.get("amount")
        if self.instance.pk and amount is not None:
            itemised = sum((line.amount for line in self.saved_itemised_lines), Decimal(0))
            if amount < itemised:
                self.add_error(
                    "amount",
                    _("The itemised lines of this donation already add up to %(total)s yuan.")
                    % {"total": f"{itemised:,.2f}"},
                )
        region = cleaned.get("region")
        if self.instance.pk and region is not None:
            stray = [
                line.region.name
                for line in self.saved_itemised_lines
                if not line.region.is_within(region)
            ]
            if stray:
                self.add_error(
                    "region",
                    _("Itemised lines of this donation went to %(places)s, outside %(region)s.")
                    % {"places": punctuation.joined(stray), "region": region.name},
                )
        donors = cleaned.get("donors")
        if self.instance.pk and donors is not None:
            kept = {donor.pk for donor in donors}
            for line in self.instance.lines.filter(donor__isnull=False).select_related("donor"):
                if line.donor_id not in kept:
                    self.add_error(
                        "donors",
                        _("An itemised line of this donation names %(donor)s as its donor.")
                        % {"donor": line.donor.name},
                    )
                    break
        if self.instance.pk and {"recipient_regions", "recipient_organisations"} & set(
            self.changed_data
        ):
            places = recipient_places(
                list(cleaned.get("recipient_regions") or []),
                list(cleaned.get("recipient_organisations") or []),
            )
            stray = [
                line.region.name
                for line in self.saved_itemised_lines
                if line_outside_recipients_error(line.region, places)
            ]
            if stray:
                self.add_error(
                    "recipient_regions",
                    _(
                        "Itemised lines of this donation went to %(places)s, which the "
                        "recipients would no longer hold."
                    )
                    % {"places": punctuation.joined(dict.fromkeys(stray))},
                )
        return cleaned


class RegionForm(GuardedModelForm):
    """A region's statistical division code may be typed with spaces, as printed and as the
    region import reads it ("5206 2110 0000"): they were refused as too many characters."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # ５２０６ ２１１０…, as the region import reads it
        rewrite_posted(self, ["code"], lambda code: "".join(from_full_width(code).split()))


class NamesDuplicateFields:
    """Mixed into every admin inline formset: two rows that may not repeat each other are
    refused with the fields' names as the page shows them. Django named them as the code does
    ("请修正person 和 role的重复数据，该字段必须唯一。")."""

    def get_unique_error_message(self, unique_check):
        parent = getattr(getattr(self, "fk", None), "name", None)  # the same on every row
        names = []
        for name in unique_check:
            if name == parent:
                continue
            field = self.form.base_fields.get(name)
            label = field.label if field is not None and field.label else None
            names.append(str(label or self.model._meta.get_field(name).verbose_name))
        return _("Two rows have the same %(fields)s: correct or remove one.") % {
            "fields": punctuation.joined(names)
        }


class KeepsRowsOfLockedYears:
    """Mixed into every admin inline formset: a row of a locked year on the page of a record
    of an open one (a handover on 1 January of a visit begun on 30 December, a project's
    funds of a locked year) is shown read only (its boxes greyed, which a browser does not
    send back) and left as it is. Its year made every save of the page fail for a clerk,
    though nothing of it was changed, and nothing on the page said that it could not be: now
    the rest of the page saves. A row sent back changed or ticked for deletion (typed on a
    page opened before its year was locked) is still refused, keeping what was typed."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        from .access import is_locked_for, locked_years, years_of

        user = getattr(form, "user", None)
        if user is None or form.instance.pk is None or not is_locked_for(user, form.instance):
            return form
        form.locked_year = min(years_of(form.instance) & locked_years())
        form.locked_note = _(
            "%(year)s is locked (its annual assessment is done): this entry can be read "
            "here, not changed. An administrator can still change it."
        ) % {"year": form.locked_year}
        if form.is_bound and _sent_changes(form):
            return form  # refused by its own form (GuardedModelForm), what was typed kept
        form.locked_row = True
        for field in form.fields.values():  # the deletion box included
            # not its hidden id, version and parent: without its id the row would be taken
            # for a new one
            if not field.widget.is_hidden:
                field.disabled = True
        return form


def _sent_changes(form) -> bool:
    """Whether a posted row changes any box it sends (a box shown greyed is not sent; a
    deletion box ticked is a change)."""
    for name, field in form.fields.items():
        bound = form[name]
        key = bound.html_name
        if key not in form.data and not any(k.startswith(f"{key}_") for k in form.data):
            continue  # not sent: shown greyed, or left out by hand; its stored value stays
        if field.has_changed(bound.initial, bound.data):
            return True
    return False


class NoticesVanishedRows:
    """Mixed into every admin inline formset: a row someone else deleted after the page was
    opened. Django rejects its hidden id ("select a valid choice") where no one sees it, so
    the page only said "please correct the errors below", save after save. And rows the page
    did not count as it sent them (a tampered INITIAL_FORMS)."""

    def clean(self):
        super().clean()
        pk_name = self.model._meta.pk.name

        def posted_id(form) -> str:  # the row's hidden id, as sent
            return str(form.data.get(form.add_prefix(pk_name), ""))

        # The page counts its rows of records (INITIAL_FORMS) and sends each one's id; a
        # new row has none. A count that disagrees was not sent by the page: rows of
        # records taken as new were saved again (a visit's activities twice over), or
        # failed on the database's unique checks (a 500).
        # (Django's "save as new" counts none and keeps the ids: no admin here offers it.)
        initial = self.initial_form_count()
        miscounted = not getattr(self, "save_as_new", False) and (
            initial < 0
            or any(
                (index < initial) != bool(posted_id(form).strip())
                for index, form in enumerate(self.forms)
            )
        )
        if miscounted:
            raise ValidationError(
                _(
                    "The rows of %(model)s sent do not match the page. Nothing was saved: "
                    "open the page again, then make your changes again."
                )
                % {"model": self.model._meta.verbose_name_plural},
                code="miscounted",
            )
        # A row whose id is a number but no longer a record of this page: deleted, or moved
        # to another record (a tampered id is left to Django's own refusal).
        vanished = [
            form
            for form in self.initial_forms
            if form.instance.pk is None
            and re.fullmatch(r"[0-9]+", posted_id(form))
            and not (self.can_delete and self._should_delete_form(form))
        ]
        if vanished:
            message = ngettext(
                "%(count)d %(model)s on this page was deleted or moved by someone else "
                "after you opened it. Nothing was saved: open the page again to see the "
                "records as they are now, then make your changes again.",
                "%(count)d %(model)s on this page were deleted or moved by someone else "
                "after you opened it. Nothing was saved: open the page again to see the "
                "records as they are now, then make your changes again.",
                len(vanished),
            ) % {
                "count": len(vanished),
                "model": self.model._meta.verbose_name
                if len(vanished) == 1
                else self.model._meta.verbose_name_plural,
            }
            people = self._who_last_changed([int(posted_id(form)) for form in vanished])
            if people:
                message += ("" if punctuation.chinese() else " ") + _("By: %(people)s.") % {
                    "people": punctuation.joined(people)
                }
            raise ValidationError(message, code="vanished")

    def _who_last_changed(self, ids) -> list[str]:
        """Whoever deleted each of these records or moved it off this page, by name, from
        the audit trail: the message said only "someone else", whom no one could ask.

        The change named is the first after the record's last version on this page: not its
        latest, which may be a change made since on another pairing's record (a handover
        moved there, then edited by that pairing's staff), nor one of a record never on this
        page (an id typed into the page), whose staff the user may not know of."""
        manager = getattr(self.model, "history", None)
        fk = getattr(self, "fk", None)
        if manager is None or fk is None or self.instance.pk is None:
            return []
        versions = (
            manager.filter(id__in=ids)
            .order_by("id", "history_date", "history_id")
            .select_related("history_user")
        )
        # Per record, the change that took it off this page: its deletion here ("-", which
        # keeps the page's key), or the first version elsewhere after its last one here.
        leaving: dict = {}
        here = set()
        for version in versions:
            on_page = getattr(version, fk.attname) == self.instance.pk
            if on_page and version.history_type != "-":
                here.add(version.id)
                leaving.pop(version.id, None)
            elif (on_page or version.id in here) and version.id not in leaving:
                leaving[version.id] = version
        names = []
        for version in leaving.values():
            if version.history_user is not None:
                name = history.user_name(version.history_user)
                if name not in names:
                    names.append(name)
        return names


class ProjectFundsFormSet(BaseInlineFormSet):
    """A funds row of a locked year can be neither changed (its form says so) nor deleted."""

    def clean(self):
        super().clean()
        from .access import can_edit_locked_years, locked_years

        user = getattr(self.form, "user", None)
        if user is None or can_edit_locked_years(user):
            return
        locked = locked_years()
        for form in self.deleted_forms:
            year = form.instance.year if form.instance.pk else None
            if year in locked:
                raise locked_year_error(year)


def line_organisation_error(body, region, *, place=None) -> str | None:
    """A line's recipient organisation must be in the place the line goes to; `place` is
    where the organisation would be, when not where it is now."""
    place = place or (body.region if body is not None else None)
    if place is None or region is None or place.is_within(region):
        return None
    return _("%(body)s is in %(place)s, not in %(region)s, where this line goes.") % {
        "body": body.name,
        "place": place.name,
        "region": region.name,
    }


def line_donor_error(donor) -> str:
    return _("%(donor)s is not among this donation's donors.") % {"donor": donor.name}


def recipient_places(regions, organisations) -> list[Region] | None:
    """The places a handover's lines may go to: its recipient towns and villages and its
    recipient organisations' places (and what lies within them). None where any place will
    do: no recipient is named, or one organisation's place is not recorded."""
    if not regions and not organisations:
        return None
    if any(organisation.region is None for organisation in organisations):
        return None
    return [*regions, *(organisation.region for organisation in organisations)]


def line_outside_recipients_error(region, places) -> str | None:
    if region is None or places is None or any(region.is_within(place) for place in places):
        return None
    return _(
        "%(place)s is not among this handover's recipients, nor within one of them: add it to "
        "the recipients first."
    ) % {"place": region.name}


# The prefix of a donation's lines on its page (DonationLine's related name).
LINES_PREFIX = "lines"


class DonationLineFormSet(BaseInlineFormSet):
    """Itemised lines must fit inside the donation, in amount and in place."""

    def _posted_recipient_places(self) -> list[Region] | None:
        """The recipients the donation's form posted (lines are edited on its page)."""
        try:
            regions = list(Region.objects.filter(pk__in=self.data.getlist("recipient_regions")))
            organisations = list(
                Organisation.objects.filter(
                    pk__in=self.data.getlist("recipient_organisations")
                ).select_related("region")
            )
        except (ValueError, ValidationError, OverflowError):  # the donation's form says so
            return None
        return recipient_places(regions, organisations)

    def clean(self):
        super().clean()
        donation = self.instance
        places = self._posted_recipient_places() if self.is_bound else None
        total = Decimal(0)
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if form.cleaned_data.get("DELETE"):
                continue
            amount = form.cleaned_data.get("amount")
            region = form.cleaned_data.get("region")
            if amount:
                total += amount
            if region is not None and donation.region_id and not region.is_within(donation.region):
                form.add_error(
                    "region",
                    _("This line must go to %(region)s or a place within it.")
                    % {"region": donation.region.name},
                )
            elif error := line_outside_recipients_error(region, places):
                form.add_error("region", error)
            error = line_organisation_error(form.cleaned_data.get("recipient_organisation"), region)
            if error:
                form.add_error("recipient_organisation", error)
            donor = form.cleaned_data.get("donor")
            # Lines are edited on the donation's own page (the admin nests no inlines), whose
            # main form posts the donors unprefixed: a line's donor must be one of them.
            posted = self.data.getlist("donors") if "donors" in self.data else None
            if donor is not None and posted is not None and str(donor.pk) not in posted:
                form.add_error("donor", line_donor_error(donor))
        if donation.amount is not None and total > donation.amount:
            raise ValidationError(
                _(
                    "The itemised lines add up to %(lines)s yuan, more than the donation's "
                    "%(amount)s yuan."
                )
                % {"lines": f"{total:,.2f}", "amount": f"{donation.amount:,.2f}"}
            )


def _year_bounds() -> tuple[int, int]:
    return FIRST_YEAR, last_year()


def _choose_a_year() -> str:
    low, high = _year_bounds()
    return _("Choose a year between %(low)d and %(high)d.") % {"low": low, "high": high}


# A year that is no number ("abc") says which years there are, as one out of range does,
# rather than Django's "输入整数。"; worked out when said (the last year moves on 1 January).
NOT_A_YEAR = {"invalid": lazy(_choose_a_year, str)()}


class DashboardFilterForm(forms.Form):
    """The GET filters shared by a dashboard page, its htmx fragments and its exports."""

    # Selects offer the years with data; the view fills in their choices.
    year_from = forms.IntegerField(
        label=_("From year"), required=False, widget=forms.Select, error_messages=NOT_A_YEAR
    )
    year_to = forms.IntegerField(
        label=_("To year"), required=False, widget=forms.Select, error_messages=NOT_A_YEAR
    )
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("All categories")), *Category.choices]
    )
    donor_kind = forms.ChoiceField(
        label=_("Donor kind"),
        required=False,
        choices=[("", _("All donor kinds")), *Organisation.Kind.choices],
    )
    kind = forms.ChoiceField(
        label=_("Funds or materials"),
        required=False,
        choices=[("", _("All funds and materials")), *DonationKind.choices],
    )
    funding = forms.ChoiceField(
        label=_("Fiscal or social"),
        required=False,
        choices=[("", _("All fiscal and social")), *Funding.choices],
    )

    def clean(self):
        cleaned = super().clean()
        low, high = _year_bounds()
        for name in ("year_from", "year_to"):
            year = cleaned.get(name)
            if year is not None and not low <= year <= high:
                self.add_error(
                    name,
                    _("Choose a year between %(low)d and %(high)d.") % {"low": low, "high": high},
                )
        year_from, year_to = cleaned.get("year_from"), cleaned.get("year_to")
        if year_from and year_to and year_from > year_to:
            self.add_error("year_to", _("The end year cannot be before the start year."))
        return cleaned

    def error_text(self) -> str:
        """Every error in a line: "结对关系：请选择有效的选项：…", "Pairing: Select a valid …"."""
        colon = punctuation.punct("：")
        parts = [
            f"{self.fields[name].label}{colon}{message}" if name in self.fields else str(message)
            for name, messages in self.errors.items()
            for message in messages
        ]
        return ("" if punctuation.chinese() else " ").join(parts)


class _LazyChoices(ModelChoiceIterator):
    """Reads its field's queryset when iterated, not when made (Django's keeps the first)."""

    def __init__(self, field):
        self.field = field

    @property
    def queryset(self):
        return self.field.queryset


class ProvinceField(forms.ModelChoiceField):
    """A province to choose among those `offered()` returns (their ids; every province if
    `offered` is None), worked out only when the form is rendered or a province was chosen:
    a page whose content is reused (pagecache.py) needs neither."""

    def __init__(self, **kwargs):
        self.offered = None
        super().__init__(queryset=Region.objects.filter(level=Region.Level.PROVINCE), **kwargs)

    def _get_queryset(self):
        if self.offered is not None:
            offered, self.offered = self.offered, None
            self._queryset = self._queryset.filter(pk__in=offered())
        return self._queryset

    queryset = property(_get_queryset, forms.ModelChoiceField._set_queryset)
    iterator = _LazyChoices


class OverviewFilterForm(DashboardFilterForm):
    helping_province = ProvinceField(
        label=_("Helping province"), required=False, empty_label=_("All provinces")
    )
    assisted_province = ProvinceField(
        label=_("Assisted province"), required=False, empty_label=_("All provinces")
    )


class SearchForm(forms.Form):
    """The dashboard's search box (views.search_results): a name or part of one."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=search.MAX_LENGTH,
        error_messages={
            "max_length": _(
                "Type at most %(limit_value)d characters of a name (this is %(show_value)d)."
            )
        },
    )


class MeetingParticipantFormSet(BaseInlineFormSet):
    """One chair per meeting; the database enforces it too, but only a form can say so in words."""

    def clean(self):
        super().clean()
        chairs = [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("role") == MeetingParticipant.Role.CHAIR
        ]
        if len(chairs) > 1:
            raise ValidationError(_("A meeting has one chair."))


class ExportForm(OverviewFilterForm):
    """The dashboard filters plus what a summary is about (a pairing, region, donor or visit)."""

    pairing = forms.ModelChoiceField(
        label=_("Pairing"), required=False, queryset=Partnership.objects.all()
    )
    region = forms.ModelChoiceField(
        label=_("Region"), required=False, queryset=Region.objects.all()
    )
    donor = forms.ModelChoiceField(
        label=_("Donor"), required=False, queryset=Organisation.objects.all()
    )
    visit = forms.ModelChoiceField(label=_("Visit"), required=False, queryset=Visit.objects.all())
    year = forms.IntegerField(label=_("Year"), required=False)

    # The year of a targets or ranking download is checked by the download against the years
    # its panel offers (indicators.assessment_years), and refused naming those: a bound here
    # as well said "1990–2100" for 1800 and "2017–2026" for 2050.


class HeldDuringVisitFormSet(BaseInlineFormSet):
    """A visit page's meetings and handovers: a new row starts in the visit's pairing, which
    staff would otherwise pick again for each (a child pairing may still be chosen)."""

    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        is_new = index is None or index >= self.initial_form_count()
        if is_new and self.instance.pk and self.instance.partnership_id:
            kwargs["initial"] = {
                **kwargs.get("initial", {}),
                "partnership": self.instance.partnership_id,
            }
        return kwargs


class ChildPartnershipFormSet(BaseInlineFormSet):
    """The same pair active twice is refused in words (the database refuses it with a 500)."""

    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("ended_on"):
                continue
            pair = (data.get("helping_region"), data.get("assisted_region"))
            if None in pair:
                continue
            if pair in seen:
                raise ValidationError(_("These two regions already have an active pairing."))
            seen.add(pair)
