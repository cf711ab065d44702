"""The reference records' source named the project's transcription file
("转录见 shared/reference/…"), which officials saw on pages, prints and downloads: it names the
report only now. The loader finds its records by this text, so they are rewritten, not added
again. Audit history keeps what was recorded then."""

from django.db import migrations

OLD = (
    "樟木头镇东西部协作结对帮扶交流工作新闻报道（1月10日—12日，江口县）；"
    "转录见 shared/reference/zhangmutou-jiangkou-visit.txt"
)
NEW = "樟木头镇东西部协作结对帮扶交流工作新闻报道（地方政府发布；1月10日—12日，江口县）"
MODELS = [
    "Visit",
    "Meeting",
    "Donation",
    "Posting",
    "AidProject",
    "VillageEnterprisePair",
    "CooperationResult",
    "AnnualTarget",
]


def rewrite(apps, schema_editor, old=OLD, new=NEW):
    for name in MODELS:
        apps.get_model("partnerships", name).objects.filter(source=old).update(source=new)


def restore(apps, schema_editor):
    rewrite(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0019_recipients_offered_by_the_autocomplete")]

    operations = [migrations.RunPython(rewrite, restore)]
