"""manage.py check_records: what earlier rules let in and today's refuse, listed after upgrades."""

import io

from django.core.management import CommandError, call_command

from partnerships.models import AidProject, Organisation, Region


def check_records() -> tuple[str, str | None]:
    out = io.StringIO()
    try:
        call_command("check_records", stdout=out)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


def test_records_of_todays_rules_pass(reference):
    out, error = check_records()
    assert error is None and "Every record meets today's rules." in out


def test_values_saved_under_earlier_rules_are_listed_with_their_pages(reference):
    """Migrations 0044 and 0047 only added rules: a region named 测试 辛村, a project begun
    in 2099, a name with a zero-width space stayed as they were, and staff learnt of each
    only when a save of its page was refused for it."""
    town = reference.qixin.parent
    spaced = Region.objects.create(name="测试 辛村", level=5, parent=town)
    twin = Organisation.objects.create(name="樟木头镇人民政府\u200b", kind="government")
    project = AidProject.objects.order_by("pk").first()
    assert project is not None  # the reference record's 云舍文化村 project
    AidProject.objects.filter(pk=project.pk).update(start_year=2099)  # as an old save could
    # an emoji's variation selector in a note makes no twin of anything: not listed
    reference.donation.__class__.objects.filter(pk=reference.donation.pk).update(notes="❤️")

    out, error = check_records()
    assert error is not None and error.startswith("3 values saved under earlier rules")
    lines = out.splitlines()
    assert len(lines) == 3, out
    [region] = [line for line in lines if line.startswith(f"region {spaced.pk},")]
    assert "'测试 辛村'" in region and "no spaces" in region
    assert f"(/admin/partnerships/region/{spaced.pk}/change/)" in region
    [organisation] = [line for line in lines if line.startswith(f"organisation {twin.pk},")]
    assert "show as nothing" in organisation and "merge the two" in organisation
    [year] = [line for line in lines if line.startswith(f"aid project {project.pk},")]
    assert "2099" in year and f"/admin/partnerships/aidproject/{project.pk}/change/" in year


def test_a_row_edited_on_another_records_page_names_that_page(reference):
    """A handover's line has no page of its own: it is corrected on its handover's."""
    from partnerships.models import DonationLine

    line = DonationLine.objects.order_by("pk").first()
    assert line is not None
    DonationLine.objects.filter(pk=line.pk).update(note="粘贴\x0b")
    out, error = check_records()
    assert error is not None, out
    assert f"/admin/partnerships/donation/{line.donation_id}/change/" in out
    assert "control character" in out


def test_a_choice_no_longer_offered_is_listed(reference):
    """A kind of organisation an upgrade withdrew stays on the rows that had it."""
    organisation = Organisation.objects.order_by("pk").first()
    assert organisation is not None
    Organisation.objects.filter(pk=organisation.pk).update(kind="withdrawn")
    out, error = check_records()
    assert error is not None, out
    [line] = out.splitlines()
    assert line.startswith(f"organisation {organisation.pk},") and "'withdrawn'" in line
    assert "not one of the choices offered today." in line


def test_rules_between_fields_added_since_are_checked(reference):
    """A posting found during a visit of days it was not in post, and a project under
    construction as of before its start, were saved before those rules: listed."""
    import datetime

    from partnerships.models import Posting

    teachers = Posting.objects.filter(known_during=reference.visit).order_by("pk").first()
    assert teachers is not None
    Posting.objects.filter(pk=teachers.pk).update(end_date=datetime.date(2020, 1, 1))
    project = AidProject.objects.order_by("pk").first()
    assert project is not None
    AidProject.objects.filter(pk=project.pk).update(
        status="building", start_year=2024, status_as_of=datetime.date(2020, 1, 1)
    )
    out, error = check_records()
    assert error is not None and error.startswith("2 values"), (out, error)
    [posting] = [line for line in out.splitlines() if line.startswith("person or group sent")]
    assert "began after the end date" in posting
    assert f"/admin/partnerships/posting/{teachers.pk}/change/" in posting
    [status] = [line for line in out.splitlines() if line.startswith(f"aid project {project.pk},")]
    assert "before the year it started (2024)" in status
