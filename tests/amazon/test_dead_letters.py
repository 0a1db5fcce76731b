"""The fulfilment daemon sets aside a message from the world that breaks its handler, and
retries it from its bytes once an operator asks, after the fix: the real daemon, a real
world simulator, the test's carrier (``FakeUps``), and a trigger in the test database
that refuses one order's move past "packing" (the world's APacked)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.daemon.isolation import sub_message
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import DeadLetter
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.world_messages import Side
from amazon_ups.testing.waiting import wait_until
from tests import poison
from tests.amazon.fake_ups import FakeUps
from tests.amazon.test_daemon import delivered, running
from tests.support import FAST

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ups(world_process, settings):
    """A world, and the test's carrier in it, the daemon configured to use both."""
    world = world_process()
    carrier = FakeUps(world.ports[Side.UPS]).start()
    settings.WORLD_HOST = "127.0.0.1"
    settings.WORLD_AMAZON_PORT = world.ports[Side.AMAZON]
    settings.UPS_HOST = "127.0.0.1"
    settings.UPS_PORT = carrier.port
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    settings.WORLD_SIMSPEED = FAST
    yield carrier
    carrier.stop()


def execute(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@pytest.fixture
def poisoned_order(place):
    """Three orders; the database refuses the middle one's move past "packing"."""
    orders = [place({1: 1}, x=x, y=3) for x in (11, 12, 13)]
    # Loading too: with the truck there already, packed and loading are written at once.
    moved_on = f"'{Order.Status.PACKED}', '{Order.Status.LOADING}'"
    condition = f"NEW.id = {orders[1].id} AND NEW.status IN ({moved_on})"
    execute(poison.poison(connection.vendor, "orders_order", condition))
    yield orders
    execute(poison.cure(connection.vendor, "orders_order"))


def letter_of(**fields: Any) -> DeadLetter | None:
    return DeadLetter.objects.filter(**fields).first()


def test_a_world_message_is_set_aside_the_rest_delivered_and_it_is_retried_after_the_fix(
    ups, poisoned_order
):
    first, stuck, last = poisoned_order
    with running(Fulfilment()):
        wait_until(lambda: delivered(first, last), what="the other orders to be delivered")
        letter = wait_until(lambda: letter_of(field="ready"), what="the dead letter")
        assert letter.peer == f"world:{ups.world_id}" and letter.state == DeadLetter.State.OPEN
        assert sub_message(wa.AResponses, "ready", bytes(letter.body)).shipid == stuck.id
        assert poison.POISON_TEXT in letter.error
        stuck.refresh_from_db()
        assert stuck.status == Order.Status.PACKING

        execute(poison.cure(connection.vendor, "orders_order"))
        messaging.dead_letters_retry([letter.id])
        wait_until(lambda: delivered(stuck), what="the retried order to be delivered")

    letter.refresh_from_db()
    assert letter.state == DeadLetter.State.RESOLVED and letter.attempts == 1
    assert ups.deliveries_made == {first.id: 1, stuck.id: 1, last.id: 1}
