"""Materialised paths take fixed-width steps ("/0000000007/0000000013/", models.PATH_DIGITS),
so that sorting by path lists a tree in order: with "/7/13/" steps "/13/" sorted before "/7/"."""

from django.db import migrations

DIGITS = 10  # models.PATH_DIGITS when this migration was written


def rewrite(apps, width):
    for name in ("Region", "Partnership"):
        model = apps.get_model("partnerships", name)
        batch = []
        for row in model.objects.only("pk", "path").order_by("pk").iterator(chunk_size=2000):
            steps = [part for part in row.path.split("/") if part]
            row.path = "/" + "".join(f"{int(step):0{width}d}/" for step in steps)
            batch.append(row)
            if len(batch) >= 2000:
                model.objects.bulk_update(batch, ["path"])
                batch = []
        if batch:
            model.objects.bulk_update(batch, ["path"])


def pad(apps, schema_editor):
    rewrite(apps, DIGITS)


def unpad(apps, schema_editor):
    rewrite(apps, 0)


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0023_undated_records_after_dated_ones_on_both_databases")]

    operations = [migrations.RunPython(pad, unpad)]
