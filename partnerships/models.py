"""The cooperation record: regions, pairings, organisations, people, visits, meetings, donations.

How donations are counted (also in README.md): a Donation is one handover as reported, with
its donors, its recipients and one total. Its amount is split into DonationLines that always
add up to exactly that total: lines that staff itemise (e.g. 20万 to 齐心村) and one
automatic "not itemised" line holding the rest at the handover's receiving region.
Every figure on the dashboard sums lines or donations, never both, so no fen is counted twice.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import F, Q, Sum
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .money import MoneyField

# Enough joins to name any region by its full path without one query per ancestor.
REGION_ANCESTORS = "parent__parent__parent__parent"


class Versioned(models.Model):
    """A counter bumped on every save, so an edit based on an old copy can be refused."""

    version = models.PositiveIntegerField(_("version"), default=0, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.version += 1
        super().save(*args, **kwargs)


def audit(*derived: str, **options) -> HistoricalRecords:
    """The audit trail of a model: every create, change and delete, with who and when.

    Derived columns (materialised paths, stored years) are left out: they follow from the rest.
    """
    return HistoricalRecords(excluded_fields=list(derived), **options)


class TreePathMixin(models.Model):
    """A materialised path of primary keys ("/3/17/240/") so a subtree is one indexed prefix."""

    path = models.CharField(max_length=255, editable=False, db_index=True, default="")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        with transaction.atomic():
            super().save(*args, **kwargs)
            parent = self.parent
            new_path = f"{parent.path if parent else '/'}{self.pk}/"
            if new_path != self.path:
                old_path = self.path
                type(self).objects.filter(pk=self.pk).update(path=new_path)
                if old_path:
                    # A move: every descendant's path starts with the old prefix.
                    for child in (
                        type(self).objects.filter(path__startswith=old_path).exclude(pk=self.pk)
                    ):
                        type(self).objects.filter(pk=child.pk).update(
                            path=new_path + child.path[len(old_path) :]
                        )
                self.path = new_path

    def is_within(self, other) -> bool:
        """True when self is other or one of its descendants."""
        return bool(self.path and other.path and self.path.startswith(other.path))


class Region(Versioned, TreePathMixin):
    class Level(models.IntegerChoices):
        PROVINCE = 1, _("province")
        CITY = 2, _("prefecture-level city")
        COUNTY = 3, _("county or district")
        TOWN = 4, _("town, township or subdistrict")
        VILLAGE = 5, _("village or community")

    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent region"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    code = models.CharField(
        _("statistical division code"),
        max_length=12,
        null=True,
        blank=True,
        unique=True,
        validators=[
            RegexValidator(r"^\d{12}$", _("A statistical division code has exactly 12 digits."))
        ],
        help_text=_("The 12-digit code of the National Bureau of Statistics, if known."),
    )
    history = audit("path")

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"],
                name="region_name_unique_in_parent",
                violation_error_message=_("This parent region already has a region of that name."),
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(parent__isnull=True),
                name="province_name_unique",
                violation_error_message=_("A province of that name already exists."),
            ),
            models.CheckConstraint(
                condition=Q(level=1, parent__isnull=True) | Q(level__gt=1, parent__isnull=False),
                name="region_only_provinces_lack_parent",
                violation_error_message=_(
                    "A province has no parent region; every other region has one."
                ),
            ),
            models.CheckConstraint(
                condition=Q(level__gte=1, level__lte=5),
                name="region_level_known",
            ),
            models.CheckConstraint(
                condition=Q(code__isnull=True) | Q(code__regex=r"^[0-9]{12}$"),
                name="region_code_12_digits",
                violation_error_message=_("A statistical division code has exactly 12 digits."),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args, **kwargs):
        if self.code == "":
            self.code = None
        super().save(*args, **kwargs)

    @classmethod
    def allowed_parent_levels(cls, level: int) -> list[int]:
        if level == cls.Level.PROVINCE:
            return []
        allowed = [level - 1]
        if level == cls.Level.VILLAGE:
            # The reference report names villages without their town: they hang under the county.
            allowed.append(cls.Level.COUNTY)
        if level == cls.Level.TOWN:
            # Dongguan and Zhongshan have no counties: 樟木头镇 sits directly under 东莞市.
            allowed.append(cls.Level.CITY)
        return allowed

    def _check_children_fit(self) -> None:
        for child_level in self.children.values_list("level", flat=True).distinct():
            if self.level not in self.allowed_parent_levels(child_level):
                raise ValidationError(
                    {
                        "level": _(
                            "Regions of level “%(child)s” sit under this region; it cannot "
                            "become a %(level)s."
                        )
                        % {
                            "child": self.Level(child_level).label,
                            "level": self.get_level_display(),
                        }
                    }
                )

    @property
    def full_name(self) -> str:
        """贵州省 铜仁市 江口县 闵孝镇: select_related(REGION_ANCESTORS) keeps this query-free."""
        names = []
        region = self
        while region is not None:
            names.append(region.name)
            region = region.parent
        return " ".join(reversed(names))

    @property
    def ancestors_and_self(self) -> list[Region]:
        chain = []
        region = self
        while region is not None:
            chain.append(region)
            region = region.parent
        return list(reversed(chain))

    def clean(self):
        super().clean()
        if self.code == "":
            self.code = None
        if not self.level:
            return  # the level field reports its own error
        if self.pk:
            self._check_children_fit()
        # The object, not parent_id: an import checks a region whose parent is new in the file.
        parent = self.parent
        if parent is not None and self.level == self.Level.PROVINCE:
            raise ValidationError({"parent": _("A province has no parent region.")})
        if parent is None:
            if self.level and self.level != self.Level.PROVINCE:
                raise ValidationError(
                    {"parent": _("Only a province may be without a parent region.")}
                )
            return
        if self.pk and parent.is_within(self):
            raise ValidationError({"parent": _("A region cannot sit inside itself.")})
        allowed = [self.Level(level) for level in self.allowed_parent_levels(self.level)]
        if parent.level not in allowed:
            raise ValidationError(
                {
                    "parent": _(
                        "A %(level)s must sit directly under a %(expected)s, not a %(actual)s."
                    )
                    % {
                        "level": self.get_level_display(),
                        "expected": _(" or ").join(str(level.label) for level in allowed),
                        "actual": parent.get_level_display(),
                    }
                }
            )


class Partnership(Versioned, TreePathMixin):
    """结对关系: a helping (east) region paired with an assisted (west) region."""

    name = models.CharField(
        _("short name"), max_length=100, blank=True, help_text=_("For example 莞铜 or 粤黔.")
    )
    helping_region = models.ForeignKey(
        Region,
        verbose_name=_("helping region (east)"),
        on_delete=models.PROTECT,
        related_name="partnerships_helping",
    )
    assisted_region = models.ForeignKey(
        Region,
        verbose_name=_("assisted region (west)"),
        on_delete=models.PROTECT,
        related_name="partnerships_assisted",
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent pairing"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    established_year = models.PositiveSmallIntegerField(
        _("year established"), null=True, blank=True, help_text=_("Leave empty if not known.")
    )
    established_on = models.DateField(_("date established"), null=True, blank=True)
    ended_on = models.DateField(_("date ended"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    history = audit("path")

    class Meta:
        verbose_name = _("pairing")
        verbose_name_plural = _("pairings")
        ordering = ["path"]
        permissions = [
            ("view_all_pairings", _("Can see the records of every pairing")),
            ("edit_locked_years", _("Can change records of locked years")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(helping_region=F("assisted_region")),
                name="partnership_not_self",
                violation_error_message=_("A region cannot be paired with itself."),
            ),
            models.UniqueConstraint(
                fields=["helping_region", "assisted_region"],
                condition=Q(ended_on__isnull=True),
                name="partnership_active_pair_unique",
                violation_error_message=_("These two regions already have an active pairing."),
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True)
                | Q(established_on__isnull=True)
                | Q(ended_on__gte=F("established_on")),
                name="partnership_ends_after_start",
                violation_error_message=_("A pairing cannot end before it was established."),
            ),
            models.CheckConstraint(
                condition=Q(established_year__isnull=True)
                | Q(established_year__gte=1949, established_year__lte=2100),
                name="partnership_established_year_sane",
                violation_error_message=_("The year established must be between 1949 and 2100."),
            ),
        ]

    def __str__(self) -> str:
        pair = f"{self.helping_region.name}—{self.assisted_region.name}"
        return f"{self.name}（{pair}）" if self.name else pair

    def clean(self):
        super().clean()
        if self.established_on and self.established_year is None:
            self.established_year = self.established_on.year
        if self.established_on and self.established_year != self.established_on.year:
            raise ValidationError(
                {"established_year": _("The year does not match the date established.")}
            )
        if not (self.helping_region_id and self.assisted_region_id):
            return
        if self.pk:
            outside = self.donations.exclude(
                region__path__startswith=self.assisted_region.path
            ).count()
            if outside:
                raise ValidationError(
                    {
                        "assisted_region": _(
                            "%(count)d donations of this pairing went to places outside "
                            "%(region)s; move them first."
                        )
                        % {"count": outside, "region": self.assisted_region.name}
                    }
                )
        if self.parent_id:
            parent = self.parent
            if self.pk and parent.is_within(self):
                raise ValidationError({"parent": _("A pairing cannot sit inside itself.")})
            if not (
                self.helping_region.is_within(parent.helping_region)
                and self.assisted_region.is_within(parent.assisted_region)
            ):
                raise ValidationError(
                    {
                        "parent": _(
                            "A pairing inside %(parent)s must pair a region of %(helping)s "
                            "with a region of %(assisted)s."
                        )
                        % {
                            "parent": parent,
                            "helping": parent.helping_region.name,
                            "assisted": parent.assisted_region.name,
                        }
                    }
                )

    @property
    def ancestors_and_self(self) -> list[Partnership]:
        chain = []
        node = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))


class Organisation(Versioned):
    class Kind(models.TextChoices):
        GOVERNMENT = "government", _("government")
        PARTY = "party", _("Party committee")
        COMMUNITY = "community", _("residents' or villagers' committee")
        ENTERPRISE = "enterprise", _("enterprise")
        ASSOCIATION = "association", _("chamber of commerce or association")
        CHARITY = "charity", _("charity")
        SCHOOL = "school", _("school")
        HOSPITAL = "hospital", _("hospital")
        OTHER = "other", _("other")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    region = models.ForeignKey(
        Region,
        verbose_name=_("region"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="organisations",
        help_text=_("Leave empty when the source does not say where it is."),
    )
    notes = models.TextField(_("notes"), blank=True)
    history = audit()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "name"],
                name="organisation_unique_in_region",
                violation_error_message=_("This region already has an organisation of that name."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class Person(Versioned):
    name = models.CharField(_("name"), max_length=100)
    position = models.CharField(
        _("position"),
        max_length=200,
        blank=True,
        help_text=_("As reported, e.g. 樟木头镇党委书记."),
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="people",
    )
    history = audit()

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "position"],
                name="person_name_position_unique",
                violation_error_message=_("A person with this name and position already exists."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.position}）" if self.position else self.name


class Direction(models.TextChoices):
    EAST_TO_WEST = "east_to_west", _("east to west")
    WEST_TO_EAST = "west_to_east", _("west to east")


class Visit(Versioned):
    """考察交流: a delegation from one side of a pairing to the other."""

    partnership = models.ForeignKey(
        Partnership, verbose_name=_("pairing"), on_delete=models.PROTECT, related_name="visits"
    )
    direction = models.CharField(_("direction"), max_length=20, choices=Direction.choices)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))
    date_note = models.CharField(
        _("note on the dates"),
        max_length=300,
        blank=True,
        help_text=_("Say here when a date is inferred rather than reported."),
    )
    leader = models.ForeignKey(
        Person,
        verbose_name=_("leader"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="visits_led",
    )
    members = models.ManyToManyField(
        Person, verbose_name=_("named members"), blank=True, related_name="visits_joined"
    )
    delegation_size = models.PositiveIntegerField(
        _("delegation size"), null=True, blank=True, help_text=_("Leave empty if not reported.")
    )
    delegation_description = models.CharField(
        _("delegation"), max_length=300, blank=True, help_text=_("As reported, e.g. 党政代表团.")
    )
    places = models.ManyToManyField(
        Region, verbose_name=_("places visited"), blank=True, related_name="visits"
    )
    purpose = models.TextField(_("purpose"), blank=True)
    summary = models.TextField(_("summary"), blank=True)
    source = models.TextField(_("source"), blank=True, help_text=_("Where this was reported."))
    history = audit(m2m_fields=[members, places])

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-start_date", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")),
                name="visit_end_not_before_start",
                violation_error_message=_("The end date cannot be before the start date."),
            )
        ]

    def __str__(self) -> str:
        return _("%(partnership)s visit of %(date)s") % {
            "partnership": self.partnership,
            "date": self.start_date.isoformat(),
        }

    def save(self, *args, **kwargs):
        from . import summary

        year = self.start_date.year
        with transaction.atomic():
            super().save(*args, **kwargs)
            # Meetings and donations without a day of their own are dated by this visit.
            self.meetings.filter(date__isnull=True).exclude(year=year).update(year=year)
            moved = self.donations.filter(date__isnull=True).exclude(year=year)
            # A queryset update sends no signal: the summary keys it leaves and enters are
            # refreshed here, in the same transaction.
            before = set(moved.order_by().values_list("partnership_id", "year").distinct())
            if before:
                moved.update(year=year)
                summary.refresh(before | {(pairing, year) for pairing, _old in before})

    def covers(self, day: datetime.date) -> bool:
        return self.start_date <= day <= self.end_date


class VisitActivity(models.Model):
    class Kind(models.TextChoices):
        MEETING = "meeting", _("meeting")
        INSPECTION = "inspection", _("project inspection")
        PERSONNEL = "personnel", _("call on personnel sent")
        HANDOVER = "handover", _("handover of donations")
        OTHER = "other", _("other")

    visit = models.ForeignKey(
        Visit, verbose_name=_("visit"), on_delete=models.CASCADE, related_name="activities"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=300)
    date = models.DateField(_("date"), null=True, blank=True, help_text=_("Empty if not reported."))
    place = models.ForeignKey(
        Region, verbose_name=_("place"), on_delete=models.PROTECT, null=True, blank=True
    )
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    history = audit()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["visit", "position", "pk"]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        super().clean()
        visit = self.visit  # may be the unsaved visit of the same admin page
        if (
            self.date
            and visit
            and visit.start_date
            and visit.end_date
            and not visit.covers(self.date)
        ):
            raise ValidationError({"date": _("The date must fall within the visit's dates.")})


class HeldDuringVisit(Versioned):
    """A record dated by its own date or, when the report gives none, by its visit's dates."""

    partnership = models.ForeignKey(
        Partnership, verbose_name=_("pairing"), on_delete=models.PROTECT, related_name="+"
    )
    visit = models.ForeignKey(
        Visit,
        verbose_name=_("visit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    date = models.DateField(
        _("date"),
        null=True,
        blank=True,
        help_text=_("May be left empty only for a visit whose report gives no exact day."),
    )
    # Stored so yearly filters and groupings use an index, not a function over two tables.
    year = models.PositiveSmallIntegerField(_("year"), editable=False, db_index=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(date__isnull=False) | Q(visit__isnull=False),
                name="%(class)s_dated_or_in_visit",
                violation_error_message=_("Give a date, or the visit it took place during."),
            )
        ]

    def save(self, *args, **kwargs):
        self.year = self.date.year if self.date else self.visit.start_date.year
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        # On the visit's own admin page the visit may not be saved yet: use the object.
        visit = self.visit
        if visit is None and self.date is None:
            raise ValidationError({"date": _("Give a date, or the visit it took place during.")})
        if visit is not None:
            if not (visit.start_date and visit.end_date):
                return  # the visit's own form reports its missing dates
            if self.date and not visit.covers(self.date):
                raise ValidationError(
                    {
                        "date": _(
                            "The date must fall within the visit's dates (%(start)s to %(end)s)."
                        )
                        % {"start": visit.start_date, "end": visit.end_date}
                    }
                )
            if (
                self.partnership_id
                and visit.partnership_id
                and not self.partnership.is_within(visit.partnership)
            ):
                raise ValidationError(
                    {
                        "partnership": _(
                            "The pairing must be the visit's pairing (%(partnership)s) "
                            "or one inside it."
                        )
                        % {"partnership": visit.partnership}
                    }
                )

    @property
    def effective_date(self) -> datetime.date:
        return self.date or self.visit.start_date


class Meeting(HeldDuringVisit):
    """座谈会."""

    partnership = models.ForeignKey(
        Partnership, verbose_name=_("pairing"), on_delete=models.PROTECT, related_name="meetings"
    )
    visit = models.ForeignKey(
        Visit,
        verbose_name=_("visit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="meetings",
    )
    title = models.CharField(_("title"), max_length=300)
    venue = models.CharField(_("venue"), max_length=300, blank=True)
    other_attendees = models.CharField(
        _("other attendees"),
        max_length=300,
        blank=True,
        help_text=_("Attendees the report does not name, e.g. 有关部门单位."),
    )
    agenda = models.TextField(_("agenda"), blank=True)
    outcomes = models.TextField(_("outcomes"), blank=True)
    source = models.TextField(_("source"), blank=True)
    history = audit("year")

    class Meta(HeldDuringVisit.Meta):
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["-year", "-date", "-pk"]

    def __str__(self) -> str:
        return self.title


class MeetingParticipant(models.Model):
    class Role(models.TextChoices):
        CHAIR = "chair", _("chair")
        SPEAKER = "speaker", _("speaker")
        REPORTER = "reporter", _("reporter")
        ATTENDEE = "attendee", _("attendee")

    meeting = models.ForeignKey(
        Meeting, verbose_name=_("meeting"), on_delete=models.CASCADE, related_name="participants"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="meetings"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    remarks = models.CharField(_("remarks"), max_length=300, blank=True)
    history = audit()

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ["meeting", "role", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "person", "role"],
                name="participant_role_once",
                violation_error_message=_("This person already has this role in the meeting."),
            ),
            models.UniqueConstraint(
                fields=["meeting"],
                condition=Q(role="chair"),
                name="meeting_one_chair",
                violation_error_message=_("A meeting has one chair."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person.name}（{self.get_role_display()}）"


class Category(models.TextChoices):
    INDUSTRY = "industry", _("industry")
    EMPLOYMENT = "employment", _("employment")
    EDUCATION = "education", _("education")
    MEDICAL = "medical", _("medical care")
    RURAL = "rural", _("rural construction")
    CONSUMPTION = "consumption", _("consumption")
    CULTURE_TOURISM = "culture_tourism", _("culture and tourism")
    OTHER = "other", _("other")
    UNSPECIFIED = "unspecified", _("not stated")


class DonationKind(models.TextChoices):
    FUNDS = "funds", _("funds")
    MATERIALS = "materials", _("materials")
    BOTH = "both", _("funds and materials (not split)")


class Funding(models.TextChoices):
    """The programme reports fiscal assistance apart from social donations."""

    FISCAL = "fiscal", _("fiscal assistance funds")
    SOCIAL = "social", _("social donations")
    UNSPLIT = "unsplit", _("fiscal or social not stated")


# Donors whose money is public money: a fiscal handover comes from these alone.
GOVERNMENT_KINDS = ("government", "party")


def funding_of(donor_kinds) -> str:
    """What a handover is when nothing else is known than its donors' kinds (sample data)."""
    kinds = set(donor_kinds)
    if kinds and kinds <= set(GOVERNMENT_KINDS):
        return Funding.FISCAL
    if kinds and not kinds & set(GOVERNMENT_KINDS):
        return Funding.SOCIAL
    return Funding.UNSPLIT


class Donation(HeldDuringVisit):
    """捐赠: one handover as reported, with one total for all its donors and recipients."""

    partnership = models.ForeignKey(
        Partnership, verbose_name=_("pairing"), on_delete=models.PROTECT, related_name="donations"
    )
    visit = models.ForeignKey(
        Visit,
        verbose_name=_("visit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="donations",
    )
    amount = MoneyField(_("amount (yuan)"))
    kind = models.CharField(_("funds or materials"), max_length=20, choices=DonationKind.choices)
    materials_description = models.CharField(
        _("materials"), max_length=300, blank=True, help_text=_("What the materials were.")
    )
    category = models.CharField(
        _("purpose category"), max_length=20, choices=Category.choices, default=Category.UNSPECIFIED
    )
    funding = models.CharField(
        _("fiscal or social"),
        max_length=10,
        choices=Funding.choices,
        default=Funding.UNSPLIT,
        help_text=_(
            "Fiscal assistance funds (财政援助资金) come from government budgets; social donations "
            "(社会帮扶) from enterprises, associations, communities and individuals. A handover "
            "mixing both without a split is “not stated”."
        ),
    )
    region = models.ForeignKey(
        Region,
        verbose_name=_("receiving region"),
        on_delete=models.PROTECT,
        blank=True,
        related_name="donations_received",
        help_text=_(
            "Where the handover went as a whole; the part not itemised to a recipient is "
            "counted here. Leave empty to use the smallest region holding every recipient."
        ),
    )
    donors = models.ManyToManyField(
        Organisation, verbose_name=_("donors"), related_name="donations_given"
    )
    recipient_regions = models.ManyToManyField(
        Region,
        verbose_name=_("recipient towns and villages"),
        blank=True,
        related_name="donations_named_in",
    )
    recipient_organisations = models.ManyToManyField(
        Organisation,
        verbose_name=_("recipient organisations"),
        blank=True,
        related_name="donations_received",
    )
    source = models.TextField(_("source"), blank=True, help_text=_("Where this was reported."))
    notes = models.TextField(_("notes"), blank=True)
    history = audit("year", m2m_fields=[donors, recipient_regions, recipient_organisations])

    class Meta(HeldDuringVisit.Meta):
        verbose_name = _("donation")
        verbose_name_plural = _("donations")
        ordering = ["-year", "-date", "-pk"]
        constraints = [
            *HeldDuringVisit.Meta.constraints,
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="donation_amount_positive",
                violation_error_message=_("The amount must be greater than zero."),
            ),
        ]
        # (partnership, year) for a pairing's figures; date for the admin's date hierarchy;
        # the list order, so a changelist page (filtered by year or not) reads only its rows.
        indexes = [
            models.Index(fields=["partnership", "year"]),
            models.Index(fields=["date"]),
            models.Index(fields=["-year", "-date", "-id"], name="donation_list_order"),
        ]

    def __str__(self) -> str:
        return _("%(amount)s yuan on %(date)s") % {
            "amount": f"{self.amount:,.2f}",
            "date": self.date.isoformat() if self.date else self.year,
        }

    def save(self, *args, **kwargs):
        from . import summary

        with transaction.atomic():
            # The stored key, not this copy's: the copy may have been loaded before a change.
            before = (
                Donation.objects.filter(pk=self.pk).values_list("partnership_id", "year").first()
                if self.pk is not None
                else None
            )
            super().save(*args, **kwargs)
            summary.refresh([before, (self.partnership_id, self.year)])

    def clean(self):
        super().clean()
        if self.region_id is None and self.partnership_id:
            self.region = self.partnership.assisted_region
        if self.region_id and self.partnership_id:
            message = self.region_outside_assisted_side(self.region, self.partnership)
            if message:
                raise ValidationError({"region": message})

    @staticmethod
    def region_outside_assisted_side(region: Region, partnership: Partnership) -> str | None:
        if region.is_within(partnership.assisted_region):
            return None
        return _("The receiving region must lie within %(region)s.") % {
            "region": partnership.assisted_region.name
        }

    def rebalance(self) -> None:
        """Keep the lines adding up to the amount: the not-itemised line holds the rest.

        Call it, in the same transaction, after anything that writes a donation or its lines.
        """
        itemised = self.lines.filter(is_itemised=True).aggregate(total=Sum("amount"))["total"]
        rest = self.amount - (itemised or 0)
        if rest < 0:
            raise ValidationError(
                _("The itemised lines add up to more than the donation's amount.")
            )
        if rest == 0:
            self.lines.filter(is_itemised=False).delete()
        else:
            self.lines.update_or_create(
                is_itemised=False, defaults={"amount": rest, "region": self.region}
            )


class DonationLine(models.Model):
    """Part of a donation: itemised by staff, or the automatic not-itemised rest."""

    donation = models.ForeignKey(
        Donation, verbose_name=_("donation"), on_delete=models.CASCADE, related_name="lines"
    )
    amount = MoneyField(_("amount (yuan)"))
    region = models.ForeignKey(
        Region,
        verbose_name=_("recipient region"),
        on_delete=models.PROTECT,
        related_name="donation_lines",
        help_text=_("The village, town or county this part went to."),
    )
    recipient_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("recipient organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="donation_lines_received",
    )
    donor = models.ForeignKey(
        Organisation,
        verbose_name=_("donor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="donation_lines_given",
        help_text=_("Only when the source says which donor gave this part."),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    is_itemised = models.BooleanField(_("itemised"), default=True, editable=False)
    history = audit()

    class Meta:
        verbose_name = _("donation line")
        verbose_name_plural = _("donation lines")
        ordering = ["donation", "-is_itemised", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="donation_line_amount_positive",
                violation_error_message=_("The amount must be greater than zero."),
            ),
            models.UniqueConstraint(
                fields=["donation"],
                condition=Q(is_itemised=False),
                name="donation_one_rest_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:,.2f} → {self.region.name}"


class DonationSummary(models.Model):
    """Donation totals per (pairing, year, kind, category, funding): the dashboard's figures.

    Derived, never edited by hand: every write to donations recomputes the rows of the
    (pairing, year) keys it touched in the same transaction (summary.py), so the rows always
    equal the sums over Donation. `manage.py rebuild_summary` rebuilds and checks them.
    """

    # No index of its own: the unique key below starts with the pairing.
    partnership = models.ForeignKey(
        Partnership,
        verbose_name=_("pairing"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    year = models.PositiveSmallIntegerField(_("year"))
    kind = models.CharField(_("funds or materials"), max_length=20, choices=DonationKind.choices)
    category = models.CharField(_("purpose category"), max_length=20, choices=Category.choices)
    funding = models.CharField(_("fiscal or social"), max_length=10, choices=Funding.choices)
    amount = MoneyField(_("amount (yuan)"))
    count = models.PositiveIntegerField(_("donations"))

    class Meta:
        verbose_name = _("donation summary")
        verbose_name_plural = _("donation summaries")
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "year", "kind", "category", "funding"],
                name="donation_summary_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.partnership_id} {self.year} {self.kind} {self.category} {self.funding}"


class Assignment(models.Model):
    """A user's pairing: staff enter, and scoped officials see, its records and its children's."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="pairing_assignments",
    )
    partnership = models.ForeignKey(
        Partnership,
        verbose_name=_("pairing"),
        on_delete=models.CASCADE,
        related_name="assignments",
    )

    class Meta:
        verbose_name = _("pairing assignment")
        verbose_name_plural = _("pairing assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "partnership"],
                name="assignment_once",
                violation_error_message=_("This user is already assigned to this pairing."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.partnership}"


class LockedYear(models.Model):
    """A year whose annual assessment is done: its records are frozen except for administrators."""

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    locked_at = models.DateTimeField(_("locked at"), auto_now_add=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("locked by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("locked year")
        verbose_name_plural = _("locked years")
        ordering = ["-year"]
        constraints = [
            models.CheckConstraint(
                condition=Q(year__gte=1990, year__lte=2100),
                name="locked_year_sane",
                violation_error_message=_("Choose a year between 1990 and 2100."),
            )
        ]

    def __str__(self) -> str:
        return str(self.year)
