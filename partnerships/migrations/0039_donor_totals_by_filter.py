"""The donors' yearly totals once more per value of a handover's category, kind and funding: a
province pairing's top donors under one of them summed its 176,000 handovers' donor links
(70 ms at a million lines). Filled as summary.DONOR_FACETS_SQL fills it; on PostgreSQL its key
carries the figures, as the donor totals' does (migration 0032)."""

import django.db.models.deletion
import partnerships.money
from django.db import migrations, models

FILL = """WITH parts AS (
    SELECT d.partnership_id, d."year", k.organisation_id, d.category, d.kind, d.funding,
        SUM(d.amount) AS amount,
        SUM(CASE WHEN d.donor_count = 1 THEN d.amount ELSE 0 END) AS sole,
        COUNT(*) AS "count"
    FROM partnerships_donation_donors k JOIN partnerships_donation d ON d.id = k.donation_id
    GROUP BY d.partnership_id, d."year", k.organisation_id, d.category, d.kind, d.funding
),
facets AS (
    SELECT partnership_id, 'category' AS facet, category AS value, "year",
        organisation_id, amount, sole, "count"
    FROM parts
    UNION ALL

    SELECT partnership_id, 'kind' AS facet, kind AS value, "year",
        organisation_id, amount, sole, "count"
    FROM parts
    UNION ALL

    SELECT partnership_id, 'funding' AS facet, funding AS value, "year",
        organisation_id, amount, sole, "count"
    FROM parts
)
INSERT INTO partnerships_donorfacetyeartotal
    (partnership_id, facet, value, "year", organisation_id, amount, sole, "count")
SELECT partnership_id, facet, value, "year", organisation_id, SUM(amount), SUM(sole),
    SUM("count")
FROM facets
GROUP BY partnership_id, facet, value, "year", organisation_id
"""
TABLE = "partnerships_donorfacetyeartotal"
KEY = "donor_facet_year_total_key"


def key(include: str):
    """Re-create the key, with `include` after its columns (PostgreSQL only)."""

    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"ALTER TABLE {TABLE} DROP CONSTRAINT {KEY}, ADD CONSTRAINT {KEY} "
            f"UNIQUE (partnership_id, facet, value, year, organisation_id){include}"
        )

    return alter


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0038_donation_summary_by_donor_kind'),
    ]

    operations = [
        migrations.CreateModel(
            name='DonorFacetYearTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year', models.PositiveSmallIntegerField(verbose_name='year')),
                ('amount', partnerships.money.MoneyField(verbose_name='amount (yuan)')),
                ('sole', partnerships.money.MoneyField(verbose_name='given alone (yuan)')),
                ('count', models.PositiveIntegerField(verbose_name='donations')),
                ('facet', models.CharField(choices=[('category', 'purpose category'), ('kind', 'funds or materials'), ('funding', 'fiscal or social'), ('donor_kind', 'donor kind')], max_length=10, verbose_name='filter')),
                ('value', models.CharField(max_length=20, verbose_name='value')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.organisation', verbose_name='donor')),
                ('partnership', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.partnership', verbose_name='pairing')),
            ],
            options={
                'verbose_name': "donor's yearly donation total by filter",
                'verbose_name_plural': "donors' yearly donation totals by filter",
                'constraints': [models.UniqueConstraint(fields=('partnership', 'facet', 'value', 'year', 'organisation'), name='donor_facet_year_total_key')],
            },
        ),
        migrations.RunPython(key(" INCLUDE (amount, sole, count)"), key("")),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
