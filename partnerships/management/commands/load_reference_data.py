"""Load the reference record (partnerships/reference_data.py). Running it again changes nothing."""

from django.core.management.base import BaseCommand
from django.db import transaction

from partnerships import history
from partnerships import reference_data as ref
from partnerships.models import (
    AidProject,
    Donation,
    Inspection,
    Meeting,
    MeetingParticipant,
    Organisation,
    Partnership,
    Person,
    Posting,
    Region,
    VillageEnterprisePair,
    Visit,
    VisitActivity,
)


class Command(BaseCommand):
    help = "Load the Zhangmutou–Jiangkou reference record; idempotent."

    @transaction.atomic
    def handle(self, *args, **options):
        created = load()
        if created:
            self.stdout.write(
                self.style.SUCCESS(f"Reference record loaded ({created} rows added).")
            )
        else:
            self.stdout.write("Reference record already present; nothing changed.")


def load() -> int:
    """Create whatever part of the reference record is missing; return how many rows were added."""
    counter = {"created": 0}

    def get_or_create(model, defaults=None, **lookup):
        obj, was_created = model.objects.get_or_create(defaults=defaults or {}, **lookup)
        if was_created:
            counter["created"] += 1
        return obj

    regions: dict[tuple[str, ...], Region] = {}
    for name, level, parent_path in ref.REGIONS:
        parent = regions[parent_path] if parent_path else None
        region = get_or_create(Region, parent=parent, name=name, defaults={"level": level})
        region.full_clean()
        regions[(*parent_path, name)] = region

    partnerships: dict[str, Partnership] = {}
    for key, (short, helping, assisted, parent_key, year) in ref.PARTNERSHIPS.items():
        # Any pairing of the two regions, ended or not: staff may have ended it since.
        partnership = (
            Partnership.objects.filter(
                helping_region=regions[helping], assisted_region=regions[assisted]
            )
            .order_by("ended_on")
            .first()
        )
        if partnership is None:
            partnership = Partnership(
                name=short,
                helping_region=regions[helping],
                assisted_region=regions[assisted],
                parent=partnerships[parent_key] if parent_key else None,
                established_year=year,
            )
            partnership.full_clean()
            partnership.save()
            counter["created"] += 1
        partnerships[key] = partnership

    organisations = {
        key: get_or_create(
            Organisation,
            name=name,
            region=regions[region] if region else None,
            defaults={"kind": kind, "notes": notes},
        )
        for key, (name, kind, region, notes) in ref.ORGANISATIONS.items()
    }
    people = {
        key: get_or_create(Person, name=name, position=position)
        for key, (name, position) in ref.PEOPLE.items()
    }

    # The visit, its meetings and its handover are loaded once, as a whole, and never touched
    # again: staff may correct or itemise them, and a later run must not undo that or add a
    # second copy. They are found by the source they were recorded from.
    if not Visit.objects.filter(source=ref.SOURCE).exists():
        load_visit(partnerships, regions, organisations, people, counter)
    load_programme(partnerships, regions, counter)
    return counter["created"]


def load_visit(partnerships, regions, organisations, people, counter) -> None:

    spec = ref.VISIT
    visit = Visit(
        partnership=partnerships[spec["partnership"]],
        leader=people[spec["leader"]],
        **{
            field: spec[field]
            for field in (
                "direction",
                "start_date",
                "end_date",
                "date_note",
                "delegation_size",
                "delegation_description",
                "purpose",
                "summary",
                "source",
            )
        },
    )
    visit.full_clean()
    visit.save()
    with history.links_in_one_version(visit):
        visit.members.set([people[key] for key in spec["members"]])
        visit.places.set([regions[path] for path in spec["places"]])
    for position, (kind, title, place, description) in enumerate(ref.ACTIVITIES, start=1):
        VisitActivity.objects.create(
            visit=visit,
            title=title,
            kind=kind,
            place=regions[place] if place else None,
            description=description,
            position=position,
        )

    for spec in ref.MEETINGS:
        meeting = Meeting(
            visit=visit,
            title=spec["title"],
            partnership=partnerships[spec["partnership"]],
            venue=spec["venue"],
            other_attendees=spec["other_attendees"],
            agenda=spec["agenda"],
            outcomes=spec["outcomes"],
            source=ref.SOURCE,
        )
        meeting.full_clean(exclude=["year"])
        meeting.save()
        for person, role, remarks in spec["participants"]:
            MeetingParticipant.objects.create(
                meeting=meeting, person=people[person], role=role, remarks=remarks
            )

    spec = ref.DONATION
    donation = Donation(
        visit=visit,
        partnership=partnerships[spec["partnership"]],
        amount=spec["amount"],
        kind=spec["kind"],
        category=spec["category"],
        funding=spec["funding"],
        materials_description=spec["materials_description"],
        region=regions[spec["region"]],
        notes=spec["notes"],
        source=spec["source"],
    )
    donation.full_clean(exclude=["year"])
    donation.save()
    with history.links_in_one_version(donation):
        donation.donors.set([organisations[key] for key in spec["donors"]])
        donation.recipient_regions.set([regions[path] for path in spec["recipient_regions"]])
        donation.recipient_organisations.set(
            [organisations[key] for key in spec["recipient_organisations"]]
        )
    donation.rebalance()
    counter["created"] += 1


def load_programme(partnerships, regions, counter) -> None:
    """People sent, the project inspected and the village–enterprise programme: once, as a whole.

    A database loaded before these were part of the reference record gains them on the next run.
    """
    visit = Visit.objects.filter(source=ref.SOURCE).first()
    if visit is None:
        return
    # Each part is loaded once, found by its source, so deleting one never duplicates the rest.
    if not Posting.objects.filter(source=ref.SOURCE).exists():
        load_postings(partnerships, regions, visit, counter)
    if not AidProject.objects.filter(source=ref.SOURCE).exists():
        load_project(partnerships, regions, visit, counter)
    if not VillageEnterprisePair.objects.filter(source=ref.SOURCE).exists():
        load_village_pair(partnerships, visit, counter)


def load_postings(partnerships, regions, visit, counter) -> None:
    for kind, note in ref.POSTINGS:
        posting = Posting(
            partnership=partnerships[ref.POSTING_PARTNERSHIP],
            kind=kind,
            direction="east_to_west",
            headcount=None,
            host_region=regions[ref.POSTING_HOST],
            known_during=visit,
            notes=f"{note}{ref.POSTING_KNOWN_NOTE}",
            source=ref.SOURCE,
        )
        posting.full_clean(exclude=["year"])
        posting.save()
        counter["created"] += 1


def load_project(partnerships, regions, visit, counter) -> None:
    spec = ref.PROJECT
    project = AidProject(
        partnership=partnerships[spec["partnership"]],
        name=spec["name"],
        region=regions[spec["region"]],
        category=spec["category"],
        status=spec["status"],
        description=spec["description"],
        source=ref.SOURCE,
    )
    project.full_clean()
    project.save()
    Inspection.objects.create(visit=visit, project=project, note=spec["inspection_note"])
    counter["created"] += 2


def load_village_pair(partnerships, visit, counter) -> None:
    spec = ref.VILLAGE_PAIR
    pair = VillageEnterprisePair(
        partnership=partnerships[spec["partnership"]],
        known_during=visit,
        # Staff may have renamed the symposium since: the link is then left for them to make.
        meeting=Meeting.objects.filter(visit=visit, title=spec["meeting"]).first(),
        notes=f"{spec['notes']}{ref.PAIR_KNOWN_NOTE}",
        source=ref.SOURCE,
    )
    pair.full_clean(exclude=["year"])
    pair.save()
    counter["created"] += 1
