"""The regions' yearly totals: per pairing, year and region, what lies in the region and the
places under it (lines' amounts, lines, handovers). A province's page summed its 9,400 places'
80,000 totals for its table of cities and counted its 135,000 handovers among all of them, about
90 and 70 ms at a million lines. Filled as summary.AREAS_SQL fills it; on PostgreSQL the index by
region carries the pairing and the figures, so a region's rows are read from the index alone."""

import django.db.models.deletion
import partnerships.money
from django.db import migrations, models

FILL = """WITH places AS (
    SELECT d.id AS donation_id, d.partnership_id, d."year", l.region_id, l.amount,
        1 AS "lines"
    FROM partnerships_donationline l JOIN partnerships_donation d ON d.id = l.donation_id
    WHERE 1 = 1
    UNION ALL
    SELECT d.id, d.partnership_id, d."year", d.region_id, 0, 0
    FROM partnerships_donation d
    WHERE d.region_id IS NOT NULL AND 1 = 1
    UNION ALL
    SELECT d.id, d.partnership_id, d."year", r.region_id, 0, 0
    FROM partnerships_donation_recipient_regions r JOIN partnerships_donation d ON d.id = r.donation_id
    WHERE 1 = 1
),
depths (depth) AS (VALUES (1), (2), (3), (4), (5)),
areas AS (
    SELECT places.donation_id, places.partnership_id, places."year", places.amount,
        places."lines",
        CAST(SUBSTR(p.path, (depths.depth - 1) * 11 + 2, 10) AS INTEGER)
            AS region_id
    FROM places
    JOIN partnerships_region p ON p.id = places.region_id
    JOIN depths ON LENGTH(p.path) >= depths.depth * 11 + 1
)
INSERT INTO partnerships_areayeartotal (partnership_id, "year", region_id, amount, "lines", handovers)
SELECT partnership_id, "year", region_id, SUM(amount), SUM("lines"),
    COUNT(DISTINCT donation_id)
FROM areas
GROUP BY partnership_id, "year", region_id
"""
TABLE = "partnerships_areayeartotal"
INDEX = "area_year_total_region"


def fill(apps, schema_editor):
    """FILL, with its places computed once on PostgreSQL: it may otherwise read them again
    for each region, on a plan misjudged without statistics."""
    sql = FILL
    if schema_editor.connection.vendor == "postgresql":
        sql = sql.replace("WITH places AS (", "WITH places AS MATERIALIZED (", 1)
    schema_editor.execute(sql)


def index(include: str):
    """Re-create the index by region, with `include` after its columns (PostgreSQL only)."""

    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP INDEX {INDEX}")
        schema_editor.execute(f"CREATE INDEX {INDEX} ON {TABLE} (region_id, year){include}")

    return alter


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0040_donation_summary_key_covers_the_figures'),
    ]

    operations = [
        migrations.CreateModel(
            name='AreaYearTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year', models.PositiveSmallIntegerField(verbose_name='year')),
                ('amount', partnerships.money.MoneyField(verbose_name='amount (yuan)')),
                ('lines', models.PositiveIntegerField(verbose_name='donation lines')),
                ('handovers', models.PositiveIntegerField(verbose_name='handovers')),
                ('partnership', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.partnership', verbose_name='pairing')),
                ('region', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.region', verbose_name='region')),
            ],
            options={
                'verbose_name': "region's yearly donation total",
                'verbose_name_plural': "regions' yearly donation totals",
                'constraints': [models.UniqueConstraint(fields=('partnership', 'year', 'region'), name='area_year_total_key')],
            },
        ),
        # Filled before its index by region is built, which carries the figures.
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='areayeartotal',
            index=models.Index(fields=['region', 'year'], name='area_year_total_region'),
        ),
        migrations.RunPython(
            index(" INCLUDE (partnership_id, amount, lines, handovers)"), index("")
        ),
    ]
