"""The derived tables are vacuumed soon after they change (PostgreSQL only).

The pages read the stored totals from their indexes alone, which spares reading the table
only for the table pages its visibility map marks all-visible. A refresh rewrites a key's rows
(every save of a handover), and a rewritten row's page is no longer marked so until VACUUM
runs. By default autovacuum waits for a fifth of a table's rows to change: 90,000 place
totals, half a million place totals by filter at a million lines, weeks of data entry. In
between the pages read the table too: refreshing 50 of a province's 3,357 keys took its
pairing's page from 139 to 195 ms (its village table from 74 to 112 ms of SQL).

So each derived table is vacuumed once 1,000 of its rows were deleted or inserted, whatever
its size: autovacuum then comes within a minute (its naptime). A vacuum reads only the pages
not marked all-visible, and skips the indexes when few pages hold dead rows."""

from django.db import migrations

# summary.DERIVED's tables, as of this migration.
TABLES = [
    "partnerships_donationsummary",
    "partnerships_donorkindsummary",
    "partnerships_pairingyeartotal",
    "partnerships_placeyeartotal",
    "partnerships_placefacetyeartotal",
    "partnerships_areayeartotal",
    "partnerships_donoryeartotal",
    "partnerships_donorfacetyeartotal",
]
PARAMETERS = {
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_vacuum_insert_scale_factor": "0",
    "autovacuum_vacuum_insert_threshold": "1000",
}


def vacuum_soon(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    settings = ", ".join(f"{name} = {value}" for name, value in PARAMETERS.items())
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} SET ({settings})")


def vacuum_as_by_default(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} RESET ({', '.join(PARAMETERS)})")


class Migration(migrations.Migration):

    dependencies = [
        ("partnerships", "0042_place_totals_by_filter_read_by_region"),
    ]

    operations = [migrations.RunPython(vacuum_soon, vacuum_as_by_default)]
