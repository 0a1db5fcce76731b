"""UPS's tracking number (protocol 5.12, PackageRegistered): recorded once on the order,
refused when it cannot be right, shown on the order page and in the emails."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone
from google.protobuf.message import Message

from amazon_ups.amazon.fulfilment import services
from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.daemon.isolation import receive_once
from amazon_ups.common.mail.services import send_pending
from amazon_ups.common.messaging.models import IncomingMessage
from amazon_ups.protocol import au_pb2 as au
from tests.amazon.containers import handled_from_ups, received
from tests.amazon.test_fulfilment import WORLD, from_ups, run, sent, stock

pytestmark = pytest.mark.django_db

NUMBER = "MU4K 7Q9X D2H8 RTC6"  # as our UPS sends it
LINK = "http://ups.example/track/MU4K%207Q9X%20D2H8%20RTC6/"


@pytest.fixture
def shopper(django_user_model):
    """The shopper, with an address the emails go to."""
    return django_user_model.objects.create_user(
        "shopper", email="shopper@example.com", password="a-long-password-1"
    )


@pytest.fixture
def handed_to_ups(catalog, place, settings):
    """An order packing at warehouse 1, its pickup asked of UPS."""
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    services.world_joined(WORLD)
    stock(1, 1, 5)
    order = place({1: 2}, x=10, y=12)
    services.take_in(order.id, WORLD)
    return order


def registered(order_id: int, number: str = NUMBER, seqnum: int | None = None):
    message = from_ups(au.PackageRegistered, package_id=order_id, tracking_number=number)
    if seqnum is not None:
        message.seqnum = seqnum
    return message


def receive(message) -> None:
    """As the daemon receives a sub-message from UPS: once per seqnum, recorded with it."""
    receive_once(
        "ups",
        "registered",
        message,
        # A stand-in for the link: handle reads its name and peer only.
        lambda: Fulfilment().handle(UPS_LINK, "registered", message, timezone.now()),  # type: ignore[arg-type]
    )


class _UpsLink:
    name = "ups"
    peer = "ups"


UPS_LINK = _UpsLink()


def number_of(order: Order) -> str:
    order.refresh_from_db()
    return order.tracking_number


# -- the handler -------------------------------------------------------------------------


def test_the_number_is_recorded_on_the_order(handed_to_ups):
    run(services.package_registered, registered(handed_to_ups.id))
    assert number_of(handed_to_ups) == NUMBER
    assert not sent("ups", "errors")


def test_a_message_sent_again_is_acted_on_once(handed_to_ups):
    message = registered(handed_to_ups.id, seqnum=5000)
    receive(message)
    receive(message)  # a re-send: same seqnum
    assert IncomingMessage.objects.filter(peer="ups", seqnum=5000).count() == 1
    assert number_of(handed_to_ups) == NUMBER
    # A copy under another seqnum (a conforming UPS sends none) changes nothing either.
    receive(registered(handed_to_ups.id, seqnum=5001))
    assert number_of(handed_to_ups) == NUMBER
    assert not sent("ups", "errors")


def test_an_unknown_package_is_refused_with_an_error(handed_to_ups, place):
    unknown = registered(424242)
    run(services.package_registered, unknown)
    not_asked = place()  # no PickupRequest yet: UPS cannot know it
    early = registered(not_asked.id, "MU0000000000000" + "0")
    run(services.package_registered, early)
    errors = sent("ups", "errors")
    assert [(e.origin_seqnum, e.package_id) for e in errors] == [
        (unknown.seqnum, 424242),
        (early.seqnum, not_asked.id),
    ]
    assert number_of(not_asked) == ""


def test_a_second_different_number_is_refused_and_the_first_stays(handed_to_ups):
    run(services.package_registered, registered(handed_to_ups.id))
    other = registered(handed_to_ups.id, "MUFJ AAJ9 4BRN M8AK")
    run(services.package_registered, other)
    [error] = sent("ups", "errors")
    assert (error.origin_seqnum, error.package_id) == (other.seqnum, handed_to_ups.id)
    assert number_of(handed_to_ups) == NUMBER


def test_a_number_already_another_orders_is_refused(handed_to_ups, place):
    second = place({1: 1}, x=1, y=1)
    services.take_in(second.id, WORLD)
    run(services.package_registered, registered(handed_to_ups.id))
    clash = registered(second.id)
    run(services.package_registered, clash)
    [error] = sent("ups", "errors")
    assert (error.origin_seqnum, error.package_id) == (clash.seqnum, second.id)
    assert number_of(second) == ""


@pytest.mark.parametrize(
    "number", ["", "x" * 65, " MU4K", "MU4K ", "MU  4K", "MU\n4K", "MU\u00e94K", "MU\x00"]
)
def test_a_number_that_is_no_text_for_people_is_refused(handed_to_ups, number):
    message = registered(handed_to_ups.id, number)
    run(services.package_registered, message)
    [error] = sent("ups", "errors")
    assert (error.origin_seqnum, error.package_id) == (message.seqnum, handed_to_ups.id)
    assert number_of(handed_to_ups) == ""


def test_the_number_is_recorded_even_after_the_delivery(handed_to_ups):
    run(services.delivered, from_ups(au.Delivered, package_id=handed_to_ups.id, x=10, y=12))
    run(services.package_registered, registered(handed_to_ups.id))
    assert number_of(handed_to_ups) == NUMBER


# -- what the shopper sees -------------------------------------------------------------


def test_the_order_page_shows_the_number_linked_to_the_carriers_page(
    client, shopper, handed_to_ups, settings
):
    settings.UPS_PUBLIC_URL = "http://ups.example"
    client.force_login(shopper)
    page = client.get(handed_to_ups.get_absolute_url()).content.decode()
    assert '<span id="tracking-number"></span>' in page
    assert "given by UPS once it has the package" in page
    assert client.get(f"/orders/{handed_to_ups.id}/status.json").json()["tracking_number"] is None

    run(services.package_registered, registered(handed_to_ups.id))
    page = client.get(handed_to_ups.get_absolute_url()).content.decode()
    assert (
        f'<a id="tracking-link" href="{LINK}"><span id="tracking-number">{NUMBER}</span></a>'
    ) in page
    data = client.get(f"/orders/{handed_to_ups.id}/status.json").json()
    assert data["tracking_number"] == NUMBER
    assert data["tracking_url"] == LINK
    # My orders links each number to the carrier's page of it too.
    listing = client.get("/orders/").content.decode()
    assert f'<a class="tracking-link" href="{LINK}">{NUMBER}</a>' in listing


def test_the_delivered_email_names_the_tracking_number(handed_to_ups, settings):
    settings.UPS_PUBLIC_URL = "http://ups.example"
    run(services.package_registered, registered(handed_to_ups.id))
    run(services.delivered, from_ups(au.Delivered, package_id=handed_to_ups.id, x=10, y=12))
    send_pending()
    placed, delivered = mail.outbox
    assert placed.subject == f"Your order {handed_to_ups.id} is placed"
    assert "UPS gives it a tracking number once it has the package" in placed.body
    # Absolute links, from the sites' public URLs: an email is read far from any page.
    order_page = f"{settings.AMAZON_PUBLIC_URL}/orders/{handed_to_ups.id}/"
    assert f"Follow it on your order page: {order_page}\n" in placed.body
    assert f"Your order: {order_page}\n" in delivered.body
    assert delivered.subject == f"Your order {handed_to_ups.id} is delivered"
    assert f"UPS tracking number: {NUMBER}" in delivered.body
    assert LINK in delivered.body


def test_a_delivery_before_any_number_says_none(handed_to_ups):
    orders_services.mark_delivered(handed_to_ups, x=1, y=2)
    send_pending()
    assert "tracking number:" not in mail.outbox[-1].body


def test_operators_find_an_order_by_its_tracking_number(client, handed_to_ups, django_user_model):
    run(services.package_registered, registered(handed_to_ups.id))
    staff = django_user_model.objects.create_superuser("op", "op@example.com", "a-long-password-3")
    client.force_login(staff)
    listing = client.get("/admin/orders/order/", {"q": NUMBER}).content.decode()
    assert f"/admin/orders/order/{handed_to_ups.id}/change/" in listing


def _in_one_container(messages: list[au.PackageRegistered]) -> list[str]:
    """The messages handled as the daemon handles a container of them; returns the
    statements that looked orders up by tracking number."""
    carried: list[tuple[str, Message]] = [("registered", message) for message in messages]
    return [
        sql for sql in handled_from_ups(carried) if 'WHERE "orders_order"."tracking_number' in sql
    ]


def test_a_container_looks_its_numbers_up_at_once(handed_to_ups, place):
    orders = [handed_to_ups, *(place({1: 1}, x=i, y=i) for i in range(2))]
    for order in orders[1:]:
        services.take_in(order.id, WORLD)
    lookups = _in_one_container(
        [registered(order.id, f"MU{order.id:04d} 0000") for order in orders]
    )
    assert len(lookups) == 1, lookups
    assert [number_of(order) for order in orders] == [f"MU{o.id:04d} 0000" for o in orders]
    assert not sent("ups", "errors")


def test_a_number_given_twice_in_one_container_is_refused_the_second_time(handed_to_ups, place):
    second = place({1: 1}, x=1, y=1)
    services.take_in(second.id, WORLD)
    clash = registered(second.id)
    # As the daemon's core hands a container over: the orders' moves are written at its
    # end, so the second number's holder is not found in the database and the two
    # clash there; the container then runs again unit by unit, each saved as it goes.
    fulfilment = Fulfilment()
    received(
        fulfilment,
        fulfilment.ups,
        [("registered", registered(handed_to_ups.id)), ("registered", clash)],
    )
    [error] = sent("ups", "errors")
    assert (error.origin_seqnum, error.package_id) == (clash.seqnum, second.id)
    assert (number_of(handed_to_ups), number_of(second)) == (NUMBER, "")
