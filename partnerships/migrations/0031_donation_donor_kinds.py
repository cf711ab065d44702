"""Donation.donor_kinds: its donors' kinds as bits, so a donor-kind filter is a column of the
donation and not a search of its donor links. Filled here from the donor links; kept from now
on by models.store_donor_columns. At a million lines (770,000 handovers) on PostgreSQL this
took 33 s, most of it writing every row again (one UPDATE joined to the links took as long).

The bits are copied, not imported: this migration must keep meaning what it meant when
written (models.DONOR_KIND_BITS may gain kinds, never change these)."""

from django.db import migrations, models
from django.db.models import Case, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

BITS = {
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


def fill(apps, schema_editor):
    Donation = apps.get_model("partnerships", "Donation")
    links = (
        Donation.donors.through.objects.filter(donation_id=OuterRef("pk"))
        .order_by()
        .values("donation_id")
    )
    kind_bit = Case(
        *(When(organisation__kind=kind, then=Value(bit)) for kind, bit in BITS.items()),
        default=Value(0),
    )
    Donation.objects.filter(donor_count__gt=0).update(
        donor_kinds=Coalesce(
            Subquery(links.annotate(mask=Sum(kind_bit, distinct=True)).values("mask")), 0
        )
    )


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0030_place_totals_key_covers_the_figures")]

    operations = [
        migrations.AddField(
            model_name="donation",
            name="donor_kinds",
            field=models.PositiveIntegerField(
                default=0, editable=False, verbose_name="donors' kinds"
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        # The pairings' figures under a donor kind read the index alone, as they do without.
        migrations.RemoveIndex(model_name="donation", name="donation_pairing_year_amounts"),
        migrations.AddIndex(
            model_name="donation",
            index=models.Index(
                fields=["partnership", "year", "id", "amount", "donor_count", "donor_kinds"],
                name="donation_pairing_year_amounts",
            ),
        ),
    ]
