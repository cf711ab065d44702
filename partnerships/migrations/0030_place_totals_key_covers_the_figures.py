"""On PostgreSQL the place totals' unique key carries the figures (INCLUDE amount, lines,
unknown), so a pairing's village table reads them from the index alone.

Measured at a million lines: a province pairing's village query (8,000 villages, 336 pairings,
80,000 rows) read the whole table and hashed it against the pairings, 136 ms; from the index,
90 ms. A county pairing's, 3.6 → 2.7 ms. The key stays the same three columns and as unique;
the index grows from 18 to 26 MB, and no other index is added for writes to keep up. SQLite
has no INCLUDE: its key is left as it is."""

from django.db import migrations

TABLE = "partnerships_placeyeartotal"
KEY = "place_year_total_key"


def key(include: str):
    """Re-create the key, with `include` after its columns (PostgreSQL only)."""

    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"ALTER TABLE {TABLE} DROP CONSTRAINT {KEY}, ADD CONSTRAINT {KEY} "
            f"UNIQUE (partnership_id, year, region_id){include}"
        )

    return alter


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0029_region_path_default_statistics")]

    operations = [
        migrations.RunPython(key(" INCLUDE (amount, lines, unknown)"), key("")),
    ]
