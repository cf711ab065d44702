"""The places' totals by filter read by region: a region's page under a filter on what a
handover is (a category, a donor kind, ...) sums the rows of the places under it, of every
pairing in view. With no index by region and value PostgreSQL scanned all 2.7 million rows of
a million lines (a province's table under a category: 126 ms of SQL, 40 ms read by region).
On PostgreSQL the index carries the pairing and the figures, read from the index alone. It
leads with the region, so it serves the foreign key too, whose own index goes."""

import django.db.models.deletion
from django.db import migrations, models


# The foreign key's own index, as Django named it (migration 0037).
FK_INDEX = "partnerships_placefacetyeartotal_region_id_0b35b746"
TABLE = "partnerships_placefacetyeartotal"


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0041_region_totals'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='placefacetyeartotal',
            index=models.Index(fields=['region', 'facet', 'value', 'year'], include=('partnership', 'amount', 'lines', 'unknown'), name='place_facet_year_total_region'),
        ),
        # Only the index goes: Django's AlterField would drop and re-add the foreign key on
        # PostgreSQL, checking its 2.7 million rows again, and copy the table on SQLite.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='placefacetyeartotal',
                    name='region',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.region', verbose_name='region'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{FK_INDEX}"',
                    f'CREATE INDEX "{FK_INDEX}" ON "{TABLE}" ("region_id")',
                ),
            ],
        ),
    ]
