"""The reference record's notes on the people sent and on the village–enterprise pairing said
"访问期间探望或考察" for both and "起止时间未见报道" twice on the people's
(reference_data.POSTING_KNOWN_NOTE, PAIR_KNOWN_NOTE). load_reference_data writes the new notes
into a new database; this puts them into one loaded before, where the notes are still exactly
as loaded (a note staff have edited is theirs, and is left alone)."""

from django.db import migrations

OLD_KNOWN = "报道只说明代表团于1月10日—12日访问期间探望或考察，具体日期和起止时间未见报道。"
POSTING_KNOWN = "报道只说明代表团于1月10日—12日访问期间探望了他们，派驻的起止时间未见报道。"
PAIR_KNOWN = "报道只说明代表团于1月10日—12日访问期间召开了这次座谈会。"
POSTINGS = {
    "樟木头镇派驻江口县支教的老师；人数、派出单位和起止时间未见报道。"
    + OLD_KNOWN: "樟木头镇派驻江口县支教的老师；人数和派出单位未见报道。" + POSTING_KNOWN,
    "樟木头镇派驻江口县支医的医生；人数、派出单位和起止时间未见报道。"
    + OLD_KNOWN: "樟木头镇派驻江口县支医的医生；人数和派出单位未见报道。" + POSTING_KNOWN,
}
PAIR_NOTE = (
    "报道提到樟木头镇·闵孝镇村企结对帮扶并召开座谈会，未列出结对的企业和村，也未说明结对时间。"
)
PAIRS = {PAIR_NOTE + OLD_KNOWN: PAIR_NOTE + PAIR_KNOWN}


def forwards(apps, schema_editor):
    for model, notes in (("Posting", POSTINGS), ("VillageEnterprisePair", PAIRS)):
        records = apps.get_model("partnerships", model).objects
        for old, new in notes.items():
            records.filter(notes=old).update(notes=new)


class Migration(migrations.Migration):
    dependencies = [("partnerships", "0033_list_order_carries_the_region")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
