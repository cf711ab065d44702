"""The donation summary once more per donor kind: the dashboard's figures under a donor kind
summed the handovers themselves (the overview, all 770,000 of a million lines, twice: 190 ms
of SQL). Filled as summary.DONOR_KIND_SUMMARY_SQL fills it. On PostgreSQL its key carries the
figures, as the place totals' does (migration 0030): a province pairing's totals per child
pairing under a donor kind read the whole table, 45 ms at a million lines, and 9 ms from the
key alone."""

import django.db.models.deletion
import partnerships.money
from django.db import migrations, models

FILL = """WITH kinds (name, bit) AS (VALUES ('government', 1), ('party', 2), ('community', 4), ('enterprise', 8), ('association', 16), ('charity', 32), ('school', 64), ('hospital', 128), ('other', 256))
INSERT INTO partnerships_donorkindsummary
    (partnership_id, donor_kind, "year", kind, category, funding, amount, "count")
SELECT d.partnership_id, kinds.name, d."year", d.kind, d.category, d.funding, SUM(d.amount),
    COUNT(*)
FROM partnerships_donation d JOIN kinds ON (d.donor_kinds & kinds.bit) > 0
GROUP BY d.partnership_id, kinds.name, d."year", d.kind, d.category, d.funding
"""
TABLE = "partnerships_donorkindsummary"
KEY = "donor_kind_summary_key"


def key(include: str):
    """Re-create the key, with `include` after its columns (PostgreSQL only)."""

    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"ALTER TABLE {TABLE} DROP CONSTRAINT {KEY}, ADD CONSTRAINT {KEY} "
            f"UNIQUE (partnership_id, donor_kind, year, kind, category, funding){include}"
        )

    return alter


class Migration(migrations.Migration):

    dependencies = [
        ('partnerships', '0037_place_totals_by_filter'),
    ]

    operations = [
        migrations.CreateModel(
            name='DonorKindSummary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year', models.PositiveSmallIntegerField(verbose_name='year')),
                ('kind', models.CharField(choices=[('funds', 'funds'), ('materials', 'materials'), ('both', 'funds and materials (not split)')], max_length=20, verbose_name='funds or materials')),
                ('category', models.CharField(choices=[('industry', 'industry'), ('employment', 'employment'), ('education', 'education'), ('medical', 'medical care'), ('rural', 'rural construction'), ('consumption', 'consumption'), ('culture_tourism', 'culture and tourism'), ('other', 'other'), ('unspecified', 'not stated')], max_length=20, verbose_name='purpose category')),
                ('funding', models.CharField(choices=[('fiscal', 'fiscal assistance funds'), ('social', 'social donations'), ('unsplit', 'fiscal or social not stated')], max_length=10, verbose_name='fiscal or social')),
                ('amount', partnerships.money.MoneyField(verbose_name='amount (yuan)')),
                ('count', models.PositiveIntegerField(verbose_name='donations')),
                ('donor_kind', models.CharField(choices=[('government', 'government'), ('party', 'Party committee'), ('community', "residents' or villagers' committee"), ('enterprise', 'enterprise'), ('association', 'chamber of commerce or association'), ('charity', 'charity'), ('school', 'school'), ('hospital', 'hospital'), ('other', 'other')], max_length=20, verbose_name='donor kind')),
                ('partnership', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='partnerships.partnership', verbose_name='pairing')),
            ],
            options={
                'verbose_name': 'donation summary by donor kind',
                'verbose_name_plural': 'donation summaries by donor kind',
                'constraints': [models.UniqueConstraint(fields=('partnership', 'donor_kind', 'year', 'kind', 'category', 'funding'), name='donor_kind_summary_key')],
            },
        ),
        migrations.RunPython(key(" INCLUDE (amount, count)"), key("")),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
