"""Redirecting a package: the service's cases and the messages they queue, the race
with the delivery, the page, and the emails to the owner."""

# Fixtures are shared by importing them from test_views (tests/ups/conftest.py is not
# this suite's to grow), which ruff takes for redefinitions.
from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connections
from django.utils import timezone

from amazon_ups.common.mail.services import send_pending
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.world_messages import Side
from amazon_ups.ups.accounts import services as accounts
from amazon_ups.ups.accounts.models import Account
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.shipments import services, tracking
from amazon_ups.ups.shipments.models import Package, PackageStatus
from amazon_ups.world.client import WorldClient
from tests.support import FAST, HUMAN_TIME
from tests.ups.amazon_peer import AmazonPeer
from tests.ups.helpers import (
    WORLD,
    arrive,
    login,
    number_of,
    out_for_delivery,
    page_of,
    pickup,
    sent,
)

pytestmark = pytest.mark.django_db


def package(package_id: int) -> Package:
    return Package.objects.get(id=package_id)


def kinds(package_id: int) -> list[str]:
    return list(package(package_id).events.values_list("kind", flat=True))


def world_acks_everything() -> None:
    seqnums = OutgoingMessage.objects.filter(peer=WORLD).values_list("seqnum", flat=True)
    messaging.acknowledge(WORLD, seqnums)


def redirect(package_id, owner, x, y) -> services.RedirectResult:
    return services.package_redirect(
        package(package_id), x=x, y=y, by_user=owner.user, now=timezone.now()
    )


@pytest.fixture
def on_the_truck(fleet, alice):
    """Alice's package 5 out for delivery on truck 1, to (20, -20)."""
    pickup(5, alice)
    arrive(1, 10, 0)
    out_for_delivery(5)
    assert package(5).status == PackageStatus.OUT_FOR_DELIVERY


# -- the service ----------------------------------------------------------------------


def test_before_the_truck_leaves_the_new_place_is_simply_used(fleet, alice):
    pickup(5, alice)
    result = redirect(5, alice, 3, 4)
    assert result.accepted and not result.resent
    assert (package(5).dest_x, package(5).dest_y) == (3, 4)
    [changed] = sent("amazon", "redirected")
    assert (changed.package_id, changed.x, changed.y) == (5, 3, 4)
    assert sent(WORLD, "deliveries") == []
    assert kinds(5)[-1] == "redirected"
    # The truck then leaves for the new place.
    arrive(1, 10, 0)
    dispatch.package_loaded(5, 1, now=timezone.now())
    [deliver] = sent(WORLD, "deliveries")
    assert [(p.packageid, p.x, p.y) for p in deliver.packages] == [(5, 3, 4)]


def test_out_for_delivery_the_delivery_is_sent_again_and_amazon_told_once_in_force(
    on_the_truck, alice
):
    result = redirect(5, alice, 3, 4)
    assert result.accepted and result.resent
    _, again = sent(WORLD, "deliveries")
    assert again.truckid == 1
    assert [(p.packageid, p.x, p.y) for p in again.packages] == [(5, 3, 4)]
    assert sent("amazon", "redirected") == []  # not in force until the world accepts
    assert dispatch.redirects_settle(timezone.now()) == 0
    world_acks_everything()
    assert dispatch.redirects_settle(timezone.now()) == 1
    [changed] = sent("amazon", "redirected")
    assert (changed.package_id, changed.x, changed.y) == (5, 3, 4)
    assert dispatch.redirects_settle(timezone.now()) == 0  # once
    dispatch.package_delivered(1, 5, now=timezone.now())
    [delivered] = sent("amazon", "delivered")
    assert (delivered.x, delivered.y) == (3, 4)
    assert package(5).events.get(kind="delivered").x == 3


def test_a_second_redirect_waits_for_the_first_to_be_confirmed(on_the_truck, alice):
    redirect(5, alice, 3, 4)
    result = redirect(5, alice, 6, 6)
    assert not result.accepted and "try again in a moment" in result.message
    world_acks_everything()
    dispatch.redirects_settle(timezone.now())
    assert redirect(5, alice, 6, 6).accepted
    assert len(sent(WORLD, "deliveries")) == 3


def test_redirect_after_delivery_is_refused_as_too_late(on_the_truck, alice):
    dispatch.package_delivered(1, 5, now=timezone.now())
    result = redirect(5, alice, 3, 4)
    assert not result.accepted
    name = tracking.grouped(number_of(5))
    assert result.message.startswith(f"Too late: package {name} was delivered at (20, -20) at ")
    assert re.search(rf" at {HUMAN_TIME}\.$", result.message)
    assert sent("amazon", "redirected") == []
    assert len(sent(WORLD, "deliveries")) == 1
    assert (package(5).dest_x, package(5).dest_y) == (20, -20)


def test_the_world_delivers_before_it_reads_the_redirect(on_the_truck, alice):
    """Redirect accepted while out for delivery; the world's delivery at the old place
    comes before its ack of the new one: the package is where the world left it."""
    redirect(5, alice, 3, 4)
    dispatch.package_delivered(1, 5, now=timezone.now())
    assert package(5).status == PackageStatus.DELIVERED
    assert (package(5).dest_x, package(5).dest_y) == (20, -20)
    [delivered] = sent("amazon", "delivered")
    assert (delivered.x, delivered.y) == (20, -20)
    assert kinds(5)[-2:] == ["delivered", "redirect too late"]
    # Then the world refuses the redirect: nothing more changes, nothing is sent.
    [_, again] = OutgoingMessage.objects.filter(peer=WORLD, field="deliveries").order_by("id")
    dispatch.deliveries_refused(
        again.seqnum, 1, [5], "error: package 5 was already delivered", now=timezone.now()
    )
    world_acks_everything()
    dispatch.redirects_settle(timezone.now())
    assert package(5).status == PackageStatus.DELIVERED
    assert sent("amazon", "redirected") == []
    assert len(sent("amazon", "delivered")) == 1


def test_delivery_and_refusal_in_one_batch_the_refusal_decides(on_the_truck, alice):
    """The world delivered, then read the redirect and refused it; its ack, delivery and
    error arrive together. The delivery waits for the end of the batch."""
    redirect(5, alice, 3, 4)
    world_acks_everything()
    dispatch.package_delivered(1, 5, now=timezone.now())
    assert sent("amazon", "delivered") == []  # where is not known yet
    again = OutgoingMessage.objects.filter(peer=WORLD, field="deliveries").order_by("id").last()
    dispatch.deliveries_refused(
        again.seqnum, 1, [5], "error: package 5 was already delivered", now=timezone.now()
    )
    dispatch.redirects_settle(timezone.now())
    [delivered] = sent("amazon", "delivered")
    assert (delivered.x, delivered.y) == (20, -20)
    assert sent("amazon", "redirected") == []
    assert package(5).redirect_seqnum is None


def test_delivery_with_an_accepted_redirect_is_at_the_new_place(on_the_truck, alice):
    redirect(5, alice, 3, 4)
    world_acks_everything()
    dispatch.package_delivered(1, 5, now=timezone.now())
    dispatch.redirects_settle(timezone.now())
    [delivered] = sent("amazon", "delivered")
    assert (delivered.x, delivered.y) == (3, 4)
    assert sent("amazon", "redirected") == []  # delivered: Delivered says where
    assert package(5).events.get(kind="delivered").x == 3


def test_a_redirect_the_truck_refuses_keeps_the_old_place(on_the_truck, alice):
    redirect(5, alice, 3, 4)
    again = OutgoingMessage.objects.filter(peer=WORLD, field="deliveries").order_by("id").last()
    dispatch.deliveries_refused(
        again.seqnum, 1, [5], "error: truck 1 is busy traveling", now=timezone.now()
    )
    assert package(5).status == PackageStatus.OUT_FOR_DELIVERY  # not failed
    assert (package(5).dest_x, package(5).dest_y) == (20, -20)
    assert kinds(5)[-1] == "redirect failed"
    assert redirect(5, alice, 3, 4).accepted  # may try again


def test_only_the_owner_may_redirect(fleet, alice, bob):
    pickup(5, alice)
    result = redirect(5, bob, 3, 4)
    assert not result.accepted
    assert (package(5).dest_x, package(5).dest_y) == (20, -20)
    assert sent("amazon", "redirected") == []


def test_a_failed_package_cannot_be_redirected(fleet, alice):
    pickup(5, alice)
    dispatch.amazon_error(1005, 5, "out of stock", now=timezone.now())
    assert not redirect(5, alice, 3, 4).accepted


def test_the_same_place_changes_nothing(fleet, alice):
    pickup(5, alice)
    assert redirect(5, alice, 20, -20).accepted
    assert sent("amazon", "redirected") == []


@pytest.mark.parametrize("x, y", [(2**31, 0), (0, -(2**31) - 1), ("1", 2), (1.5, 2)])
def test_the_service_refuses_places_off_the_grid(fleet, alice, x, y):
    pickup(5, alice)
    with pytest.raises(ValueError):
        redirect(5, alice, x, y)


# -- the page --------------------------------------------------------------------------


def test_the_owner_redirects_from_the_package_page(client, fleet, alice):
    pickup(5, alice)
    login(client, alice)
    page = client.get(page_of(5)).content.decode()
    assert f'action="{page_of(5)}redirect/"' in page
    assert '<label for="id_x">' in page and '<label for="id_y">' in page
    response = client.post(f"{page_of(5)}redirect/", {"x": "-7", "y": "2147483647"}, follow=True)
    page = response.content.decode()
    assert "will be delivered at (-7, 2147483647)" in page
    assert "New delivery address: (-7, 2147483647)" in page
    assert (package(5).dest_x, package(5).dest_y) == (-7, 2**31 - 1)


@pytest.mark.parametrize(
    "form, error",
    [
        ({"x": "abc", "y": "1"}, "Enter a whole number"),
        ({"x": "1.5", "y": "1"}, "Enter a whole number"),
        ({"x": "", "y": "1"}, "Enter a whole number"),
        ({"x": "1"}, "Enter a whole number"),
        ({"x": str(2**31), "y": "1"}, "The grid ends at 2147483647"),
        ({"x": "1", "y": str(-(2**31) - 1)}, "The grid starts at -2147483648"),
    ],
)
def test_bad_coordinates_are_explained(client, fleet, alice, form, error):
    pickup(5, alice)
    login(client, alice)
    response = client.post(f"{page_of(5)}redirect/", form)
    assert response.status_code == 400
    page = response.content.decode()
    assert error in page and 'aria-invalid="true"' in page
    assert (package(5).dest_x, package(5).dest_y) == (20, -20)
    assert sent("amazon", "redirected") == []


def test_redirecting_someone_elses_package_is_not_found(client, fleet, alice, bob):
    pickup(5, alice)
    pickup(6)  # nobody's
    login(client, bob)
    assert client.post(f"{page_of(5)}redirect/", {"x": "1", "y": "1"}).status_code == 404
    assert client.post(f"{page_of(6)}redirect/", {"x": "1", "y": "1"}).status_code == 404
    assert client.post("/track/MU4K7Q9XD2H8RTC6/redirect/", {"x": "1", "y": "1"}).status_code == 404
    assert client.post(f"{page_of(5)}redirect/", {"x": "1", "y": "1"}).status_code == 404
    assert (package(5).dest_x, package(5).dest_y) == (20, -20)


def test_redirecting_needs_a_login_and_a_post(client, fleet, alice):
    pickup(5, alice)
    response = client.post(f"{page_of(5)}redirect/", {"x": "1", "y": "1"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    login(client, alice)
    assert client.get(f"{page_of(5)}redirect/").status_code == 405


def test_the_redirect_form_checks_csrf(fleet, alice):
    from django.test import Client

    pickup(5, alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    assert client.post(f"{page_of(5)}redirect/", {"x": "1", "y": "1"}).status_code == 403


def test_redirect_after_delivery_tells_the_user_plainly(client, on_the_truck, alice):
    dispatch.package_delivered(1, 5, now=timezone.now())
    login(client, alice)
    page = client.post(f"{page_of(5)}redirect/", {"x": "1", "y": "1"}, follow=True)
    name = tracking.grouped(number_of(5))
    assert f"Too late: package {name} was delivered at (20, -20) at" in page.content.decode()


def test_a_lost_race_is_shown_on_the_package_page(client, on_the_truck, alice):
    login(client, alice)
    client.post(f"{page_of(5)}redirect/", {"x": "3", "y": "4"})
    page = client.get(page_of(5)).content.decode()
    assert "We are telling the truck" in page
    dispatch.package_delivered(1, 5, now=timezone.now())
    page = client.get(page_of(5)).content.decode()
    assert "Your change of address to (3, 4) came too late" in page
    assert "delivered the package at (20, -20)" in page


# -- emails ------------------------------------------------------------------------------


def test_the_owner_is_emailed_once_out_for_delivery_and_once_delivered(on_the_truck, alice):
    dispatch.confirm_deliveries(timezone.now())  # again: nothing new
    dispatch.package_delivered(1, 5, now=timezone.now())
    dispatch.package_delivered(1, 5, now=timezone.now())
    send_pending()
    name = tracking.grouped(number_of(5))
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["alice@example.com"], f"Your package {name} is out for delivery"),
        (["alice@example.com"], f"Your package {name} was delivered"),
    ]
    assert "(20, -20)" in mail.outbox[1].body
    send_pending()
    assert len(mail.outbox) == 2


def test_the_delivered_email_names_the_place_of_delivery(on_the_truck, alice):
    redirect(5, alice, 3, 4)
    world_acks_everything()
    dispatch.package_delivered(1, 5, now=timezone.now())
    dispatch.redirects_settle(timezone.now())
    send_pending()
    assert "delivered at (3, 4)" in mail.outbox[-1].body


def test_packages_of_nobody_send_no_email(fleet):
    pickup(5)
    arrive(1, 10, 0)
    out_for_delivery(5)
    dispatch.package_delivered(1, 5, now=timezone.now())
    send_pending()
    assert mail.outbox == []


# -- against the real world simulator ---------------------------------------------------
#
# The test plays Amazon: a world client on the Amazon port (buy, pack, load) and an
# Amazon-UPS client on the daemon's port; the dispatch daemon and the world are real.

WAREHOUSE = au_pb2.Warehouse(id=1, x=10, y=10)
FAR = (600, 600)  # a long trip, so the truck is still driving when the redirect comes
NEAR = (20, 20)
# Far enough that the delivery comes well over a second after "out for delivery": a
# test can stop the daemon before it hears of it.
MIDWAY = (210, 210)
TRUCK_SIMSPEED = 2000  # trucks cover 200 grid units a second: the trip takes seconds


@pytest.fixture
async def close_connections_of_sync_to_async():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def real_world(world_process, world_settings, close_connections_of_sync_to_async):
    # Slow trucks for UPS (time to redirect one on its way), fast packing for Amazon:
    # simspeed per side, the world's other reading (docs/world-simulator.md).
    process = world_process("--simspeed-scope", "side")
    world_settings.WORLD_HOST = "127.0.0.1"
    world_settings.WORLD_UPS_PORT = process.ports[Side.UPS]
    world_settings.WORLD_SIMSPEED = TRUCK_SIMSPEED
    return process


def _owner() -> Account:
    user = get_user_model().objects.create_user(username="erin", email="erin@example.com")
    return accounts.account_create(user)


async def _out_for_delivery(world, daemon, package_id: int, dest):
    """Amazon asks for a pickup and loads the package; returns the peers once UPS says
    it is out for delivery."""
    account = await sync_to_async(_owner)()
    amazon = await AmazonPeer.open(daemon.amazon_port)
    [created] = await amazon.wait_for(lambda: amazon.of("worlds"))
    shop = await WorldClient.open(
        Side.AMAZON, "127.0.0.1", world.ports[Side.AMAZON], created.world_id, [(1, 10, 10)]
    )
    shop.set_simspeed(FAST)
    shop.send(wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=7, description="kettle", count=1)]))
    await shop.wait_result(wa.APurchaseMore)
    shop.send(wa.APack(whnum=1, things=[KETTLE], shipid=package_id))
    amazon.send(
        au_pb2.PickupRequest(
            package_id=package_id,
            warehouse=WAREHOUSE,
            dest_x=dest[0],
            dest_y=dest[1],
            items=[au_pb2.Item(product_id=7, description="kettle", count=1)],
            ups_account=account.number,
        )
    )
    [arrived] = await amazon.wait_for(lambda: amazon.of("arrived"), timeout=20)
    await shop.wait_result(wa.APacked, lambda r: r.shipid == package_id)
    shop.send(wa.APutOnTruck(whnum=1, truckid=arrived.truck_id, shipid=package_id))
    await shop.wait_result(wa.ALoaded, lambda r: r.shipid == package_id)
    amazon.send(au_pb2.PackageLoaded(package_id=package_id, truck_id=arrived.truck_id))
    await amazon.wait_for(lambda: amazon.of("out_for_delivery"), timeout=20)
    return account, amazon, shop


def _redirect(package_id: int, account: Account, place) -> services.RedirectResult:
    return services.package_redirect(
        Package.objects.get(id=package_id),
        x=place[0],
        y=place[1],
        by_user=account.user,
        now=timezone.now(),
    )


async def eventually(condition, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` (which reads the database) holds, or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await sync_to_async(condition)():
        assert asyncio.get_running_loop().time() < deadline, f"{condition.__name__} never held"
        await asyncio.sleep(0.05)


KETTLE = wa.AProduct(id=7, description="kettle", count=1)


@pytest.mark.django_db(transaction=True)
async def test_real_world_redirect_while_out_for_delivery_delivers_at_the_new_place(
    real_world, run_daemon
):
    daemon = run_daemon()
    account, amazon, shop = await _out_for_delivery(real_world, daemon, 301, FAR)
    result = await sync_to_async(_redirect)(301, account, NEAR)
    assert result.accepted and result.resent

    [delivered] = await amazon.wait_for(lambda: amazon.of("delivered"), timeout=20)
    assert (delivered.x, delivered.y) == NEAR
    # The store heard of the change once the world had accepted it, before the delivery.
    [changed] = amazon.of("redirected")
    assert (changed.package_id, changed.x, changed.y) == (301, *NEAR)
    assert changed.seqnum < delivered.seqnum
    assert amazon.of("errors") == []
    kinds_now = await sync_to_async(kinds)(301)
    # The owner reads that the truck took the new address, before the delivery.
    assert kinds_now[-3:] == ["redirected", "redirect confirmed", "delivered"]
    await shop.close()
    await amazon.close()


@pytest.mark.django_db(transaction=True)
async def test_real_world_redirect_after_delivery_is_refused_as_too_late(real_world, run_daemon):
    daemon = run_daemon()
    account, amazon, shop = await _out_for_delivery(real_world, daemon, 302, NEAR)
    [delivered] = await amazon.wait_for(lambda: amazon.of("delivered"), timeout=20)
    assert (delivered.x, delivered.y) == NEAR
    result = await sync_to_async(_redirect)(302, account, FAR)
    assert not result.accepted
    name = await sync_to_async(lambda: tracking.grouped(number_of(302)))()
    assert result.message.startswith(f"Too late: package {name} was delivered at {NEAR} at ")
    assert amazon.of("redirected") == []
    await shop.close()
    await amazon.close()


@pytest.mark.django_db(transaction=True)
async def test_real_world_delivery_at_the_old_place_beats_an_accepted_redirect(
    real_world, run_daemon
):
    """The redirect is accepted while the package is out for delivery, but the world
    delivers before it reads it (here: the daemon is down meanwhile). The package is
    where the world left it; the store hears of no change, only of the delivery."""
    first = run_daemon()
    account, amazon, shop = await _out_for_delivery(real_world, first, 303, MIDWAY)
    first.stop()
    result = await sync_to_async(_redirect)(303, account, FAR)
    assert result.accepted and result.resent  # queued for the world, not yet read

    def delivered_in_the_world():
        shop.send(wa.AQuery(packageid=303))
        return any(r.status.lower() == "delivered" for r in shop.of_type(wa.APackage))

    await shop.wait_for(delivered_in_the_world, timeout=20)
    second = run_daemon()
    await amazon.reconnect(second.amazon_port)
    [delivered] = await amazon.wait_for(lambda: amazon.of("delivered"), timeout=20)
    assert (delivered.x, delivered.y) == MIDWAY
    assert amazon.of("redirected") == []

    def settled():
        package = Package.objects.get(id=303)
        return package.redirect_seqnum is None and package.status == PackageStatus.DELIVERED

    await eventually(settled)  # the world's refusal of the redirect may come just after
    package = await sync_to_async(Package.objects.get)(id=303)
    assert (package.dest_x, package.dest_y) == MIDWAY
    assert "redirect too late" in await sync_to_async(kinds)(303)
    await shop.close()
    await amazon.close()
