"""orders.services: placing an order and the status machine."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from amazon_ups.amazon.catalog.models import Product
from amazon_ups.amazon.orders import services
from amazon_ups.amazon.orders.lifecycle import IllegalOrderMove
from amazon_ups.amazon.orders.models import Order, OrderEvent, OrderLine
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2 as au
from tests.support import wait_for_a_lock_wait

pytestmark = pytest.mark.django_db

Status = Order.Status


def test_place_order_stores_order_lines_and_first_event_and_queues_only_the_account_check(
    place, shopper
):
    order = place({1: 2, 3: 1}, x=-5, y=2147483647, ups_account=12)

    order.refresh_from_db()
    assert (order.user, order.status, order.dest_x, order.dest_y) == (
        shopper,
        Status.PLACED,
        -5,
        2**31 - 1,
    )
    assert order.ups_account == 12 and order.warehouse is None
    assert sorted(order.lines.values_list("product_id", "count")) == [(1, 2), (3, 1)]
    assert list(order.events.values_list("status", flat=True)) == ["placed"]
    # The web talks to no one: the daemon sends what is queued, here only the question
    # whether UPS knows the account (the pickup request waits for the daemon's intake).
    [check] = OutgoingMessage.objects.all()
    assert (check.peer, check.field, check.ref) == ("ups", "account_checks", "ups-account:12")
    assert au.AccountCheck.FromString(bytes(check.body)).ups_account == 12


def test_place_order_without_a_ups_account_queues_no_message(place):
    place({1: 1})
    assert not OutgoingMessage.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"x": 2**31}, "x must be between"),
        ({"y": -(2**31) - 1}, "y must be between"),
        ({"x": "3"}, "x must be a whole number"),
        ({"x": 1.5}, "x must be a whole number"),
        ({"items": {1: 0}}, "quantity must be between"),
        ({"items": {1: services.MAX_COUNT + 1}}, "quantity must be between"),
        ({"items": {99: 1}}, "No such product: 99"),
        ({"ups_account": 0}, "UPS account must be between"),
        ({"ups_account": 2**63}, "UPS account must be between"),
    ],
)
def test_place_order_refuses_bad_input_and_stores_nothing(place, options, message):
    with pytest.raises(ValidationError, match=message):
        place(**options)
    assert not Order.objects.exists() and not OrderLine.objects.exists()


def test_the_same_token_twice_makes_one_order(place):
    first = place(token="t-1")
    again = place({2: 5}, token="t-1")

    assert again.id == first.id
    assert Order.objects.count() == 1
    assert OrderEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_second_post_that_races_the_first_gets_its_order(place, shopper):
    """The second post of a form checks its token while the first's order is not
    committed yet, then waits on the token's unique index: once the first commits, it
    gets that order rather than an error or a second one."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: on SQLite the second post's transaction waits to begin")
    second: list[Order] = []
    errors: list[BaseException] = []

    def second_post() -> None:
        try:
            second.append(place({2: 1}, token="raced"))
        except BaseException as error:  # shown by the assertion below
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=second_post)
    with transaction.atomic():
        first = Order.objects.create(user=shopper, dest_x=0, dest_y=0, token="raced")
        thread.start()
        wait_for_a_lock_wait("the second post to wait on the token's index")
    thread.join(10)
    assert not errors, errors
    assert [order.id for order in second] == [first.id]
    assert Order.objects.count() == 1 and not OrderLine.objects.exists()


def test_another_users_token_is_refused(place, other_shopper):
    place(token="t-1")
    with pytest.raises(ValidationError, match="already used"):
        place(token="t-1", user=other_shopper)
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_form_posted_twice_is_one_order_without_a_look_up_before_each(place, other_shopper):
    """In a transaction of its own (a Buy post), an order is inserted without first
    looking its token up: a second post finds it taken, and gets the first's order."""
    with CaptureQueriesContext(connection) as first_post:
        first = place(token="t-1")
    table = Order._meta.db_table
    assert not [q for q in first_post if q["sql"].startswith(f'SELECT "{table}"')]
    assert place({2: 5}, token="t-1").id == first.id
    with pytest.raises(ValidationError, match="already used"):
        place(token="t-1", user=other_shopper)
    Product.objects.filter(id=1).update(listed=False)  # taken off sale since the first
    assert place(token="t-1").id == first.id
    assert Order.objects.count() == 1 and OrderEvent.objects.count() == 1


def _statuses(order):
    return list(order.events.values_list("status", flat=True))


def _kinds(order):
    return list(order.events.values_list("kind", flat=True))


def test_the_pipeline_moves_by_its_table_and_late_news_changes_nothing(place):
    order = place()
    services.take_in(order, warehouse_id=1, world_id=7)
    assert services.start_packing(order)
    assert services.mark_packed(order)
    assert not services.mark_packed(order)  # a repeat is stale news
    assert services.mark_delivered(order, x=3, y=4)  # a skip straight to delivered
    assert not services.mark_delivering(order, truck_id=2)  # overtaken: no going back
    assert not services.fail(order, "too late")

    order.refresh_from_db()
    assert order.status == Status.DELIVERED and order.failure == ""
    assert _kinds(order) == ["placed", "taken in", "packing", "packed", "delivered"]
    assert _statuses(order) == ["placed", "placed", "packing", "packed", "delivered"]


def test_a_move_the_table_does_not_allow_is_a_named_error(place):
    order = place()
    with pytest.raises(IllegalOrderMove, match="'packed' while 'placed'"):
        services.mark_packed(order)  # the world packed an order we never asked it to pack
    with pytest.raises(IllegalOrderMove):
        services.start_loading(order)  # not packed, no truck
    order.refresh_from_db()
    assert order.status == Status.PLACED and _kinds(order) == ["placed"]


def test_failed_is_final_except_for_a_delivery(place):
    order = place()
    assert services.fail(order, "the world could not pack it")
    assert not services.fail(order, "again")
    assert not services.mark_delivering(order, truck_id=1)
    assert services.mark_delivered(order, x=4, y=5)

    order.refresh_from_db()
    assert order.status == Status.DELIVERED
    assert (order.dest_x, order.dest_y) == (4, 5)
    assert _statuses(order) == ["placed", "failed", "delivered"]


def test_every_move_sets_the_time_the_status_changed(place):
    order = place()
    placed_at = order.status_changed_at
    services.take_in(order, warehouse_id=1, world_id=7)
    assert order.status_changed_at == placed_at  # recorded only: the status stays
    services.start_packing(order)
    assert order.status_changed_at > placed_at


def test_the_latest_truck_and_destination_win(place):
    order = place()
    assert services.record_truck(order, truck_id=1, seqnum=5)
    assert not services.record_truck(order, truck_id=2, seqnum=4)  # older, came late
    assert services.change_destination(order, x=1, y=1, seqnum=9)
    assert not services.change_destination(order, x=2, y=2, seqnum=8)
    order.refresh_from_db()
    assert (order.truck_id, order.dest_x, order.dest_y) == (1, 1, 1)


def test_a_delivered_place_wins_over_later_redirects(place):
    order = place(x=1, y=1)
    services.mark_delivered(order, x=7, y=8)
    assert not services.change_destination(order, x=9, y=9, seqnum=100)
    order.refresh_from_db()
    assert (order.dest_x, order.dest_y) == (7, 8)


def test_loading_needs_a_packed_package_and_a_truck(place):
    order = place()
    services.take_in(order, warehouse_id=1, world_id=7)
    services.start_packing(order)
    services.record_truck(order, truck_id=3, seqnum=1)
    assert not services.can_load(order)  # not packed yet
    services.mark_packed(order)
    assert services.can_load(order)
    assert services.start_loading(order) == 3
    assert not services.can_load(order)  # a load is under way

    assert services.load_refused(order, "error: truck 3 is not at warehouse 1") == 3
    assert order.status == Status.PACKED
    assert not services.can_load(order)  # waits for a newer truck
    services.record_truck(order, truck_id=4, seqnum=2)
    assert services.start_loading(order) == 4
    assert services.mark_loaded(order) == 4
    assert services.mark_loaded(order) is None  # a repeat tells UPS nothing new
    order.refresh_from_db()
    assert (order.status, order.truck_id) == (Status.LOADED, 4)
