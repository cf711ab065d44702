"""The places' yearly totals once more per value of each filter on what a handover is (its
category, kind, funding, and each of its donors' kinds): a province pairing's village table
under one of them summed its 176,000 lines at a million lines (220 ms under a category, 390 ms
under a donor kind). Filled as summary.PLACE_FACETS_SQL fills it; on PostgreSQL its key
carries the figures, as the place totals' does (migration 0030)."""

import django.db.models.deletion
import partnerships.money
from django.db import migrations, models

FILL = """WITH parts AS (
    SELECT partnership_id, "year", region_id, category, kind, funding, donor_kinds,
        SUM(amount) AS amount, SUM("lines") AS "lines", SUM("unknown") AS "unknown"
    FROM (
        SELECT d.partnership_id, d."year", l.region_id, d.category, d.kind, d.funding,
            d.donor_kinds, l.amount, 1 AS "lines", 0 AS "unknown"
        FROM partnerships_donationline l JOIN partnerships_donation d ON d.id = l.donation_id
        WHERE l.region_id IS NOT NULL
        UNION ALL
        SELECT d.partnership_id, d."year", r.region_id, d.category, d.kind, d.funding,
            d.donor_kinds, 0, 0, 1
        FROM partnerships_donation_recipient_regions r JOIN partnerships_donation d ON d.id = r.donation_id
        WHERE (d.region_id IS NULL OR d.region_id <> r.region_id)
        AND NOT EXISTS (
            SELECT 1 FROM partnerships_donationline o
            WHERE o.donation_id = r.donation_id AND o.region_id = r.region_id
        )
    ) lines_and_links
    GROUP BY partnership_id, "year", region_id, category, kind, funding, donor_kinds
),
kinds (name, bit) AS (VALUES ('government', 1), ('party', 2), ('community', 4), ('enterprise', 8), ('association', 16), ('charity', 32), ('school', 64), ('hospital', 128), ('other', 256)),
facets AS (
    SELECT partnership_id, 'category' AS facet, category AS value, "year", region_id,
        amount, "lines", "unknown" FROM parts
    UNION ALL
    SELECT partnership_id, 'kind', kind, "year", region_id, amount, "lines", "unknown"
    FROM parts
    UNION ALL
    SELECT partnership_id, 'funding', funding, "year", region_id, amount, "lines", "unknown"
    FROM parts
    UNION ALL
    SELECT partnership_id, 'donor_kind', kinds.name, "year", region_id, amount, "lines",
        "unknown"
    FROM parts JOIN kinds ON (parts.donor_kinds & kinds.bit) > 0
)
INSERT INTO partnerships_placefacetyeartotal
    (partnership_id, facet, value, "year", region_id, amount, "lines", "unknown")
SELECT partnership_id, facet, value, "year", region_id, SUM(amount), SUM("lines"),
    SUM("unknown")
FROM facets
GROUP BY partnership_id, facet, value, "year", region_id
"""
TABLE = "partnerships_placefacetyeartotal"
KEY = "place_facet_year_total_key"


def key(include: str):
    """Re-create the key, with `include` after its columns (PostgreSQL only)."""

    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"ALTER TABLE {TABLE} DROP CONSTRAINT {KEY}, ADD CONSTRAINT {KEY} "
            f"UNIQUE (partnership_id, facet, value, year, region_id){include}"
        )

    return alter


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0036_staged_import'),
    ]

    operations = [
        migrations.CreateModel(
            name='PlaceFacetYearTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year', models.PositiveSmallIntegerField(verbose_name='year')),
                ('facet', models.CharField(choices=[('category', 'purpose category'), ('kind', 'funds or materials'), ('funding', 'fiscal or social'), ('donor_kind', 'donor kind')], max_length=10, verbose_name='filter')),
                ('value', models.CharField(max_length=20, verbose_name='value')),
                ('amount', partnerships.money.MoneyField(verbose_name='amount (yuan)')),
                ('lines', models.PositiveIntegerField(verbose_name='donation lines')),
                ('unknown', models.PositiveIntegerField(verbose_name='handovers naming it without its share')),
                ('partnership', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.partnership', verbose_name='pairing')),
                ('region', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.region', verbose_name='region')),
            ],
            options={
                'verbose_name': "place's yearly donation total by filter",
                'verbose_name_plural': "places' yearly donation totals by filter",
                'constraints': [models.UniqueConstraint(fields=('partnership', 'facet', 'value', 'year', 'region'), name='place_facet_year_total_key')],
            },
        ),
        migrations.RunPython(key(" INCLUDE (amount, lines, unknown)"), key("")),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
