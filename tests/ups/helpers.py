"""Reading back what the services queued for the world and for Amazon."""

from __future__ import annotations

import itertools

from django.utils import timezone
from google.protobuf.message import Message

from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.ups.accounts import services as accounts
from amazon_ups.ups.accounts.models import Account
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.shipments import services
from amazon_ups.ups.shipments.models import Package

WORLD = "world:1"

# A package's events, in order, when nothing goes wrong.
EVENTS_WHEN_ALL_GOES_WELL = [
    "created",
    "truck dispatched",
    "truck at warehouse",
    "loaded",
    "out for delivery",
    "delivered",
]


def sent(peer: str, field: str) -> list[Message]:
    """Sub-messages queued for ``peer`` in ``field``, oldest first."""
    container = au_pb2.UpsToAmazon if peer == "amazon" else wu.UCommands
    out = []
    for row in OutgoingMessage.objects.filter(peer=peer, field=field).order_by("id"):
        holder = container()
        getattr(holder, field).add().MergeFromString(bytes(row.body))
        out.append(getattr(holder, field)[0])
    return out


# The world numbers its reports in the order it makes them; tests report in that order.
_world_seqnums = itertools.count(1_000)


def world_seqnum() -> int:
    """A new world seqnum, later than every one given so far."""
    return next(_world_seqnums)


def ack_all(peer: str = WORLD) -> None:
    """The world has taken every command queued for it so far."""
    messaging.acknowledge(
        peer, OutgoingMessage.objects.filter(peer=peer).values_list("seqnum", flat=True)
    )


# The world reports what it did after it took our commands: these helpers ack every
# command queued so far first, as the world would have (a test of a report that
# overtakes an ack calls the service itself).


def arrive(truck_id: int, x: int, y: int) -> None:
    """The world's UFinished: the truck arrived at the warehouse at (x, y)."""
    ack_all()
    dispatch.truck_finished(truck_id, "ARRIVE WAREHOUSE", x, y, world_seqnum(), now=timezone.now())


def finish(truck_id: int, x: int, y: int) -> None:
    """The world's UFinished: the truck made its last delivery, at (x, y)."""
    ack_all()
    dispatch.truck_finished(truck_id, "IDLE", x, y, world_seqnum(), now=timezone.now())


def report(truck_id: int, status: str, x: int, y: int) -> None:
    """The world's UTruck: its answer to our latest query about the truck."""
    ack_all()
    dispatch.truck_reported(truck_id, status, x, y, world_seqnum(), now=timezone.now())


PASSWORD = "a-long-test-password-1"


def make_user(django_user_model, name: str, *, staff: bool = False) -> Account:
    user = django_user_model.objects.create_user(
        username=name, email=f"{name}@example.com", password=PASSWORD, is_staff=staff
    )
    return accounts.account_create(user)


def pickup(package_id: int, account: Account | None = None, warehouse=(1, 10, 0), dest=(20, -20)):
    return dispatch.pickup_request(
        seqnum=1000 + package_id,
        package_id=package_id,
        warehouse_id=warehouse[0],
        warehouse_x=warehouse[1],
        warehouse_y=warehouse[2],
        dest_x=dest[0],
        dest_y=dest[1],
        items=[services.Item(7, "Kettle <b>", 2)],
        ups_account=account.number if account else None,
        now=timezone.now(),
    )


def out_for_delivery(package_id: int, truck_id: int = 1) -> None:
    """Load the package (its truck stands at warehouse 1) and have the world accept the
    delivery, as the daemon would."""
    dispatch.package_loaded(package_id, truck_id, now=timezone.now())
    seqnums = OutgoingMessage.objects.filter(peer=WORLD).values_list("seqnum", flat=True)
    messaging.acknowledge(WORLD, seqnums)
    dispatch.confirm_deliveries(timezone.now())


def login(client, account: Account) -> None:
    # Not client.login(): it authenticates without a request, which django-axes refuses.
    client.force_login(account.user)


def number_of(package_id: int) -> str:
    return Package.objects.get(id=package_id).tracking_number


def page_of(package_id: int) -> str:
    """The package's page: found by its tracking number, never by its id."""
    return f"/track/{number_of(package_id)}/"
