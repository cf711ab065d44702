"""Review 6: two transactions writing donations of two pairings in opposite orders (PG)."""
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from partnerships.models import Donation
from tests.conftest import Reference
from partnerships.management.commands import load_reference_data

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PG locking")
def test_opposite_order_writes_deadlock():
    load_reference_data.load()
    ref = Reference()
    a = Donation.objects.create(partnership=ref.pairing, date=ref.visit.start_date,
                                amount=Decimal("1.00"), kind="funds", region=ref.jiangkou)
    b = Donation.objects.create(partnership=ref.town_pairing, date=ref.visit.start_date,
                                amount=Decimal("2.00"), kind="funds", region=ref.minxiao)
    a2 = Donation.objects.create(partnership=ref.pairing, date=ref.visit.start_date,
                                 amount=Decimal("3.00"), kind="funds", region=ref.jiangkou)
    b2 = Donation.objects.create(partnership=ref.town_pairing, date=ref.visit.start_date,
                                 amount=Decimal("4.00"), kind="funds", region=ref.minxiao)
    barrier = threading.Barrier(2, timeout=20)
    errors = []

    def work(first, second):
        try:
            with transaction.atomic():
                first.amount += 1
                first.save()          # refresh locks first's pairing until commit
                barrier.wait()
                second.amount += 1
                second.save()         # now wants the other pairing
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connections.close_all()

    t1 = threading.Thread(target=work, args=(Donation.objects.get(pk=a.pk), Donation.objects.get(pk=b.pk)))
    t2 = threading.Thread(target=work, args=(Donation.objects.get(pk=b2.pk), Donation.objects.get(pk=a2.pk)))
    t1.start(); t2.start(); t1.join(); t2.join()
    assert errors == [], errors
