import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum

from partnerships.models import (
    Donation,
    DonationLine,
    Meeting,
    MeetingParticipant,
    Organisation,
    Partnership,
    Person,
    Posting,
    Region,
    VillageEnterprisePair,
    Visit,
)

pytestmark = pytest.mark.django_db

ALL_MODELS = [
    Region,
    Partnership,
    Organisation,
    Person,
    Visit,
    Meeting,
    MeetingParticipant,
    Donation,
    DonationLine,
]


def snapshot():
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True)) for model in ALL_MODELS
    }


def test_the_regions_hang_where_the_report_puts_them(reference):
    assert reference.minxiao.full_name == "贵州省 铜仁市 江口县 闵孝镇"
    assert reference.qixin.full_name == "贵州省 铜仁市 江口县 齐心村"
    assert reference.zhangmutou.full_name == "广东省 东莞市 樟木头镇"
    assert not Region.objects.exclude(code=None).exists(), "the report gives no division codes"


def test_the_pairings_nest_from_province_to_town(reference):
    chain = [str(p) for p in reference.town_pairing.ancestors_and_self]
    assert chain == [
        "粤黔（广东省—贵州省）",
        "莞铜（东莞市—铜仁市）",
        "樟木头镇—江口县",
        "樟木头镇—闵孝镇",
    ]
    assert reference.pairing.established_year == 2021
    assert Partnership.objects.get(name="莞铜").established_year is None


def test_the_visit_says_what_the_report_says(reference):
    visit = reference.visit
    assert (visit.start_date, visit.end_date) == (
        datetime.date(2023, 1, 10),
        datetime.date(2023, 1, 12),
    )
    assert "推定" in visit.date_note
    assert visit.direction == "east_to_west"
    assert (visit.leader.name, visit.leader.position) == ("黄淦洪", "樟木头镇党委书记")
    assert visit.delegation_size is None
    titles = list(visit.activities.values_list("title", flat=True))
    assert "考察云舍文化村" in titles
    assert "探望樟木头镇派驻江口县支教支医的老师和医生" in titles


def test_the_work_symposium_has_its_chair_speakers_and_report(reference):
    meeting = Meeting.objects.get(title="江口县·樟木头镇东西部协作工作座谈会")
    assert meeting.venue == "江口县政府会议室"
    assert meeting.date is None and meeting.year == 2023
    roles = {
        (p.person.name, p.person.position, p.role)
        for p in meeting.participants.select_related("person")
    }
    assert roles == {
        ("王颖", "江口县委副书记", "chair"),
        ("王颖", "江口县委副书记", "speaker"),
        ("黄淦洪", "樟木头镇党委书记", "speaker"),
        ("李树文", "江口县委常委、副县长", "reporter"),
        ("杨俊丽", "樟木头镇副镇长", "attendee"),
        ("沈琦", "樟木头镇副镇长", "attendee"),
    }
    assert "2022年度" in meeting.agenda


def test_the_village_enterprise_symposium_belongs_to_the_town_pairing(reference):
    meeting = Meeting.objects.get(title="樟木头镇·闵孝镇村企结对帮扶座谈会")
    assert meeting.partnership == reference.town_pairing
    assert meeting.visit == reference.visit


def test_the_handover_is_one_total_of_105_wan_from_8_donors_to_8_recipients(reference):
    donation = reference.donation
    assert donation.amount == Decimal("1050000.00")
    assert donation.kind == "both"
    assert donation.category == "unspecified"
    assert sorted(donation.donors.values_list("name", flat=True)) == sorted(
        [
            "樟木头镇人民政府",
            "樟罗社区",
            "石新社区",
            "樟洋社区",
            "广东小猪班纳服饰股份有限公司",
            "东莞市樟木头镇工商联合会",
            "广东罗曼智能科技股份有限公司",
            "永林电子股份有限公司",
        ]
    )
    recipients = [r.name for r in donation.recipient_regions.all()] + [
        o.name for o in donation.recipient_organisations.all()
    ]
    assert sorted(recipients) == sorted(
        ["闵孝镇", "齐心村", "双屯村", "净河村", "坝梅村", "沙坝河村", "长岗岭村", "江口县红十字会"]
    )
    # No split is invented: the whole amount rests, not itemised, at the county.
    assert list(donation.lines.values_list("amount", "region__name", "is_itemised")) == [
        (Decimal("1050000.00"), "江口县", False)
    ]


def test_a_handover_is_named_by_its_day_or_only_the_year_reported(reference):
    from django.utils import translation

    donation = reference.donation
    assert donation.date is None  # the report gives no day
    with translation.override("en"):
        assert str(donation) == f"1,050,000.00 yuan in {donation.year}"
        donation.date = datetime.date(donation.year, 3, 5)
        assert str(donation) == f"1,050,000.00 yuan on {donation.year}-03-05"
    with translation.override("zh-hans"):
        assert str(donation) == f"{donation.year}年3月5日 1,050,000.00 元"
        donation.date = None
        assert str(donation) == f"{donation.year}年 1,050,000.00 元"


def test_loading_twice_changes_nothing(reference):
    before = snapshot()
    call_command("load_reference_data", stdout=io.StringIO())
    assert snapshot() == before


def test_sample_data_is_deterministic_fictional_and_leaves_the_reference_alone(reference):
    before = snapshot()
    call_command("load_sample_data", "--seed", "7", stdout=io.StringIO())
    first = list(Donation.objects.exclude(pk=reference.donation.pk).values_list("amount", "year"))
    call_command("load_sample_data", "--seed", "7", "--replace", stdout=io.StringIO())
    second = list(Donation.objects.exclude(pk=reference.donation.pk).values_list("amount", "year"))
    assert first == second and len(first) > 30
    for model, pks in before.items():
        assert set(pks) <= set(snapshot()[model]), f"{model} of the reference record changed"
    new_regions = Region.objects.exclude(pk__in=before["Region"])
    assert new_regions.count() > 24
    assert all(name.startswith("示例") for name in new_regions.values_list("name", flat=True))
    assert all(
        name.startswith("示例")
        for name in Organisation.objects.exclude(pk__in=before["Organisation"]).values_list(
            "name", flat=True
        )
    )
    titles = Meeting.objects.exclude(pk__in=before["Meeting"]).values_list("title", flat=True)
    assert all(t.startswith("示例") and not t.startswith("示例示例") for t in titles)
    years = set(Donation.objects.values_list("year", flat=True))
    assert min(years) == 2021
    # Lines always add up to their donation.
    for donation in Donation.objects.prefetch_related("lines"):
        assert sum(line.amount for line in donation.lines.all()) == donation.amount


def test_loading_again_after_staff_edits_keeps_them_and_adds_nothing(reference):
    visit = reference.visit
    visit.leader = Person.objects.get(name="沈琦")
    visit.members.clear()
    visit.save()
    Partnership.objects.filter(name="粤黔").update(ended_on=datetime.date(2025, 12, 31))
    DonationLine.objects.create(
        donation=reference.donation, amount=Decimal("200000.00"), region=reference.qixin
    )
    reference.donation.rebalance()
    before = snapshot()
    call_command("load_reference_data", stdout=io.StringIO())
    assert snapshot() == before
    visit.refresh_from_db()
    assert visit.leader.name == "沈琦" and not visit.members.exists()
    assert Donation.objects.aggregate(total=Sum("amount"))["total"] == Decimal("1050000.00")


def test_sample_visits_go_the_way_their_leaders_do(reference):
    """Eastern officials lead the sample delegations to the western areas: east to west."""
    call_command("load_sample_data", "--seed", "4", stdout=io.StringIO())
    sample = Visit.objects.filter(source="示例数据")
    assert sample.exists()
    assert set(sample.values_list("direction", flat=True)) == {"east_to_west"}


def test_the_source_names_the_report_not_a_file_here(reference, official_client):
    """Officials read the source on pages, prints and downloads: "转录见 shared/reference/…"
    named this project's transcription file. Databases loaded before are rewritten by
    migration 0020, and loading again then adds nothing."""
    import importlib

    from django.apps import apps

    from partnerships import reference_data

    rewrite = importlib.import_module(
        "partnerships.migrations.0020_reference_source_without_a_file_path"
    )
    models = [apps.get_model("partnerships", name) for name in rewrite.MODELS]
    assert {m for m in models if m.objects.filter(source=reference_data.SOURCE).exists()}
    for model in models:
        model.objects.filter(source=reference_data.SOURCE).update(source=rewrite.OLD)
    before = snapshot()
    rewrite.rewrite(apps, None)
    assert not any(m.objects.filter(source=rewrite.OLD).exists() for m in models)
    call_command("load_reference_data", stdout=io.StringIO())
    assert snapshot() == before
    page = official_client.get(f"/visits/{reference.visit.pk}/").content.decode()
    assert reference_data.SOURCE in page and "shared/reference" not in page


def test_the_notes_of_what_the_visit_found_say_what_it_did(reference):
    """One note served the people sent and the village–enterprise pairing: "…访问期间探望
    或考察…" on a pairing the report knows from a symposium, and the people's notes said
    "起止时间未见报道" twice."""
    for posting in Posting.objects.all():
        assert posting.notes.count("起止时间未见报道") == 1, posting.notes
        assert "探望了他们" in posting.notes
    pair = VillageEnterprisePair.objects.get()
    assert "召开了这次座谈会" in pair.notes and "探望" not in pair.notes


def test_a_database_loaded_before_gets_the_new_notes_unless_edited(reference):
    """Migration 0034 rewrites the notes as loaded before; a note staff edited stays theirs."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "partnerships.migrations.0034_reference_notes_say_what_the_visit_did"
    )
    (old_teacher, new_teacher), _doctor = migration.POSTINGS.items()
    (old_pair, new_pair) = next(iter(migration.PAIRS.items()))
    Posting.objects.filter(kind="teacher").update(notes=old_teacher)
    Posting.objects.filter(kind="doctor").update(notes="录入人员自己的说明")
    VillageEnterprisePair.objects.update(notes=old_pair)
    migration.forwards(apps, None)
    assert Posting.objects.get(kind="teacher").notes == new_teacher
    assert Posting.objects.get(kind="doctor").notes == "录入人员自己的说明"
    assert VillageEnterprisePair.objects.get().notes == new_pair
