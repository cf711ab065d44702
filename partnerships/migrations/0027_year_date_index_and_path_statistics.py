"""The donation list's date hierarchy gets its index back (see Donation.Meta.indexes), and
PostgreSQL keeps finer statistics of the materialised paths.

Paths took fixed-width steps in 0024, so most of them share long prefixes: with the default
statistics PostgreSQL estimated a county pairing's subtree ("/…7/…8/…1327/%") at 19 pairings
instead of 6, and chose to read every donation (a pairing page's recipients query: 11 → 55 ms
at a million lines). A statistics target of 10,000 covers every pairing and most regions."""

from django.db import migrations, models

PATHS = ("partnerships_partnership", "partnerships_region")


def finer_path_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in PATHS:
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN path SET STATISTICS 10000")
        schema_editor.execute(f"ANALYZE {table}")


def default_path_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in PATHS:
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN path SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0026_village_pair_period_in_its_own_words")]

    operations = [
        migrations.AddIndex(
            model_name="donation",
            index=models.Index(fields=["year", "date"], name="donation_year_date"),
        ),
        migrations.RunPython(finer_path_statistics, default_path_statistics),
    ]
