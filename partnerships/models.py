"""The cooperation record: regions, pairings, organisations, people, visits, meetings, donations.

How donations are counted (also in README.md): a Donation is one handover as reported, with
its donors, its recipients and one total. Its amount is split into DonationLines that always
add up to exactly that total: lines that staff itemise (e.g. 20万 to 齐心村) and one
automatic "not itemised" line holding the rest at the handover's receiving region.
Every figure on the dashboard sums lines or donations, never both, so no fen is counted twice.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Sum, Value, When
from django.utils import formats, timezone
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy
from simple_history.models import HistoricalRecords

from .indexes import NullsLastIndex
from .money import MoneyField
from .punctuation import punct

# Enough joins to name any region by its full path without one query per ancestor.
REGION_ANCESTORS = "parent__parent__parent__parent"

# The years a record may fall in: from FIRST_YEAR (the programme's records start no earlier)
# to next year, the same years the dashboard's filters offer, so every record can be shown.
FIRST_YEAR = 1990


def last_year() -> int:
    return timezone.localdate().year + 1


def in_programme_years(value: datetime.date) -> bool:
    return FIRST_YEAR <= value.year <= last_year()


def validate_record_date(value: datetime.date) -> None:
    """A date of a record: in the years FIRST_YEAR to last_year() (a typo such as 0202 or
    2204 would otherwise give every chart and table centuries of empty years)."""
    if not in_programme_years(value):
        raise ValidationError(
            _("Enter a date in the years %(first)s to %(last)s."),
            code="out_of_range",
            params={"first": FIRST_YEAR, "last": last_year()},
        )


def validate_region_name(value: str) -> None:
    """A region's name has no space inside it (齐心村): a full name puts one between its parts
    (贵州省 铜仁市 江口县), so 测试 辛村 could be named in no import or filter."""
    if len(value.split()) > 1:
        raise ValidationError(
            _(
                "A region's name has no spaces: its full name is written with a space between "
                "its parts (贵州省 铜仁市 江口县), and this name would read as two."
            ),
            code="spaces",
        )


def validate_programme_year(value: int) -> None:
    """A year staff type for a record (a project's start, a year of its funds): the years
    its dates may have. The database's check allows up to 2100, and a funds row of 2099 was
    saved where a date of 2099 is refused."""
    if not FIRST_YEAR <= value <= last_year():
        raise ValidationError(
            _("Choose a year between %(low)d and %(high)d."),
            code="out_of_range",
            params={"low": FIRST_YEAR, "high": last_year()},
        )


# A count staff enter fits PostgreSQL's integer column; SQLite's would take up to 2**63 and
# then overflow when the assessment sums two of them (found by the adversarial review).
COUNT_LIMIT = MaxValueValidator(2_147_483_647)
# The same for a small integer (32767): SQLite stores any size, PostgreSQL's smallint not.
SMALL_COUNT_LIMIT = MaxValueValidator(32_767)


class ChoiceLabels:
    """get_FOO_display() from a dict of each field's values and (lazy) labels, kept per field.

    Django's makes a hashable copy of the field's choices on every call, which turns every
    label into text (a translation lookup per choice): 40 µs for a donation's kind and
    category, per row of a list. Here one label is translated, in the active language."""

    def _get_FIELD_display(self, field):
        labels = _CHOICE_LABELS.get(field)
        if labels is None:
            labels = _CHOICE_LABELS[field] = dict(field.flatchoices)
        value = getattr(self, field.attname)
        return force_str(labels.get(value, value), strings_only=True)


_CHOICE_LABELS: dict[models.Field, dict] = {}


# Lists of meetings and donations: newest first and, within a year, those known only by their
# visit (no day reported) after the dated ones, on both databases (PostgreSQL would put them
# first: it sorts NULLs first in a descending order, SQLite last).
LIST_ORDER = ("-year", F("date").desc(nulls_last=True), "-pk")


class Versioned(ChoiceLabels, models.Model):
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


# The width of each step of a materialised path: "/0000000003/0000000017/". Sorting by path
# then lists a tree in order, parents before children and siblings by id; with "/3/17/"
# steps "/13/" sorted before "/7/" and lists came out scrambled (东省01, 03, …, 02).
PATH_DIGITS = 10


def path_step(pk: int) -> str:
    """A record's step in a materialised path, without its slashes."""
    return f"{pk:0{PATH_DIGITS}d}"


def path_prefixes(path: str) -> list[str]:
    """A materialised path and its ancestors' paths, the top first: "/1/5/" → ["/1/", "/1/5/"]."""
    steps = path.strip("/").split("/")
    return ["/" + "/".join(steps[:depth]) + "/" for depth in range(1, len(steps) + 1)]


class TreePathMixin(models.Model):
    """A materialised path of primary keys ("/0000000003/0000000017/", see PATH_DIGITS) so a
    subtree is one indexed prefix and sorting by path gives the tree's order."""

    path = models.CharField(max_length=255, editable=False, db_index=True, default="")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        with transaction.atomic():
            super().save(*args, **kwargs)
            parent = self.parent
            new_path = f"{parent.path if parent else '/'}{path_step(self.pk)}/"
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

    def ancestor_ids(self) -> list[int]:
        """The ids of the rows above this one, the top first, read from its path."""
        return [int(step) for step in self.path.strip("/").split("/")[:-1]]


class Region(Versioned, TreePathMixin):
    class Level(models.IntegerChoices):
        PROVINCE = 1, _("province")
        CITY = 2, _("prefecture-level city")
        COUNTY = 3, _("county or district")
        TOWN = 4, _("town, township or subdistrict")
        VILLAGE = 5, _("village or community")

    name = models.CharField(_("name"), max_length=100, validators=[validate_region_name])
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
            RegexValidator(r"^[0-9]{12}$", _("A statistical division code has exactly 12 digits."))
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
        from . import summary

        with transaction.atomic():
            stored_path = self.path
            if stored_path and self.parent_id != (
                Region.objects.filter(pk=self.pk).values_list("parent_id", flat=True).first()
            ):
                # A move. Its pairings are locked before the paths change, as a refresh locks
                # them first: a handover added in it meanwhile, refreshed along the old paths,
                # is then either committed before its keys are read below, or waits and is
                # refreshed along the new ones.
                summary.lock_pairings(self.pairings_around())
            super().save(*args, **kwargs)
            if stored_path and self.path != stored_path:
                # The regions' totals (AreaYearTotal) of what lies in it add up along its new
                # path.
                summary.refresh(self.donation_keys_within())

    def pairings_around(self) -> list[int]:
        """The pairings with a side containing this region or lying in it: those whose
        handovers may lie in it."""
        sides = Region.objects.filter(
            Q(path__in=path_prefixes(self.path)) | Q(path__startswith=self.path)
        ).values("pk")
        return list(
            Partnership.objects.filter(
                Q(helping_region__in=sides) | Q(assisted_region__in=sides)
            ).values_list("pk", flat=True)
        )

    def donation_keys_within(self) -> set[tuple[int, int]]:
        """The (pairing, year) keys of the donations lying in this region or a place under
        it: received there, giving a line there or naming a place there as a recipient."""
        places = Region.objects.filter(path__startswith=self.path).values("pk")
        rows = [
            Donation.objects.filter(region__in=places),
            Donation.objects.filter(
                pk__in=DonationLine.objects.filter(region__in=places).values("donation_id")
            ),
            Donation.objects.filter(
                pk__in=Donation.recipient_regions.through.objects.filter(region__in=places).values(
                    "donation_id"
                )
            ),
        ]
        return {
            key
            for query in rows
            for key in query.order_by().values_list("partnership_id", "year").distinct()
        }

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

    def _check_records_follow(self, parent: Region) -> None:
        """A move to another parent carries the region and what lies under it: refuse it when
        a record tied to a place in it would leave the side of its pairing it must lie in
        (donations, projects, village–enterprise pairs, people sent), when a pairing with a
        side in it would leave its parent pairing's side, or when the region would come to
        lie inside the other side of a pairing it is a side of."""
        subtree = self.path
        places = Region.objects.filter(path__startswith=subtree).values("pk")

        def stays_within(side_path: str) -> bool:
            # Fine if the side moves along (it lies in the region) or still contains it.
            return side_path.startswith(subtree) or parent.path.startswith(side_path)

        names = {"region": self.name, "parent": parent.name}

        def refuse_leaving(sides, message) -> None:
            """`sides`: the (path, name) of each region the records must stay within."""
            for side_path, side_name in sides:
                if not stays_within(side_path):
                    raise ValidationError({"parent": message % {**names, "side": side_name}})

        # Small lookups by region, not one join fanning out over donations, lines and
        # recipients (an admin save at 1M lines).
        east_to_west = Posting.objects.filter(direction=Direction.EAST_TO_WEST)
        assisted_side = [
            (
                Q(pk__in=Donation.objects.filter(region__in=places).values("partnership"))
                | Q(
                    pk__in=DonationLine.objects.filter(region__in=places).values(
                        "donation__partnership"
                    )
                )
                | Q(
                    pk__in=Donation.recipient_regions.through.objects.filter(
                        region__in=places
                    ).values("donation__partnership")
                ),
                _(
                    "Donations to %(region)s or places in it belong to a pairing whose "
                    "assisted side is %(side)s: under %(parent)s they would lie outside "
                    "it. Correct those donations first."
                ),
            ),
            (
                Q(pk__in=AidProject.objects.filter(region__in=places).values("partnership")),
                _(
                    "Aid projects in %(region)s or places in it belong to a pairing whose "
                    "assisted side is %(side)s: under %(parent)s they would lie outside it. "
                    "Correct those projects first."
                ),
            ),
            (
                Q(
                    pk__in=VillageEnterprisePair.objects.filter(village__in=places).values(
                        "partnership"
                    )
                ),
                _(
                    "Village–enterprise pairs in %(region)s or places in it belong to a "
                    "pairing whose assisted side is %(side)s: under %(parent)s they would lie "
                    "outside it. Correct those pairs first."
                ),
            ),
            (
                Q(pk__in=east_to_west.filter(host_region__in=places).values("partnership")),
                _(
                    "People sent to work in %(region)s or places in it belong to a pairing "
                    "whose assisted side is %(side)s: under %(parent)s they would work "
                    "outside it. Correct those records of people sent first."
                ),
            ),
        ]
        for tied, message in assisted_side:
            sides = Partnership.objects.filter(tied).values_list(
                "assisted_region__path", "assisted_region__name"
            )
            refuse_leaving(sides, message)
        west_to_east = Posting.objects.exclude(direction=Direction.EAST_TO_WEST)
        refuse_leaving(
            Partnership.objects.filter(
                pk__in=west_to_east.filter(host_region__in=places).values("partnership")
            ).values_list("helping_region__path", "helping_region__name"),
            _(
                "People sent to work in %(region)s or places in it belong to a "
                "pairing whose helping side is %(side)s: under %(parent)s they "
                "would work outside it. Correct those records of people sent first."
            ),
        )
        received = (
            DonationLine.objects.filter(recipient_organisation__region__in=places)
            .exclude(region__in=places)
            .values_list("region__path", "region__name")
            .distinct()
        )
        refuse_leaving(
            received,
            _(
                "Organisations in %(region)s or places in it receive donation lines "
                "given to %(side)s: under %(parent)s they would lie outside it. "
                "Correct those lines first."
            ),
        )
        # A donation's lines, named recipient places and recipient organisations lie within
        # the region it was handed over to (the forms' rule): one that stays put keeps them.
        named = (
            Q(pk__in=DonationLine.objects.filter(region__in=places).values("donation"))
            | Q(
                pk__in=Donation.recipient_regions.through.objects.filter(region__in=places).values(
                    "donation"
                )
            )
            | Q(
                pk__in=Donation.recipient_organisations.through.objects.filter(
                    organisation__region__in=places
                ).values("donation")
            )
        )
        receiving = (
            Donation.objects.filter(named)
            .exclude(region__in=places)
            .values_list("region__path", "region__name")
            .distinct()
        )
        refuse_leaving(
            receiving,
            _(
                "Donations handed over to %(side)s name %(region)s, places in it or "
                "organisations there as recipients: under %(parent)s they would lie "
                "outside %(side)s. Correct those donations first."
            ),
        )
        # The pairings this region or a place in it is a side of.
        sided = Partnership.objects.filter(
            Q(helping_region__path__startswith=subtree)
            | Q(assisted_region__path__startswith=subtree)
        ).select_related(
            "helping_region", "assisted_region", "parent__helping_region", "parent__assisted_region"
        )
        for pairing in sided:
            for side, other, parent_side in (
                (
                    pairing.helping_region,
                    pairing.assisted_region,
                    pairing.parent and pairing.parent.helping_region,
                ),
                (
                    pairing.assisted_region,
                    pairing.helping_region,
                    pairing.parent and pairing.parent.assisted_region,
                ),
            ):
                if not side.path.startswith(subtree):
                    continue
                if not other.path.startswith(subtree) and parent.path.startswith(other.path):
                    raise ValidationError(
                        {
                            "parent": _(
                                "%(region)s or a place in it is paired with %(other)s: under "
                                "%(parent)s it would lie inside the region it is paired with."
                            )
                            % {**names, "other": other.name}
                        }
                    )
                if parent_side is not None and not stays_within(parent_side.path):
                    raise ValidationError(
                        {
                            "parent": _(
                                "%(region)s or a place in it is a side of %(pairing)s, which "
                                "is part of %(outer)s: under %(parent)s it would lie outside "
                                "%(side)s. Correct that pairing first."
                            )
                            % {
                                **names,
                                "pairing": pairing,
                                "outer": pairing.parent,
                                "side": parent_side.name,
                            }
                        }
                    )

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

    def _check_records_keep_level(self) -> None:
        """Records that name a region for what it is keep it so: a village–enterprise pair's
        village, a handover's recipient town or village. A village made a town was saved, and
        its pair refused on its next save (请选择村（社区）), still counted as a village."""
        if Region.objects.filter(pk=self.pk).values_list("level", flat=True).first() == self.level:
            return
        if (
            self.level != self.Level.VILLAGE
            and VillageEnterprisePair.objects.filter(village=self).exists()
        ):
            raise ValidationError(
                {
                    "level": _(
                        "Village–enterprise pairs name %(region)s as their village; it cannot "
                        "become a %(level)s."
                    )
                    % {"region": self.name, "level": self.get_level_display()}
                }
            )
        if (
            self.level < self.Level.TOWN
            and Donation.recipient_regions.through.objects.filter(region=self).exists()
        ):
            raise ValidationError(
                {
                    "level": _(
                        "Handovers name %(region)s among their recipient towns and villages; it "
                        "cannot become a %(level)s."
                    )
                    % {"region": self.name, "level": self.get_level_display()}
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
            self._check_records_keep_level()
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
        if self.pk and self.path and self.path != f"{parent.path}{path_step(self.pk)}/":
            self._check_records_follow(parent)
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
    established_on = models.DateField(
        _("date established"), null=True, blank=True, validators=[validate_record_date]
    )
    ended_on = models.DateField(
        _("date ended"), null=True, blank=True, validators=[validate_record_date]
    )
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
        return f"{self.name}{punct('（')}{pair}{punct('）')}" if self.name else pair

    def clean(self):
        super().clean()
        if self.established_on and self.established_year is None:
            self.established_year = self.established_on.year
        if self.established_on and self.established_year != self.established_on.year:
            raise ValidationError(
                {"established_year": _("The year does not match the date established.")}
            )
        # The years a date established may have (FIRST_YEAR to next year): the database's own
        # check allows 1949 to 2100, and a typo such as 2090 was saved.
        if self.established_year is not None and not (
            FIRST_YEAR <= self.established_year <= last_year()
        ):
            raise ValidationError(
                {
                    "established_year": _("Choose a year between %(low)d and %(high)d.")
                    % {"low": FIRST_YEAR, "high": last_year()}
                }
            )
        if self.ended_on and self.established_year and self.ended_on.year < self.established_year:
            raise ValidationError(
                {"ended_on": _("A pairing cannot end before it was established.")}
            )
        if not (self.helping_region_id and self.assisted_region_id):
            return
        reverse = Partnership.objects.filter(
            helping_region=self.assisted_region_id,
            assisted_region=self.helping_region_id,
            ended_on__isnull=True,
        ).exclude(pk=self.pk)
        if self.ended_on is None and reverse.exists():
            raise ValidationError(
                {
                    "assisted_region": _(
                        "%(assisted)s already helps %(helping)s in an active pairing: a pairing "
                        "runs from the helping side to the side it assists, not both ways."
                    )
                    % {"assisted": self.assisted_region.name, "helping": self.helping_region.name}
                }
            )
        inner, outer = self.helping_region, self.assisted_region
        if outer.is_within(inner):
            inner, outer = outer, inner
        if inner.pk != outer.pk and inner.is_within(outer):
            raise ValidationError(
                {
                    "assisted_region": _(
                        "%(inner)s lies within %(outer)s: a region cannot be paired with a "
                        "place inside it."
                    )
                    % {"inner": inner.name, "outer": outer.name}
                }
            )
        stored = None
        if self.pk:
            stored = (
                Partnership.objects.filter(pk=self.pk)
                .values("parent_id", "helping_region_id", "assisted_region_id")
                .first()
            )
        if stored and (
            stored["helping_region_id"],
            stored["assisted_region_id"],
        ) != (self.helping_region_id, self.assisted_region_id):
            self._check_records_on_sides()
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

        if stored and stored["parent_id"] != self.parent_id:
            self._check_records_follow_parent()

    def _check_records_on_sides(self) -> None:
        """A side changed (checked only then: a rename is not refused over records saved
        before a rule existed) keeps this pairing's records on it: handovers, aid projects and
        village–enterprise pairs in the assisted side, people sent where they work (the side
        their direction goes to). Only the handovers were checked: 15 postings of a county
        pairing made a town's were left working outside it, each refused on its next save."""
        assisted = Q(region__path__startswith=self.assisted_region.path)
        checks = [
            (
                "assisted_region",
                self.donations.exclude(assisted),
                _(
                    "%(count)d donations of this pairing went to places outside "
                    "%(region)s; move them first."
                ),
            ),
            (
                "assisted_region",
                AidProject.objects.filter(partnership=self).exclude(assisted),
                _(
                    "%(count)d aid projects of this pairing lie outside %(region)s; correct "
                    "them first."
                ),
            ),
            (
                "assisted_region",
                VillageEnterprisePair.objects.filter(
                    partnership=self, village__isnull=False
                ).exclude(village__path__startswith=self.assisted_region.path),
                _(
                    "%(count)d village–enterprise pairs of this pairing name villages outside "
                    "%(region)s; correct them first."
                ),
            ),
        ]
        # People sent work in the side their direction goes to.
        sent_west = Q(direction=Direction.EAST_TO_WEST)
        for field, direction in (("assisted_region", sent_west), ("helping_region", ~sent_west)):
            checks.append(
                (
                    field,
                    Posting.objects.filter(direction, partnership=self).exclude(
                        host_region__path__startswith=getattr(self, field).path
                    ),
                    _(
                        "%(count)d records of people sent by this pairing have them work "
                        "outside %(region)s; correct them first."
                    ),
                )
            )
        errors: dict[str, list[str]] = {}
        for field, records, message in checks:
            count = records.count()
            if count:
                side = getattr(self, field).name
                errors.setdefault(field, []).append(message % {"count": count, "region": side})
        if errors:
            raise ValidationError(errors)

    def _check_records_follow_parent(self) -> None:
        """A pairing moved under another parent takes its records, and its child pairings',
        along: none may stay held during a visit of a pairing that would no longer be above it
        (a town pairing's meeting on the county pairing's visit), and none of their figures'
        periods may overlap those of the pairings newly above them (a county's figures include
        its towns': workers counted twice). Both were saved, and the records refused on their
        next save."""
        above = [pairing.pk for pairing in self.parent.ancestors_and_self] if self.parent_id else []
        subtree = Q(partnership__path__startswith=self.path)
        kept = Q(visit__partnership__in=above) | Q(visit__partnership__path__startswith=self.path)
        for model in (Meeting, Donation):
            stranded = model.objects.filter(subtree, visit__isnull=False).exclude(kept)
            count = stranded.count()
            if count:
                raise ValidationError(
                    {
                        "parent": _(
                            "%(count)d %(records)s of this pairing or those within it were "
                            "held during visits of a pairing that would no longer be above "
                            "it (such as “%(visit)s”): move them to another visit first."
                        )
                        % {
                            "count": count,
                            "records": model._meta.verbose_name_plural,
                            "visit": stranded.select_related("visit").first().visit,
                        }
                    }
                )
        overlap = CooperationResult.objects.filter(
            partnership__in=above,
            period_start__lte=OuterRef("period_end"),
            period_end__gte=OuterRef("period_start"),
        )
        clash = (
            CooperationResult.objects.filter(subtree)
            .filter(Exists(overlap))
            .select_related("partnership__helping_region", "partnership__assisted_region")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                {
                    "parent": _(
                        "%(pairing)s has figures of jobs and purchases for %(start)s to %(end)s, "
                        "and a pairing that would be above it has figures for the same days: "
                        "they would count twice. Correct those periods first."
                    )
                    % {
                        "pairing": clash.partnership,
                        "start": formats.date_format(clash.period_start),
                        "end": formats.date_format(clash.period_end),
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


def _pairing_began(pairing) -> datetime.date | None:
    """The first day of a pairing's years: the day established, or its year's first day."""
    if pairing.established_on is not None:
        return pairing.established_on
    if pairing.established_year is not None:
        return datetime.date(pairing.established_year, 1, 1)
    return None


def outside_pairing_years(record) -> str | None:
    """Why a visit, meeting or handover seems misdated or on the wrong pairing: its days fall
    before its pairing was established or after it ended. Not refused (a report may say
    aid began before a pairing's formal year), but said when staff save it. None if not."""
    if isinstance(record, Visit):
        first, last = record.start_date, record.end_date
    elif record.date is not None:
        first = last = record.date
    elif record.visit_id is not None:
        first, last = record.visit.start_date, record.visit.end_date
    else:
        return None
    pairing = record.partnership
    if first is None or last is None or pairing is None:
        return None
    began = _pairing_began(pairing)
    if pairing.established_on is not None:
        began_text = formats.date_format(pairing.established_on)
    elif pairing.established_year is not None:
        began_text = pgettext("a year alone", "%(year)d") % {"year": pairing.established_year}
    values = {
        "what": record._meta.verbose_name,
        "record": record,
        "pairing": pairing,
        "day": formats.date_format(first),
    }
    if began is not None and last < began:
        return _(
            "The %(what)s “%(record)s” is dated %(day)s, before its pairing “%(pairing)s” was "
            "established (%(established)s). Check the date and the pairing."
        ) % {**values, "established": began_text}
    if pairing.ended_on is not None and first > pairing.ended_on:
        return _(
            "The %(what)s “%(record)s” is dated %(day)s, after its pairing “%(pairing)s” ended "
            "(%(ended)s). Check the date and the pairing."
        ) % {**values, "ended": formats.date_format(pairing.ended_on)}
    return None


def records_outside_years(pairing) -> int:
    """How many of the pairing's own visits, meetings and handovers are dated before it was
    established or after it ended (as outside_pairing_years tells of one): said when staff
    change its dates, as the records themselves are when saved."""
    began, ended = _pairing_began(pairing), pairing.ended_on
    if began is None and ended is None:
        return 0
    visits, dated = Q(), Q()
    if began is not None:
        visits |= Q(end_date__lt=began)
        dated |= Q(date__lt=began) | Q(date=None, visit__end_date__lt=began)
    if ended is not None:
        visits |= Q(start_date__gt=ended)
        dated |= Q(date__gt=ended) | Q(date=None, visit__start_date__gt=ended)
    return (
        Visit.objects.filter(visits, partnership=pairing).count()
        + Meeting.objects.filter(dated, partnership=pairing).count()
        + Donation.objects.filter(dated, partnership=pairing).count()
    )


def dated_ahead(record) -> str | None:
    """Whether a visit, meeting or handover is dated after today: the record of one that
    has not happened yet, or a typo (2027 for 2024). Not refused (the years allowed run to
    next year, for plans), but said when staff save it. None if not."""
    day = record.start_date if isinstance(record, Visit) else record.date
    today = timezone.localdate()
    if day is None or day <= today:
        return None
    return _(
        "The %(what)s “%(record)s” is dated %(day)s, after today (%(today)s). Check the date: "
        "a visit, meeting or handover is recorded once it has taken place."
    ) % {
        "what": record._meta.verbose_name,
        "record": record,
        "day": formats.date_format(day),
        "today": formats.date_format(today),
    }


def recorded_twice(record, *, may_delete: bool = True) -> str | None:
    """Whether another visit, meeting, handover, posting or village–enterprise pair of the
    same pairing records the same thing: a visit of the same days and direction, a meeting of
    the same title and day (or visit), a handover of the same day, visit, amount, kind,
    receiving region, donors and recipients (as an import tells one "already recorded"), a
    posting of the same kind, direction, person or number, place, organisations and dates, a
    pair of the same village, organisation, meeting and dates. Not refused (two handovers may
    be alike), but said when staff save it: saved twice, it counted twice in every total, and
    the visit picker listed two identical entries. None if no other is alike."""
    if record.pk is None or record.partnership_id is None:
        return None
    if isinstance(record, Visit):
        same = {"start_date": record.start_date, "end_date": record.end_date}
        same["direction"] = record.direction
    elif isinstance(record, Meeting):
        same = {"title": record.title, "date": record.date, "visit": record.visit_id}
    elif isinstance(record, Donation):
        same = {"date": record.date, "visit": record.visit_id, "amount": record.amount}
        same.update(kind=record.kind, region=record.region_id)
    elif isinstance(record, (Posting, VillageEnterprisePair)):
        same = {
            name: getattr(record, name)
            for name in ("start_date", "end_date", "known_on", "known_during_id")
        }
        if isinstance(record, Posting):  # a group counted twice in the people sent
            same.update(kind=record.kind, direction=record.direction, person=record.person_id)
            same.update(headcount=record.headcount, host_region=record.host_region_id)
            same.update(
                host_organisation=record.host_organisation_id,
                sending_organisation=record.sending_organisation_id,
            )
        else:
            same.update(organisation=record.organisation_id, village=record.village_id)
            same.update(meeting=record.meeting_id)
    else:
        return None
    others = (
        type(record).objects.filter(partnership=record.partnership_id, **same).exclude(pk=record.pk)
    )
    if isinstance(record, Donation):  # and the same donors and recipients

        def named(donation) -> tuple[set[int], ...]:
            return tuple(
                set(related.values_list("pk", flat=True))
                for related in (
                    donation.donors,
                    donation.recipient_regions,
                    donation.recipient_organisations,
                )
            )

        mine = named(record)
        alike = [other for other in others[:20] if named(other) == mine]
    else:
        alike = list(others[:1])
    if not alike:
        return None
    if may_delete:
        message = _(
            "Another %(what)s of this pairing records the same (“%(other)s”, number "
            "%(number)d): if it was entered twice, delete one of them, or it counts twice."
        )
    else:  # data-entry staff delete no visit, meeting or handover
        message = _(
            "Another %(what)s of this pairing records the same (“%(other)s”, number "
            "%(number)d): if it was entered twice, ask an administrator to delete one of "
            "them, or it counts twice."
        )
    return message % {"what": record._meta.verbose_name, "other": alike[0], "number": alike[0].pk}


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
        # Pickers look for namesakes (with_namesakes), and lists sort by name.
        indexes = [models.Index(fields=["name"], name="organisation_name")]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "name"],
                name="organisation_unique_in_region",
                violation_error_message=_("This region already has an organisation of that name."),
            ),
            # The constraint above lets any number of rows with no region share a name (NULLs
            # are distinct), and imports and donation pages would not know which one is meant.
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(region__isnull=True),
                name="organisation_unique_without_region",
                violation_error_message=_(
                    "An organisation of that name without a region is already recorded: "
                    "choose it where it is needed, or ask an administrator if you cannot find it."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        from . import summary

        with transaction.atomic():
            locked: set[int] = set()  # the pairings of its handovers, locked
            if self.pk and type(self).objects.filter(pk=self.pk).exclude(kind=self.kind).exists():
                # A new kind rewrites its handovers' donor columns and refreshes their
                # pairings (below): both locked now, before the organisation (lock_given).
                locked = {pairing for _pk, pairing in lock_given(self)}
            # Locked, so no handover gains it as a donor between this read and the recount:
            # a save adding the link waits for this transaction, then stores the new kind
            # (summary.settle_donor_kinds; the link's own foreign key is checked only at
            # its commit, after its donor columns were stored).
            stored_kind = (
                type(self)
                .objects.select_for_update()
                .filter(pk=self.pk)
                .values_list("kind", flat=True)
                .first()
                if self.pk
                else None
            )
            super().save(*args, **kwargs)
            if stored_kind is not None and stored_kind != self.kind:
                given = self.donations_given.all()
                # A handover of another pairing that named it while this waited for the
                # organisation: its pairing is locked after the organisation, out of order, so
                # without waiting (a save holding it may be waiting for the organisation: a
                # deadlock). Taken, or this save is refused as one that met another.
                joined = set(given.values_list("partnership_id", flat=True)) - locked
                summary.lock_pairings(joined, nowait=True)
                store_donor_columns(given.values("pk"))
                # The totals by donor kind count its handovers under its new kind.
                summary.refresh(given.order_by().values_list("partnership_id", "year").distinct())

    @classmethod
    def with_namesakes(cls, queryset: models.QuerySet) -> models.QuerySet:
        """`queryset` with what `unambiguous_name` needs, in the same query: whether another
        organisation has the same name, and the region's names."""
        return queryset.select_related(f"region__{REGION_ANCESTORS}").annotate(
            has_namesake=models.Exists(
                cls._default_manager.filter(name=models.OuterRef("name")).exclude(
                    pk=models.OuterRef("pk")
                )
            )
        )

    @property
    def unambiguous_name(self) -> str:
        """The organisation as the admin's pickers and a pairing's top donors show it: its
        name, and where it is when another organisation has the same name (each county has
        its 县人民政府, and a recipient recorded with no region may share a name with one
        recorded in a region), so staff do not pick another county's. Read from
        `with_namesakes`; without it, the name alone."""
        if not getattr(self, "has_namesake", False):
            return self.name
        where = self.region.full_name if self.region_id else _("place not recorded")
        return f"{self.name}{punct('（')}{where}{punct('）')}"


# Each donor kind's bit in Donation.donor_kinds. Add new kinds at the end, with the next bit:
# stored masks keep the meaning of the bits they were written with.
DONOR_KIND_BITS = {
    "government": 1,
    "party": 2,
    "community": 4,
    "enterprise": 8,
    "association": 16,
    "charity": 32,
    "school": 64,
    "hospital": 128,
    "other": 256,
}


def donor_kind_q(kind: str, prefix: str = "") -> Q:
    """Donations (reached through `prefix`) with at least one donor of this kind.

    `mask & bit > 0`, not `= bit`: PostgreSQL has no statistics on the expression, and
    guesses a third of the rows for an inequality but one in 200 for an equality. That guess
    made a province's village table under "enterprise" (half of all handovers) probe the
    lines 108,000 times, one by one: 0.66 s."""
    bit = DONOR_KIND_BITS[kind]
    return Q(models.lookups.GreaterThan(F(f"{prefix}donor_kinds").bitand(bit), 0))


class Person(Versioned):
    # a person's name is 姓名; an organisation's or a place's, 名称
    name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
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
        if not self.position:
            return self.name
        return f"{self.name}{punct('（')}{self.position}{punct('）')}"


class Direction(models.TextChoices):
    EAST_TO_WEST = "east_to_west", _("east to west")
    WEST_TO_EAST = "west_to_east", _("west to east")


class Visit(Versioned):
    """考察交流: a delegation from one side of a pairing to the other."""

    partnership = models.ForeignKey(
        Partnership, verbose_name=_("pairing"), on_delete=models.PROTECT, related_name="visits"
    )
    direction = models.CharField(_("direction"), max_length=20, choices=Direction.choices)
    start_date = models.DateField(_("start date"), validators=[validate_record_date])
    end_date = models.DateField(_("end date"), validators=[validate_record_date])
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
        _("delegation size"),
        null=True,
        blank=True,
        help_text=_("Leave empty if not reported."),
        validators=[COUNT_LIMIT],
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
            # as the dashboard writes a day: 樟木头镇—江口县 2023年1月10日考察交流
            "date": formats.date_format(self.start_date),
        }

    def save(self, *args, **kwargs):
        from . import summary

        year = self.start_date.year
        with transaction.atomic():
            super().save(*args, **kwargs)
            # Meetings and donations without a day of their own are dated by this visit, as
            # are people sent and village–enterprise pairs known only by it (InPostPeriod).
            self.meetings.filter(date__isnull=True).exclude(year=year).update(year=year)
            # Their last year moves too where no end date sets it (InPostPeriod.save).
            for found in (self.posting_seen, self.villageenterprisepair_seen):
                found.filter(start_date__isnull=True, known_on__isnull=True).update(
                    year=year,
                    last_year=Case(
                        When(end_date__isnull=True, then=Value(year)),
                        default=F("last_year"),
                        output_field=models.PositiveSmallIntegerField(),
                    ),
                )
            moved = self.donations.filter(date__isnull=True).exclude(year=year)
            # A queryset update sends no signal: the summary keys it leaves and enters are
            # refreshed here, in the same transaction.
            before = set(moved.order_by().values_list("partnership_id", "year").distinct())
            if before:
                moved.update(year=year)
                summary.refresh(before | {(pairing, year) for pairing, _old in before})

    @classmethod
    def with_namesakes(cls, queryset: models.QuerySet) -> models.QuerySet:
        """`queryset` with what `unambiguous_name` needs, in the same query: whether another
        visit of the pairing starts the same day, and the pairing's and leader's names."""
        return queryset.select_related(
            "partnership__helping_region", "partnership__assisted_region", "leader"
        ).annotate(
            has_namesake=models.Exists(
                cls._default_manager.filter(
                    partnership=models.OuterRef("partnership"),
                    start_date=models.OuterRef("start_date"),
                ).exclude(pk=models.OuterRef("pk"))
            )
        )

    @property
    def unambiguous_name(self) -> str:
        """The visit as the admin's pickers show it: its pairing and first day, and when
        another visit of the pairing starts the same day (a delegation each way), its
        direction, last day and leader, so staff do not give a handover or a meeting the
        other one. Read from `with_namesakes`; without it, as `str`."""
        if not getattr(self, "has_namesake", False):
            return str(self)
        details = [self.get_direction_display()]
        if self.end_date != self.start_date:
            details.append(_("until %(date)s") % {"date": formats.date_format(self.end_date)})
        if self.leader_id:
            details.append(_("led by %(name)s") % {"name": self.leader.name})
        return f"{self}{punct('（')}{punct('，').join(details)}{punct('）')}"

    def covers(self, day: datetime.date) -> bool:
        return self.start_date <= day <= self.end_date

    def clean(self):
        """New days or a new pairing must still agree with the people sent and the
        village–enterprise pairs recorded as found during it (InPostPeriod): moved past a
        posting's end, the visit's page would list it as called on when it was not in post."""
        super().clean()
        if self.pk is None or not self.has_valid_dates or not self.partnership_id:
            return
        found = [
            *Posting.objects.filter(known_during=self.pk).select_related(
                "partnership", "person", "host_region"
            ),
            *VillageEnterprisePair.objects.filter(known_during=self.pk).select_related(
                "partnership"
            ),
        ]
        for record in found:
            try:
                record._clean_known_during(self)
            except ValidationError as error:
                raise ValidationError(
                    _(
                        "“%(record)s” (%(what)s, number %(number)d) is recorded as found during "
                        "this visit and would no longer agree with it: %(reason)s Correct that "
                        "record first."
                    )
                    % {
                        "record": record,
                        "what": record._meta.verbose_name,
                        "number": record.pk,
                        "reason": " ".join(error.messages),
                    }
                ) from error

    @property
    def has_valid_dates(self) -> bool:
        """Whether its days can date what happened during it. When not (missing, reversed, a
        typo such as 2204), its own form says so once; the meetings and handovers on the same
        page do not each repeat it as "outside the visit"."""
        if not (self.start_date and self.end_date) or self.end_date < self.start_date:
            return False
        return in_programme_years(self.start_date) and in_programme_years(self.end_date)


class VisitActivity(ChoiceLabels, models.Model):
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
    date = models.DateField(
        _("date"),
        null=True,
        blank=True,
        help_text=_("Empty if not reported."),
        validators=[validate_record_date],
    )
    place = models.ForeignKey(
        Region, verbose_name=_("place"), on_delete=models.PROTECT, null=True, blank=True
    )
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveSmallIntegerField(
        _("order"), default=0, validators=[SMALL_COUNT_LIMIT]
    )
    history = audit()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["visit", "position", "pk"]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        super().clean()
        try:
            visit = self.visit  # may be the unsaved visit of the same admin page
        except Visit.DoesNotExist:  # none yet (a row of a page sent by hand)
            visit = None
        if self.date and visit and visit.has_valid_dates and not visit.covers(self.date):
            raise ValidationError({"date": _("The date must fall within the visit's dates.")})


NO_DATE_NOR_VISIT = _("Give a date, or the visit it took place during.")


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
        validators=[validate_record_date],
    )
    # Stored so yearly filters and groupings use an index, not a function over two tables.
    year = models.PositiveSmallIntegerField(_("year"), editable=False, db_index=True)

    # A visit's meetings and handovers as a report tells them (the visit's page in the admin
    # and on the dashboard, its print and export): by day, then in the order entered; those
    # with no day of their own (on a day of the visit not reported) after, on both databases
    # (SQLite sorts an empty date first, PostgreSQL last).
    IN_VISIT_ORDER = (F("date").asc(nulls_last=True), "pk")

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
            raise ValidationError({"date": NO_DATE_NOR_VISIT})
        if visit is not None:
            if not visit.has_valid_dates:
                return  # the visit's own form reports its missing or wrong dates
            if self.date and not visit.covers(self.date):
                raise ValidationError(
                    {
                        "date": _(
                            "The date must fall within the visit's dates (%(start)s to %(end)s)."
                        )
                        % {
                            "start": formats.date_format(visit.start_date),
                            "end": formats.date_format(visit.end_date),
                        }
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
        ordering = LIST_ORDER

    def __str__(self) -> str:
        return self.title


class MeetingParticipant(ChoiceLabels, models.Model):
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
        # In the order entered, which is the report's: a report may name a guest before the
        # chair, and ordering by role code would put attendees first.
        ordering = ["meeting", "pk"]
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
        return f"{self.person.name}{punct('（')}{self.get_role_display()}{punct('）')}"


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
            "counted here. Leave empty to use the smallest region holding every recipient; "
            "a region filled in that way follows the recipients when they change."
        ),
    )
    # Whether the form filled the region in (left empty); such a region follows the recipients
    # when they change, one chosen by hand stays (forms.DonationForm).
    region_filled_in = models.BooleanField(
        # db_default too: generate_dataset's COPY leaves the column out
        _("receiving region filled in"),
        default=False,
        db_default=False,
        editable=False,
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
    # Stored so "given alone or jointly" is a column, not a count per donor link: kept by the
    # donors' m2m_changed signal (count_donors below), and by generate_dataset's COPY.
    donor_count = models.PositiveSmallIntegerField(_("number of donors"), default=0, editable=False)
    # Its donors' kinds, one bit each (DONOR_KIND_BITS), so "given by an enterprise" is a
    # column, not a search of the donor links: a province's yearly totals under a donor kind
    # hashed all 600,000 links at a million lines. Kept with donor_count, and when an
    # organisation's kind changes.
    donor_kinds = models.PositiveIntegerField(_("donors' kinds"), default=0, editable=False)
    history = audit(
        "year",
        "donor_count",
        "donor_kinds",
        "region_filled_in",
        m2m_fields=[donors, recipient_regions, recipient_organisations],
    )

    class Meta(HeldDuringVisit.Meta):
        verbose_name = _("donation")
        verbose_name_plural = _("donations")
        ordering = LIST_ORDER
        constraints = [
            *HeldDuringVisit.Meta.constraints,
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="donation_amount_positive",
                violation_error_message=_("The amount must be greater than zero."),
            ),
        ]
        # (partnership, year) for a pairing's figures, with what a pairing's village table
        # and top donors read of each donation, so PostgreSQL answers them from the index
        # alone; date for the admin's date hierarchy; the list order, so a changelist page
        # (filtered by year or not) reads only its rows, with the receiving region and the
        # pairing, so a region's list chooses a page's keys from the index alone, for a user
        # of every pairing or of some (paging.py).
        indexes = [
            models.Index(
                fields=["partnership", "year", "id", "amount", "donor_count", "donor_kinds"],
                name="donation_pairing_year_amounts",
            ),
            models.Index(fields=["date"]),
            NullsLastIndex(
                F("year").desc(),
                F("date").desc(nulls_last=True),
                F("id").desc(),
                name="donation_list_order",
                include=["region", "partnership"],
            ),
            # A year's first and last day, for the date hierarchy of a list filtered by year
            # (two index lookups): PostgreSQL finds MIN and MAX only in an index whose NULLs
            # sort as the plain order's, which the list order's (NULLS LAST) no longer is; it
            # scanned the date index for the year instead, 0.3 s at a million lines.
            models.Index(fields=["year", "date"], name="donation_year_date"),
        ]

    def __str__(self) -> str:
        amount = f"{self.amount:,.2f}"
        if self.date is None and self.year is None:  # a version in the audit trail: no year kept
            return _("%(amount)s yuan, undated") % {"amount": amount}
        if self.date is None:  # the report gives the year only
            return _("%(amount)s yuan in %(year)s") % {"amount": amount, "year": self.year}
        # as the admin's lists and history write it: 2024年3月6日, 2024-03-06 in English
        date = formats.date_format(self.date)
        return _("%(amount)s yuan on %(date)s") % {"amount": amount, "date": date}

    def save(self, *args, **kwargs):
        from . import summary

        with transaction.atomic():
            # The stored key, not this copy's: the copy may have been loaded before a change.
            # And the stored donor columns, which the donor links keep: a copy loaded before
            # its donors or a donor's kind changed would write the old ones back (locked, as
            # the save's own UPDATE would lock the row, so they cannot change in between).
            stored = (
                Donation.objects.select_for_update(no_key=True)
                .filter(pk=self.pk)
                .values_list("partnership_id", "year", "donor_count", "donor_kinds")
                .first()
                if self.pk is not None
                else None
            )
            before = None
            if stored is not None:
                partnership_id, year, self.donor_count, self.donor_kinds = stored
                before = (partnership_id, year)
            super().save(*args, **kwargs)
            summary.refresh([before, (self.partnership_id, self.year)])

    def delete(self, *args, **kwargs):
        from . import summary

        # Each of its lines going refreshes the key (their post_delete), and so does the
        # donation: collected, the key is refreshed once, after all of them are gone.
        with transaction.atomic(), summary.deferred():
            return super().delete(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.region_id is None and self.partnership_id:
            self.region = self.partnership.assisted_region
        if self.region_id and self.partnership_id:
            message = self.region_outside_assisted_side(self.region, self.partnership)
            if message:
                raise ValidationError({"region": message})

    @staticmethod
    def region_outside_assisted_side(
        region: Region, partnership: Partnership, message=None
    ) -> str | None:
        """Why `region` may not be a place of `partnership`'s records, or None. `message`
        names the place as its record does (the default: a handover's receiving region)."""
        if region.is_within(partnership.assisted_region):
            return None
        message = message or _("The receiving region must lie within %(region)s.")
        return message % {"region": partnership.assisted_region.name}

    @property
    def shows_lines(self) -> bool:
        """Whether its record lists its lines: once one is itemised, every one, the rest not
        itemised included (one not-itemised line alone is the handover itself). Reads the
        lines prefetched, as the visit's page and its printed record have them."""
        lines = self.lines.all()
        return len(lines) > 1 or (len(lines) == 1 and lines[0].is_itemised)

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
            return
        # Written only when it changes: a visit's page rebalances every handover of the visit,
        # and each write was a version in the audit trail (a locked year's line "changed" by
        # whoever saved the visit) and a refresh of the totals.
        line = self.lines.filter(is_itemised=False).first()
        if line is None:
            self.lines.create(is_itemised=False, amount=rest, region=self.region)
        elif line.amount != rest or line.region_id != self.region_id:
            line.amount, line.region = rest, self.region
            line.save()


def count_donors(donation_ids) -> None:
    """Store each donation's number of donors and their kinds (after any change to its
    donors), and refresh the donor totals of their keys (who gave, and what each gave
    alone)."""
    from . import summary

    donation_ids = list(donation_ids)
    store_donor_columns(donation_ids)
    summary.refresh_donations(donation_ids)


def store_donor_columns(donation_ids) -> None:
    """Donation.donor_count and donor_kinds of these donations (ids, or a queryset of them,
    which stays a subquery), from their donor links."""
    if not isinstance(donation_ids, models.QuerySet):
        donation_ids = list(donation_ids)
    Donation.objects.filter(pk__in=donation_ids).update(**_donor_columns())


def stale_donor_columns() -> models.QuerySet:
    """The donations whose stored donor_count or donor_kinds differ from their donor links
    (none when exact): rebuild_summary --check counts them, a rebuild recounts only them
    rather than writing all 770,000 handovers of a million lines again."""
    linked = {f"linked_{name}": value for name, value in _donor_columns().items()}
    return Donation.objects.alias(**linked).exclude(
        donor_count=F("linked_donor_count"), donor_kinds=F("linked_donor_kinds")
    )


def _donor_columns() -> dict:
    """The donor columns of a donation as its links give them. The distinct bits of the
    donors' kinds, summed, are their bitwise OR, on both databases."""
    links = (
        Donation.donors.through.objects.filter(donation_id=models.OuterRef("pk"))
        .order_by()
        .values("donation_id")
    )
    kind_bit = models.Case(
        *(
            models.When(organisation__kind=kind, then=models.Value(bit))
            for kind, bit in DONOR_KIND_BITS.items()
        ),
        default=models.Value(0),
    )
    return {
        "donor_count": models.functions.Coalesce(
            models.Subquery(links.annotate(n=models.Count("*")).values("n")), 0
        ),
        "donor_kinds": models.functions.Coalesce(
            models.Subquery(links.annotate(mask=Sum(kind_bit, distinct=True)).values("mask")), 0
        ),
    }


def donors_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """m2m_changed on Donation.donors, from either side (donation.donors, org.donations_given)."""
    if reverse and action == "pre_clear":
        # Which donations lose this donor is known only before the clear.
        instance._donations_cleared = list(instance.donations_given.values_list("pk", flat=True))
    elif action in ("post_add", "post_remove"):
        count_donors(pk_set if reverse else [instance.pk])
    elif action == "post_clear":
        count_donors(getattr(instance, "_donations_cleared", []) if reverse else [instance.pk])


def lock_given(organisation: Organisation) -> list[tuple[int, int]]:
    """Lock the handovers `organisation` gave to, then their pairings, each in id order (call
    inside a transaction, before locking or deleting the organisation); their ids and
    pairings.

    For a change that rewrites those handovers' donor columns and refreshes their keys (a new
    kind, a deletion): in the order a handover's own save takes them, its row
    (Donation.save) and then its pairing (the refresh). A deletion that took the pairings
    first deadlocked with such a save, each holding what the other waited for; so did a kind
    change that took the organisation first with a save adding it as a donor (which holds
    the pairing, then waits for the organisation)."""
    from . import summary

    given = list(
        Donation.objects.select_for_update(no_key=True, of=("self",))
        .filter(donors=organisation)
        .order_by("pk")
        .values_list("pk", "partnership_id")
    )
    summary.lock_pairings(pairing for _pk, pairing in given)
    return given


def donor_deleting(sender, instance, **kwargs) -> None:
    """pre_delete on Organisation: the donations it gave to, recounted once it is gone.

    They and their pairings are locked now (lock_given), as the recount and refresh after
    the deletion lock them: Django's cascade deletes the donor's DonorYearTotal rows before
    that refresh, and a save of one of those pairings in between (which holds the pairing's
    lock and deletes those rows to recompute them) deadlocked with the deletion."""
    instance._donations_given = [pk for pk, _pairing in lock_given(instance)]


def donor_deleted(sender, instance, **kwargs) -> None:
    count_donors(getattr(instance, "_donations_given", []))


class DonationLine(models.Model):
    """Part of a donation: itemised by staff, or the automatic not-itemised rest."""

    # Indexed with the region and the amount below, not alone.
    donation = models.ForeignKey(
        Donation,
        verbose_name=_("donation"),
        on_delete=models.CASCADE,
        related_name="lines",
        db_index=False,
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
        indexes = [
            # A pairing's village table reads, for each of its donations, where the lines
            # went and how much: from this index alone on PostgreSQL (an index-only scan),
            # 21 -> 13 ms for a county at 1M lines. It serves the foreign key's lookups too.
            models.Index(
                fields=["donation", "region", "amount"], name="line_donation_region_amount"
            )
        ]
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


class PairingYearKeyed(models.Model):
    """A derived table keyed by (pairing, year) first, as summary.refresh recomputes it: the
    donation summary and the yearly, place and donor totals."""

    # No index of its own: each table's unique key starts with the pairing.
    partnership = models.ForeignKey(
        Partnership,
        verbose_name=_("pairing"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    year = models.PositiveSmallIntegerField(_("year"))

    class Meta:
        abstract = True


class SummaryFigures(PairingYearKeyed):
    """A pairing's donations of a year of one kind, category and funding: their amount and
    how many."""

    kind = models.CharField(_("funds or materials"), max_length=20, choices=DonationKind.choices)
    category = models.CharField(_("purpose category"), max_length=20, choices=Category.choices)
    funding = models.CharField(_("fiscal or social"), max_length=10, choices=Funding.choices)
    amount = MoneyField(_("amount (yuan)"))
    count = models.PositiveIntegerField(_("donations"))

    class Meta:
        abstract = True


class DonationSummary(ChoiceLabels, SummaryFigures):
    """Donation totals per (pairing, year, kind, category, funding): the dashboard's figures.

    Derived, never edited by hand: every write to donations recomputes the rows of the
    (pairing, year) keys it touched in the same transaction (summary.py), so the rows always
    equal the sums over Donation. `manage.py rebuild_summary` rebuilds and checks them.
    """

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


class DonorKindSummary(SummaryFigures):
    """DonationSummary's figures once more for each kind of donor: per (pairing, donor kind,
    year, kind, category, funding), the donations with at least one donor of that kind (a
    handover with donors of two kinds counts in full under each, as the donor-kind filter
    selects it under each). The dashboard's figures under a donor kind read it: the overview
    summed all 770,000 handovers of a million lines twice (190 ms of a 250 ms page).

    Derived like DonationSummary, from the same rows, in the same refresh (summary.py); a
    donor's change of kind refreshes its handovers' keys."""

    donor_kind = models.CharField(_("donor kind"), max_length=20, choices=Organisation.Kind.choices)

    class Meta:
        verbose_name = _("donation summary by donor kind")
        verbose_name_plural = _("donation summaries by donor kind")
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "donor_kind", "year", "kind", "category", "funding"],
                name="donor_kind_summary_key",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.partnership_id} {self.donor_kind} {self.year} {self.kind} {self.category} "
            f"{self.funding}"
        )


class PairingYearTotal(PairingYearKeyed):
    """Donation totals per (pairing, year), with their split by kind and by funding in columns
    named after the choices: the figures of a dashboard not filtered by category, kind or
    funding, in one row per pairing and year (DonationSummary has one per kind, category and
    funding as well, up to 81).

    Derived like DonationSummary, in the same transaction (summary.py). `amount` is the sum
    of the kind columns, and of the funding columns.
    """

    amount = MoneyField(_("amount (yuan)"))
    count = models.PositiveIntegerField(_("donations"))
    # One column per choice, named "kind_<value>" and "funding_<value>" (total_column()).
    kind_funds = MoneyField(DonationKind.FUNDS.label)
    kind_materials = MoneyField(DonationKind.MATERIALS.label)
    kind_both = MoneyField(DonationKind.BOTH.label)
    funding_fiscal = MoneyField(Funding.FISCAL.label)
    funding_social = MoneyField(Funding.SOCIAL.label)
    funding_unsplit = MoneyField(Funding.UNSPLIT.label)

    class Meta:
        verbose_name = _("pairing's yearly donation total")
        verbose_name_plural = _("pairings' yearly donation totals")
        constraints = [
            models.UniqueConstraint(fields=["partnership", "year"], name="pairing_year_total_key")
        ]

    def __str__(self) -> str:
        return f"{self.partnership_id} {self.year}"


class Facet(models.TextChoices):
    """A filter on what a donation is, whose values the totals by filter are kept for. The
    names of reports.Filters' fields, and of Donation's columns but the last."""

    CATEGORY = "category", _("purpose category")
    KIND = "kind", _("funds or materials")
    FUNDING = "funding", _("fiscal or social")
    DONOR_KIND = "donor_kind", _("donor kind")


class PlaceFigures(PairingYearKeyed):
    """A place's figures in a pairing's year: what lines gave it, how many lines, and how
    many handovers name it as a recipient with no share of their own."""

    region = models.ForeignKey(
        Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="+"
    )
    amount = MoneyField(_("amount (yuan)"))
    lines = models.PositiveIntegerField(_("donation lines"))
    unknown = models.PositiveIntegerField(_("handovers naming it without its share"))

    class Meta:
        abstract = True


class PlaceYearTotal(PlaceFigures):
    """Per (pairing, year, region): what the pairing's donations of that year gave the region
    in lines, how many lines, and how many of them name the region as a recipient with no
    share of their own (no line to it, not handed over to it: FACTS.md's 105万 to six
    villages and a town). A pairing's village table reads it when nothing filters what the
    donations are: a province pairing's 176,000 lines joined to their donations took half a
    second at a million lines.

    Derived like DonationSummary, in the same refresh of a (pairing, year) key (summary.py),
    which lines and recipient links also start. "No share of its own" is a village's meaning
    (it has no places within it); only the village table reads `unknown`.
    """

    class Meta:
        verbose_name = _("place's yearly donation total")
        verbose_name_plural = _("places' yearly donation totals")
        # On PostgreSQL this key also carries amount, lines and unknown (migration 0030), so
        # a pairing's village table is read from the index alone.
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "year", "region"], name="place_year_total_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.partnership_id} {self.year} {self.region_id}"


class PlaceFacetYearTotal(PlaceFigures):
    """PlaceYearTotal's figures once more for each value of each filter on what a donation
    is (its category, kind, funding, or a kind of one of its donors): per (pairing, facet,
    value, year, region). A page filtered on one of them reads it: a province pairing's
    village table under a category summed 176,000 lines and their donations (220 ms at a
    million lines), under a donor kind 390 ms.

    A handover with donors of two kinds counts in full under each, as the filter selects it
    under each. Derived like PlaceYearTotal, in the same refresh (summary.py). Two filters
    on what the donations are, together, are read from the lines.

    A region's page under such a filter sums the rows of the places under it, of every
    pairing: read by region, filter and value (an index carrying the pairing and the
    figures on PostgreSQL), not by scanning the 2.7 million rows of a million lines (a
    province's table: 126 → 40 ms of SQL)."""

    # Indexed with the filter below, not alone.
    region = models.ForeignKey(
        Region,
        verbose_name=_("region"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    facet = models.CharField(_("filter"), max_length=10, choices=Facet.choices)
    value = models.CharField(_("value"), max_length=20)

    class Meta:
        verbose_name = _("place's yearly donation total by filter")
        verbose_name_plural = _("places' yearly donation totals by filter")
        # The filter before the year: a pairing's rows of one value are one range of the key.
        # On PostgreSQL it also carries the figures (migration 0037), as PlaceYearTotal's.
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "facet", "value", "year", "region"],
                name="place_facet_year_total_key",
            )
        ]
        # A region's rows of one value, over the pairings in view. On PostgreSQL it also
        # carries the pairing and the figures (SQLite has no such columns in an index).
        indexes = [
            models.Index(
                fields=["region", "facet", "value", "year"],
                include=["partnership", "amount", "lines", "unknown"],
                name="place_facet_year_total_region",
            )
        ]

    def __str__(self) -> str:
        return f"{self.partnership_id} {self.facet}={self.value} {self.year} {self.region_id}"


class AreaYearTotal(PairingYearKeyed):
    """Per (pairing, year, region): the pairing's donations of that year within the region, the
    region and every place under it together. What their lines gave there, how many lines,
    and how many handovers lie there: received in it, giving a line to a place in it or naming
    one as a recipient, each counted once. One row for every region with such a place under
    it, itself included, up to the province.

    A region's page reads its table of child places and counts its list of handovers from it
    when nothing filters what the donations are: a province's page summed 80,000 place totals
    of its 9,400 places for the table, and counted its 135,000 handovers among all of them
    (about 90 and 70 ms at a million lines). Its handovers per year also tell in which years
    a deep page of that list lies.

    Derived like PlaceYearTotal, in the same refresh (summary.py); it depends on where each
    place lies as well, so moving a region refreshes the keys of the donations within it.
    """

    # Indexed with the year below, not alone.
    region = models.ForeignKey(
        Region,
        verbose_name=_("region"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    amount = MoneyField(_("amount (yuan)"))
    lines = models.PositiveIntegerField(_("donation lines"))
    handovers = models.PositiveIntegerField(_("handovers"))

    class Meta:
        verbose_name = _("region's yearly donation total")
        verbose_name_plural = _("regions' yearly donation totals")
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "year", "region"], name="area_year_total_key"
            )
        ]
        # Read by region: a region's row and its children's, over the pairings in view. On
        # PostgreSQL it also carries the pairing and the figures (migration 0041).
        indexes = [models.Index(fields=["region", "year"], name="area_year_total_region")]

    def __str__(self) -> str:
        return f"{self.partnership_id} {self.year} {self.region_id}"


def donor_kinds_of(donor_kinds: int) -> list[str]:
    """The donor kinds whose bits a Donation.donor_kinds mask holds."""
    return [name for name, bit in DONOR_KIND_BITS.items() if donor_kinds & bit]


def facet_values(category: str, kind: str, funding: str, donor_kinds: int) -> list[tuple]:
    """The (facet, value) pairs under which a donation of these columns is counted in
    PlaceFacetYearTotal: one for each of its columns, one for each of its donors' kinds."""
    return [
        (Facet.CATEGORY.value, category),
        (Facet.KIND.value, kind),
        (Facet.FUNDING.value, funding),
        *((Facet.DONOR_KIND.value, name) for name in donor_kinds_of(donor_kinds)),
    ]


class DonorFigures(PairingYearKeyed):
    """A donor's figures in a pairing's year: the amount of the handovers it took part in,
    the part it gave alone (a joint handover counts in full for each donor, its split
    unknown) and how many handovers."""

    organisation = models.ForeignKey(
        Organisation, verbose_name=_("donor"), on_delete=models.CASCADE, related_name="+"
    )
    amount = MoneyField(_("amount (yuan)"))
    sole = MoneyField(_("given alone (yuan)"))
    count = models.PositiveIntegerField(_("donations"))

    class Meta:
        abstract = True


class DonorYearTotal(DonorFigures):
    """Per (pairing, year, donor): the amount of the handovers the donor took part in, the
    part it gave alone (a joint handover counts in full for each donor, its split unknown)
    and how many handovers. The top donors read it when nothing filters what the donations
    are (a donor kind is the donor's own column, so it may be chosen).

    Derived like DonationSummary, in the same refresh (summary.py), which changes to a
    donation's donors also start.
    """

    class Meta:
        verbose_name = _("donor's yearly donation total")
        verbose_name_plural = _("donors' yearly donation totals")
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "year", "organisation"], name="donor_year_total_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.partnership_id} {self.year} {self.organisation_id}"


# The filters on what a donation is that the donor totals by filter are kept for: a donor
# kind is the donor's own column, which DonorYearTotal's rows already have.
DONOR_FACETS = (Facet.CATEGORY, Facet.KIND, Facet.FUNDING)


class DonorFacetYearTotal(DonorFigures):
    """DonorYearTotal's figures once more for each value of the donation's category, kind
    and funding: per (pairing, facet, value, year, donor). The top donors under one of those
    filters read it: a province pairing's summed its 176,000 handovers' donor links (70 ms at
    a million lines). Derived like DonorYearTotal, in the same refresh (summary.py)."""

    facet = models.CharField(_("filter"), max_length=10, choices=Facet.choices)
    value = models.CharField(_("value"), max_length=20)

    class Meta:
        verbose_name = _("donor's yearly donation total by filter")
        verbose_name_plural = _("donors' yearly donation totals by filter")
        # On PostgreSQL it also carries the figures (migration 0039), as DonorYearTotal's.
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "facet", "value", "year", "organisation"],
                name="donor_facet_year_total_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.partnership_id} {self.facet}={self.value} {self.year} {self.organisation_id}"


def total_column(dimension: str, value: str) -> str:
    """PairingYearTotal's column for one kind or funding: ("kind", "funds") → "kind_funds"."""
    return f"{dimension}_{value}"


# PairingYearTotal's split columns: (dimension, value, column) for every kind and funding.
TOTAL_SPLITS = [
    *(("kind", kind, total_column("kind", kind)) for kind in DonationKind.values),
    *(("funding", funding, total_column("funding", funding)) for funding in Funding.values),
]


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

    # Who gave or took away a clerk's or an official's pairing: a deleted assignment left no
    # page where another administrator could find it.
    history = audit()

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
        from .history import user_name  # history reads these models

        name, username = user_name(self.user), self.user.get_username()
        if name != username:  # 王芳（wang）: the name colleagues know, the account's key
            name = f"{name}{punct('（')}{username}{punct('）')}"
        return f"{name} → {self.partnership}"


class StagedImport(models.Model):
    """A file previewed on an import page, kept until it is confirmed (at most an hour).

    It used to travel back through the browser, signed, in the confirmation's form: a
    spreadsheet of 2 MB or more made that form larger than Django takes (2.5 MB of form
    data), and its confirmation failed where its preview had passed. Nothing of it is a
    record until the confirmation checks it again and saves it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    name = models.CharField(max_length=255)
    data = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("file waiting for its import")
        verbose_name_plural = _("files waiting for their import")
        default_permissions = ()  # no admin page: the import page's rights are the records'

    def __str__(self) -> str:
        return self.name


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

    def save(self, *args, **kwargs):
        from . import access

        # Waits for the saves and imports under way to commit (access.hold_locked_years).
        with transaction.atomic():
            access.hold_locked_years(exclusive=True)
            super().save(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# The rest of the annual assessment (年度协议): people sent, projects, village–enterprise pairs,
# jobs and purchases, and the targets they are measured against.


def known_fields(*, on_label, on_help, during_label, during_help):
    """`known_on` and `known_during` of an `InPostPeriod`, in the words of what it records."""
    known_on = models.DateField(
        on_label, null=True, blank=True, help_text=on_help, validators=[validate_record_date]
    )
    known_during = models.ForeignKey(
        Visit,
        verbose_name=during_label,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="%(class)s_seen",
        help_text=during_help,
    )
    return known_on, known_during


class InPostPeriod(Versioned):
    """A stretch of time known by its dates, or only by one day or visit it was under way.

    Reports often say that teachers were in post, or that a programme existed, when a
    delegation called, without saying when it began or ends: `known_on` (a day) or
    `known_during` (the visit, when not even the day is reported) records just that.
    `year` and `last_year` are stored so a year's figures are one indexed range condition;
    `last_year` is empty while it is ongoing.
    """

    start_date = models.DateField(
        _("start date"), null=True, blank=True, validators=[validate_record_date]
    )
    end_date = models.DateField(
        _("end date"),
        null=True,
        blank=True,
        help_text=_(
            "Empty with a start date means still under way: it counts in every year up to "
            "this one. When it has ended but the end is not reported, give the last day known."
        ),
        validators=[validate_record_date],
    )
    known_on, known_during = known_fields(
        on_label=_("known to be under way on"),
        on_help=_("When the start is not reported: a day it was reported under way."),
        during_label=_("known to be under way during the visit"),
        during_help=_(
            "When neither the start nor the day is reported: the visit that found it under way "
            "(e.g. a delegation that called on the teachers sent)."
        ),
    )
    year = models.PositiveSmallIntegerField(_("first year"), editable=False, db_index=True)
    last_year = models.PositiveSmallIntegerField(
        _("last year"), editable=False, null=True, blank=True
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(start_date__isnull=False)
                | Q(known_on__isnull=False)
                | Q(known_during__isnull=False),
                name="%(class)s_dated",
                violation_error_message=_(
                    "Give the start date, a day it was known to be under way, or the visit "
                    "that found it under way."
                ),
            ),
        ]

    def save(self, *args, **kwargs):
        years = self.span_of(self.start_date, self.end_date, self.known_day)
        self.year = years.start
        # Ongoing when it has a start and no end; otherwise it ends in its last known year.
        self.last_year = None if self.start_date and not self.end_date else years.stop - 1
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.start_date is None and self.known_day is None:
            raise ValidationError(
                {
                    "start_date": _(
                        "Give the start date, a day it was known to be under way, or the "
                        "visit that found it under way."
                    )
                }
            )
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The end date cannot be before the start date.")})
        if self.known_on and self.start_date and self.known_on < self.start_date:
            raise ValidationError({"known_on": _("This day is before the start date.")})
        if self.known_on and self.end_date and self.known_on > self.end_date:
            raise ValidationError({"known_on": _("This day is after the end date.")})
        self.clean_visit_that_found_it()

    def clean_visit_that_found_it(self) -> None:
        """The rule on `known_during` alone (also checked on records saved before it,
        by `check_records`)."""
        if self.known_during_id:
            self._clean_known_during(self.known_during)

    def _clean_known_during(self, visit: Visit) -> None:
        """The visit that found it under way agrees with its dates and its pairing: the visit's
        page lists it as called on, which a visit of another pairing, or of days it was not
        under way, would say wrongly (and a visit of a locked year would change unnoticed)."""
        partnership = self.partnership if self.partnership_id else None  # every subclass has one
        if (
            partnership is not None
            and visit.partnership_id
            and not (
                partnership.is_within(visit.partnership) or visit.partnership.is_within(partnership)
            )
        ):
            raise ValidationError(
                {
                    "known_during": _(
                        "The visit must be of this pairing, of one above it or of one within it; "
                        "this one is of %(partnership)s."
                    )
                    % {"partnership": visit.partnership}
                }
            )
        if not visit.has_valid_dates:
            return
        days = {
            "start": formats.date_format(visit.start_date),
            "end": formats.date_format(visit.end_date),
        }
        if self.known_on and not visit.covers(self.known_on):
            raise ValidationError(
                {
                    "known_on": _(
                        "This day is not during the visit chosen (%(start)s to %(end)s): give "
                        "a day of the visit, or only one of the two."
                    )
                    % days
                }
            )
        if self.start_date and visit.end_date < self.start_date:
            raise ValidationError(
                {
                    "known_during": _(
                        "This visit (%(start)s to %(end)s) ended before the start date."
                    )
                    % days
                }
            )
        if self.end_date and visit.start_date > self.end_date:
            raise ValidationError(
                {
                    "known_during": _("This visit (%(start)s to %(end)s) began after the end date.")
                    % days
                }
            )

    @property
    def known_day(self) -> datetime.date | None:
        if self.known_on:
            return self.known_on
        return self.known_during.start_date if self.known_during_id else None

    @staticmethod
    def span_of(start, end, known) -> range:
        """The years a span counts in: start to end; an ongoing one up to this year; one known
        only by a day or a visit, that year alone."""
        first = start or known
        if end:
            last = end.year
        elif start:
            last = max(first.year, timezone.localdate().year)
        else:
            last = first.year
        return range(first.year, last + 1)

    @classmethod
    def in_year_q(cls, year: int) -> Q:
        """Counting in `year` (span_of): an ongoing one up to this year, or in its first year
        alone when that is later."""
        ongoing = Q(last_year__isnull=True)
        if year > timezone.localdate().year:
            ongoing &= Q(year=year)
        return Q(year__lte=year) & (Q(last_year__gte=year) | ongoing)

    @staticmethod
    def counts_in(year: int, first: int, last: int | None) -> bool:
        """Whether a span of stored years `first` to `last` (None: ongoing) counts in `year`."""
        return first <= year <= (last or max(first, timezone.localdate().year))

    def span_years(self) -> range:
        """Every year it counts in; an ongoing one up to this year."""
        last = self.last_year or max(self.year, timezone.localdate().year)
        return range(self.year, last + 1)

    @classmethod
    def locking_years(cls, cleaned) -> set[int]:
        """The years a form's values would make it count in."""
        visit = cleaned.get("known_during")
        known = cleaned.get("known_on") or (visit.start_date if visit else None)
        start = cleaned.get("start_date")
        if not (start or known):
            return set()
        return set(cls.span_of(start, cleaned.get("end_date"), known))


class Posting(InPostPeriod):
    """人才交流: people sent from one side of a pairing to work on the other."""

    class Kind(models.TextChoices):
        OFFICIAL = "official", _("official on secondment (挂职干部)")
        TEACHER = "teacher", _("teacher (支教)")
        DOCTOR = "doctor", _("doctor or nurse (支医)")
        TECHNICIAN = "technician", _("other professional or technician")

    partnership = models.ForeignKey(
        Partnership, verbose_name=_("pairing"), on_delete=models.PROTECT, related_name="postings"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    direction = models.CharField(
        _("direction"), max_length=20, choices=Direction.choices, default=Direction.EAST_TO_WEST
    )
    person = models.ForeignKey(
        Person,
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="postings",
        help_text=_("When one named person is sent; leave empty for a group."),
    )
    headcount = models.PositiveIntegerField(
        _("number of people"),
        null=True,
        blank=True,
        help_text=_("Leave empty when the report does not give the number."),
        validators=[
            MinValueValidator(
                1,
                _(
                    "A group of 0 is no one sent: leave the number empty when the report "
                    "does not give it."
                ),
            ),
            COUNT_LIMIT,
        ],
    )
    sending_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("sent by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="postings_sent",
    )
    host_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("host"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="postings_hosted",
    )
    host_region = models.ForeignKey(
        Region,
        verbose_name=_("where they work"),
        on_delete=models.PROTECT,
        related_name="postings_hosted",
    )
    notes = models.TextField(_("notes"), blank=True)
    source = models.TextField(_("source"), blank=True, help_text=_("Where this was reported."))
    history = audit("year", "last_year")

    class Meta(InPostPeriod.Meta):
        verbose_name = _("person or group sent")
        verbose_name_plural = _("people sent")
        ordering = ["-year", "kind", "pk"]
        constraints = [
            *InPostPeriod.Meta.constraints,
            models.CheckConstraint(
                condition=Q(person__isnull=True) | Q(headcount=1),
                name="posting_named_person_is_one",
                violation_error_message=_("A named person is one person: the number must be 1."),
            ),
        ]
        indexes = [models.Index(fields=["partnership", "year"])]

    def __str__(self) -> str:
        who = self.person.name if self.person_id else self.get_kind_display()
        count = _("number not reported") if self.headcount is None else self.headcount
        return f"{who}{punct('（')}{count}{punct('）')} → {self.host_region.name}"

    @classmethod
    def kind_order(cls) -> Case:
        """The kinds in the order the agreement's indicators and the report name them
        (officials, then teachers and doctors: 老师和医生), not their codes' alphabet."""
        ranks = [When(kind=value, then=Value(rank)) for rank, value in enumerate(cls.Kind.values)]
        return Case(*ranks, default=Value(len(ranks)))

    def clean(self):
        super().clean()
        if self.person_id and self.headcount is None:
            self.headcount = 1
        if not (self.partnership_id and self.host_region_id):
            return
        side = (
            self.partnership.assisted_region
            if self.direction == Direction.EAST_TO_WEST
            else self.partnership.helping_region
        )
        if not self.host_region.is_within(side):
            raise ValidationError(
                {
                    "host_region": _("People sent %(direction)s work within %(region)s.")
                    % {"direction": self.get_direction_display(), "region": side.name}
                }
            )


class ProjectStatus(models.TextChoices):
    PLANNED = "planned", _("planned")
    BUILDING = "building", _("under construction")
    COMPLETED = "completed", _("completed")
    SUSPENDED = "suspended", _("suspended")
    UNKNOWN = "unknown", _("not reported")


class AidProject(Versioned):
    """援建项目: a project built with the pairing's help, and its money year by year."""

    partnership = models.ForeignKey(
        Partnership,
        verbose_name=_("pairing"),
        on_delete=models.PROTECT,
        related_name="projects",
    )
    name = models.CharField(_("name"), max_length=200)
    region = models.ForeignKey(
        Region,
        verbose_name=_("where"),
        on_delete=models.PROTECT,
        related_name="projects",
    )
    category = models.CharField(
        _("category"), max_length=20, choices=Category.choices, default=Category.UNSPECIFIED
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.UNKNOWN
    )
    status_as_of = models.DateField(
        _("status as of"),
        null=True,
        blank=True,
        help_text=_("The day the status was reported."),
        validators=[validate_record_date],
    )
    start_year = models.PositiveSmallIntegerField(
        _("year started"),
        null=True,
        blank=True,
        help_text=_("Leave empty if not reported."),
        validators=[validate_programme_year],
    )
    completed_on = models.DateField(
        _("date completed"), null=True, blank=True, validators=[validate_record_date]
    )
    description = models.TextField(_("description"), blank=True)
    source = models.TextField(_("source"), blank=True, help_text=_("Where this was reported."))
    history = audit()

    class Meta:
        verbose_name = _("aid project")
        verbose_name_plural = _("aid projects")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "name"],
                name="project_name_unique_in_pairing",
                violation_error_message=_("This pairing already has a project of that name."),
            ),
            models.CheckConstraint(
                condition=Q(start_year__isnull=True)
                | Q(start_year__gte=1990, start_year__lte=2100),
                name="project_start_year_sane",
                violation_error_message=_("The year started must be between 1990 and 2100."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def counting_years(start: int | None, status: str | None, completed_on) -> set[int]:
        """The years the project counts as under way in by itself (indicators, beside its
        funds rows and inspections): its start year; while under construction, every year
        since up to this one; once completed, every year up to its completion's."""
        if not start:
            return set()
        last = start
        if completed_on is not None:
            last = max(last, completed_on.year)
        elif status == ProjectStatus.BUILDING:
            last = max(last, timezone.localdate().year)
        return set(range(start, last + 1))

    @classmethod
    def locking_years_of_change(cls, project: AidProject, cleaned) -> set[int]:
        """The years a form's values would change: the project's start year (a project is
        frozen by it), and each year it would begin or stop counting as under way in. A
        project being built since 2020 may be renamed, given this year's funds or marked
        completed while 2021 is locked, not added or restarted in 2022 (2021's count would
        change). Its funds rows are locked by their own years (forms.ProjectFundsFormSet)."""
        start = cleaned.get("start_year")
        new = cls.counting_years(start, cleaned.get("status"), cleaned.get("completed_on"))
        old = set()
        moved = set()
        if project.pk:
            old = cls.counting_years(project.start_year, project.status, project.completed_on)
            partnership = cleaned.get("partnership")
            if partnership is not None and partnership.pk != project.partnership_id:
                # its funds and inspections count under its pairing: moved, they leave the
                # years they are in (a locked year's funds row, left as it is on the page,
                # would otherwise be carried to another pairing)
                moved = set(project.funds.values_list("year", flat=True))
                moved |= set(
                    Inspection.objects.filter(project=project).values_list(
                        "visit__start_date__year", flat=True
                    )
                )
                moved |= old
        return ({start} if start else set()) | (old ^ new) | moved

    def clean(self):
        super().clean()
        if self.completed_on and self.status not in (ProjectStatus.COMPLETED,):
            raise ValidationError({"status": _("A project with a completion date is completed.")})
        if self.completed_on and self.start_year and self.completed_on.year < self.start_year:
            raise ValidationError(
                {"completed_on": _("A project cannot be completed before the year it started.")}
            )
        begun = self.status in (
            ProjectStatus.BUILDING,
            ProjectStatus.COMPLETED,
            ProjectStatus.SUSPENDED,
        )
        # "planned" may be reported before its start, not "under construction"
        if (
            begun
            and self.status_as_of
            and self.start_year
            and self.status_as_of.year < self.start_year
        ):
            raise ValidationError(
                {
                    "status_as_of": _(
                        "A project cannot be under way, completed or suspended before the "
                        "year it started (%(year)s)."
                    )
                    % {"year": self.start_year}
                }
            )
        if self.status_as_of and self.completed_on and self.status_as_of < self.completed_on:
            raise ValidationError(
                {"status_as_of": _("The status date cannot be before the completion date.")}
            )
        if self.partnership_id and self.region_id:
            message = Donation.region_outside_assisted_side(
                self.region, self.partnership, _("The project's place must lie within %(region)s.")
            )
            if message:
                raise ValidationError({"region": message})


class ProjectFunds(models.Model):
    """What a project was promised and what it spent in one year; empty when not reported."""

    project = models.ForeignKey(
        AidProject, verbose_name=_("project"), on_delete=models.CASCADE, related_name="funds"
    )
    year = models.PositiveSmallIntegerField(_("year"), validators=[validate_programme_year])
    committed = MoneyField(_("committed (yuan)"), null=True, blank=True, allow_zero=True)
    spent = MoneyField(_("spent (yuan)"), null=True, blank=True, allow_zero=True)
    history = audit()

    class Meta:
        verbose_name = _("project funds for a year")
        verbose_name_plural = _("project funds by year")
        ordering = ["project", "year"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "year"],
                name="project_funds_once_a_year",
                violation_error_message=_("This project already has funds for that year."),
            ),
            models.CheckConstraint(
                condition=Q(year__gte=1990, year__lte=2100),
                name="project_funds_year_sane",
                violation_error_message=_("Choose a year between 1990 and 2100."),
            ),
            models.CheckConstraint(
                condition=Q(committed__isnull=True) | Q(committed__gte=0),
                name="project_committed_not_negative",
                violation_error_message=_("An amount cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(spent__isnull=True) | Q(spent__gte=0),
                name="project_spent_not_negative",
                violation_error_message=_("An amount cannot be negative."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} {self.year}"


class Inspection(models.Model):
    """A visit that inspected a project (考察项目建设)."""

    visit = models.ForeignKey(
        Visit, verbose_name=_("visit"), on_delete=models.CASCADE, related_name="inspections"
    )
    project = models.ForeignKey(
        AidProject,
        verbose_name=_("project"),
        on_delete=models.PROTECT,
        related_name="inspections",
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    history = audit()

    class Meta:
        verbose_name = _("project inspected")
        verbose_name_plural = _("projects inspected")
        ordering = ["visit", "project"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "project"],
                name="inspection_once_per_visit",
                violation_error_message=_("This visit already lists this project."),
            )
        ]

    def __str__(self) -> str:
        return str(self.project)


class VillageEnterprisePair(InPostPeriod):
    """村企结对: an enterprise or social organisation paired with a village."""

    partnership = models.ForeignKey(
        Partnership,
        verbose_name=_("pairing"),
        on_delete=models.PROTECT,
        related_name="village_pairs",
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("enterprise or social organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="village_pairs",
        help_text=_("Leave empty when the report does not name it."),
    )
    village = models.ForeignKey(
        Region,
        verbose_name=_("village"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="enterprise_pairs",
        help_text=_("Leave empty when the report does not name it."),
    )
    # InPostPeriod's words are a posting's (在岗, teachers called on): a pair is in effect.
    known_on, known_during = known_fields(
        on_label=_("known to be paired on"),
        on_help=_("When the start is not reported: a day the pairing was reported in effect."),
        during_label=_("known to be paired during the visit"),
        during_help=_(
            "When neither the start nor the day is reported: the visit during which the "
            "pairing was reported in effect (e.g. one whose symposium discussed it)."
        ),
    )
    meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("meeting"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="village_pairs",
        help_text=_("A symposium or signing where this pairing was discussed."),
    )
    notes = models.TextField(_("notes"), blank=True)
    source = models.TextField(_("source"), blank=True, help_text=_("Where this was reported."))
    history = audit("year", "last_year")

    class Meta(InPostPeriod.Meta):
        verbose_name = _("village–enterprise pair")
        verbose_name_plural = _("village–enterprise pairs")
        ordering = ["-year", "pk"]
        constraints = InPostPeriod.Meta.constraints
        indexes = [models.Index(fields=["partnership", "year"])]

    def __str__(self) -> str:
        unnamed = _("not named")
        organisation = self.organisation.name if self.organisation_id else unnamed
        village = self.village.name if self.village_id else unnamed
        return f"{organisation} — {village}"

    @property
    def is_named(self) -> bool:
        return bool(self.organisation_id and self.village_id)

    def clean(self):
        super().clean()
        if self.village_id and self.village.level != Region.Level.VILLAGE:
            raise ValidationError({"village": _("Choose a village or community.")})
        if self.village_id and self.partnership_id:
            message = Donation.region_outside_assisted_side(
                self.village, self.partnership, _("The village must lie within %(region)s.")
            )
            if message:
                raise ValidationError({"village": message})


class CooperationResult(Versioned):
    """劳务协作 and 消费帮扶, with investment and parks: a pairing's figures for one period."""

    partnership = models.ForeignKey(
        Partnership,
        verbose_name=_("pairing"),
        on_delete=models.PROTECT,
        related_name="results",
    )
    period_start = models.DateField(_("period from"), validators=[validate_record_date])
    period_end = models.DateField(_("period to"), validators=[validate_record_date])
    year = models.PositiveSmallIntegerField(_("year"), editable=False, db_index=True)
    workers_employed = models.PositiveIntegerField(
        _("rural workers helped into jobs"), null=True, blank=True, validators=[COUNT_LIMIT]
    )
    formerly_poor_employed = models.PositiveIntegerField(
        _("of whom formerly poor"), null=True, blank=True, validators=[COUNT_LIMIT]
    )
    purchases = MoneyField(
        _("western farm products bought or sold (yuan)"), null=True, blank=True, allow_zero=True
    )
    enterprises_invested = models.PositiveIntegerField(
        _("enterprises guided to invest"), null=True, blank=True, validators=[COUNT_LIMIT]
    )
    investment = MoneyField(
        _("amount they invested (yuan)"), null=True, blank=True, allow_zero=True
    )
    industrial_parks = models.PositiveIntegerField(
        _("industrial parks built together"), null=True, blank=True, validators=[COUNT_LIMIT]
    )
    source = models.TextField(_("source"), blank=True, help_text=_("Where this was reported."))
    notes = models.TextField(_("notes"), blank=True)
    history = audit("year")

    class Meta:
        verbose_name = _("jobs and purchases")
        verbose_name_plural = _("jobs and purchases")
        ordering = ["-period_start", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="result_period_ordered",
                violation_error_message=_("The period cannot end before it starts."),
            ),
            models.CheckConstraint(
                condition=Q(formerly_poor_employed__isnull=True)
                | Q(
                    workers_employed__isnull=False,
                    formerly_poor_employed__lte=F("workers_employed"),
                ),
                name="result_poor_within_workers",
                violation_error_message=_(
                    "The formerly poor are counted among the workers: their number cannot be "
                    "larger."
                ),
            ),
            models.CheckConstraint(
                condition=Q(purchases__isnull=True) | Q(purchases__gte=0),
                name="result_purchases_not_negative",
                violation_error_message=_("An amount cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(investment__isnull=True) | Q(investment__gte=0),
                name="result_investment_not_negative",
                violation_error_message=_("An amount cannot be negative."),
            ),
        ]
        indexes = [models.Index(fields=["partnership", "year"])]

    FIGURES = (
        "workers_employed",
        "formerly_poor_employed",
        "purchases",
        "enterprises_invested",
        "investment",
        "industrial_parks",
    )

    def __str__(self) -> str:
        return f"{self.partnership} {self.period_start}—{self.period_end}"

    def save(self, *args, **kwargs):
        self.year = self.period_start.year
        super().save(*args, **kwargs)

    @staticmethod
    def locking_years(cleaned) -> set[int]:
        start = cleaned.get("period_start")
        return {start.year} if start else set()

    def clean(self):
        super().clean()
        if not (self.period_start and self.period_end):
            return
        if self.period_end < self.period_start:  # said before "one year", which it also breaks
            raise ValidationError({"period_end": _("The period cannot end before it starts.")})
        if self.period_end.year != self.period_start.year:
            raise ValidationError(
                {"period_end": _("A period lies within one year: enter one record per year.")}
            )
        if all(getattr(self, name) is None for name in self.FIGURES):
            raise ValidationError(_("Enter at least one figure."), code="no_figure")
        if self.partnership_id:
            # A pairing's figures include its child pairings': a county's and its town's
            # figures for the same days would count twice too.
            pairing = self.partnership
            related = Q(partnership__path__startswith=pairing.path) | Q(
                partnership__in=[p.pk for p in pairing.ancestors_and_self]
            )
            overlapping = (
                CooperationResult.objects.filter(
                    related,
                    period_start__lte=self.period_end,
                    period_end__gte=self.period_start,
                )
                .exclude(pk=self.pk)
                .select_related("partnership__helping_region", "partnership__assisted_region")
            )
            other = overlapping.first()
            if other is not None:
                raise ValidationError(
                    {
                        "period_start": _(
                            "%(pairing)s already has figures for %(start)s to %(end)s; a pairing "
                            "and the pairings within it must not have overlapping periods, or "
                            "the figures would count twice."
                        )
                        % {
                            "pairing": other.partnership,
                            "start": formats.date_format(other.period_start),
                            "end": formats.date_format(other.period_end),
                        }
                    }
                )


class Indicator(models.TextChoices):
    """The indicators of an annual cooperation agreement, in the order reports list them."""

    FISCAL_FUNDS = "fiscal_funds", _("fiscal assistance funds")
    SOCIAL_DONATIONS = "social_donations", _("social donations of funds and goods")
    OFFICIALS = "officials", _("officials on secondment")
    PROFESSIONALS = "professionals", _("teachers, doctors and technicians sent")
    WORKERS = "workers", _("rural workers helped into jobs")
    FORMERLY_POOR = "formerly_poor", _("of whom formerly poor")
    ENTERPRISES = "enterprises", _("enterprises guided to invest")
    INVESTMENT = "investment", _("investment by those enterprises")
    PARKS = "parks", _("industrial parks built together")
    PURCHASES = "purchases", _("farm products bought or sold for the west")
    VILLAGE_PAIRS = "village_pairs", _("villages paired with enterprises")
    PROJECTS = "projects", _("aid projects under way")


# Indicators measured in money (targets in yuan, exact to the fen); the rest count things.
MONEY_INDICATORS = (
    Indicator.FISCAL_FUNDS,
    Indicator.SOCIAL_DONATIONS,
    Indicator.INVESTMENT,
    Indicator.PURCHASES,
)
# What the other indicators count, as the unit after their figures (人, 家, 个).
COUNT_UNITS = {
    Indicator.OFFICIALS: pgettext_lazy("unit", "people"),
    Indicator.PROFESSIONALS: pgettext_lazy("unit", "people"),
    Indicator.WORKERS: pgettext_lazy("unit", "people"),
    Indicator.FORMERLY_POOR: pgettext_lazy("unit", "people"),
    Indicator.ENTERPRISES: pgettext_lazy("unit", "enterprises"),
    Indicator.PARKS: pgettext_lazy("unit", "parks"),
    Indicator.VILLAGE_PAIRS: pgettext_lazy("unit", "villages"),
    Indicator.PROJECTS: pgettext_lazy("unit", "projects"),
}


class AnnualTarget(Versioned):
    """年度协议: what a pairing agreed to reach in a year, one indicator at a time."""

    partnership = models.ForeignKey(
        Partnership, verbose_name=_("pairing"), on_delete=models.PROTECT, related_name="targets"
    )
    year = models.PositiveSmallIntegerField(_("year"))
    indicator = models.CharField(_("indicator"), max_length=20, choices=Indicator.choices)
    amount = MoneyField(
        _("target amount (yuan)"),
        null=True,
        blank=True,
        help_text=_("For indicators in money, e.g. 1000万."),
    )
    count = models.PositiveIntegerField(
        _("target number"),
        null=True,
        blank=True,
        help_text=_("For indicators that count."),
        validators=[COUNT_LIMIT],
    )
    source = models.TextField(
        _("source"), blank=True, help_text=_("The agreement or plan the target comes from.")
    )
    history = audit()

    class Meta:
        verbose_name = _("annual target")
        verbose_name_plural = _("annual targets")
        ordering = ["-year", "partnership", "indicator"]
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "year", "indicator"],
                name="target_once_per_year",
                violation_error_message=_(
                    "This pairing already has a target for this indicator in this year."
                ),
            ),
            models.CheckConstraint(
                condition=Q(
                    indicator__in=[i.value for i in MONEY_INDICATORS],
                    amount__gt=0,
                    count__isnull=True,
                )
                | (
                    ~Q(indicator__in=[i.value for i in MONEY_INDICATORS])
                    & Q(count__gt=0, amount__isnull=True)
                ),
                name="target_value_fits_indicator",
                violation_error_message=_(
                    "Give a target amount for an indicator in money, and a target number for "
                    "the others; the target must be greater than zero."
                ),
            ),
            models.CheckConstraint(
                condition=Q(year__gte=1990, year__lte=2100),
                name="target_year_sane",
                violation_error_message=_("Choose a year between 1990 and 2100."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partnership} {self.year} {self.get_indicator_display()}"

    @property
    def value(self) -> Decimal | int | None:
        return self.amount if self.indicator in MONEY_INDICATORS else self.count

    def clean(self):
        super().clean()
        # The years a record's date may have (FIRST_YEAR to next year, the agreement for the
        # coming year included): the database's check allows up to 2100, and a target for 2099
        # headed the targets panel's and the ranking's years.
        if self.year is not None and not (FIRST_YEAR <= self.year <= last_year()):
            raise ValidationError(
                {
                    "year": _("Choose a year between %(low)d and %(high)d.")
                    % {"low": FIRST_YEAR, "high": last_year()}
                }
            )
        if not self.indicator:
            return
        if self.indicator in MONEY_INDICATORS:
            if self.amount is None:
                raise ValidationError({"amount": _("Give the target in yuan.")})
            if self.count is not None:
                raise ValidationError({"count": _("This indicator is in money: leave this empty.")})
        else:
            if self.count is None:
                raise ValidationError({"count": _("Give the target number.")})
            if self.amount is not None:
                raise ValidationError({"amount": _("This indicator counts: leave this empty.")})


class DataVersion(models.Model):
    """One row whose (epoch, number) changes whenever a transaction that wrote to this app's
    tables commits: the dashboard's rendered content is cached under it (pagecache.py).

    Kept by database triggers, not by Python, so no write path can forget it: see
    pagecache.install_triggers. `epoch` is drawn afresh whenever the row is created again
    (after a flush), so numbers counted from 1 again never meet content cached before.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    epoch = models.CharField(max_length=32)
    number = models.BigIntegerField()

    class Meta:
        verbose_name = _("data version")
        verbose_name_plural = _("data versions")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="data_version_one_row")]

    def __str__(self) -> str:
        return f"{self.epoch}:{self.number}"


class DataChange(models.Model):
    """PostgreSQL only: a row a writing transaction inserts once; a deferred trigger on it
    counts the change at commit and deletes it, so the counter's lock is taken last and
    held for no more than the commit (pagecache.py)."""

    class Meta:
        verbose_name = _("data change")
        verbose_name_plural = _("data changes")

    def __str__(self) -> str:
        return str(self.pk)
