"""Region paths go back to PostgreSQL's default statistics; pairing paths keep 0027's finer ones.

Measured at a million lines (54,767 regions): with a statistics target of 10,000 the planner
weighs every `path LIKE '…%'` against a histogram of 10,000 paths, which cost 2–3.5 ms of
planning for each of a page's larger queries (a village page: 15 ms of SQL, of which 10 ms
planning; 6 ms with the default target), and chose worse plans for region pages (a county's
page: 95 → 37 ms of SQL, a town's: 25 → 12). The pairings' table has under 2,000 rows, so its
fine statistics stay cheap to plan with and keep a county pairing's subtree estimated right."""

from django.db import migrations


def default_region_path_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER TABLE partnerships_region ALTER COLUMN path SET STATISTICS -1")
    schema_editor.execute("ANALYZE partnerships_region")


def finer_region_path_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER TABLE partnerships_region ALTER COLUMN path SET STATISTICS 10000")
    schema_editor.execute("ANALYZE partnerships_region")


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0028_place_and_donor_year_totals")]

    operations = [
        migrations.RunPython(default_region_path_statistics, finer_region_path_statistics),
    ]
