"""The owner changes where a package goes.

Before the world has the package's delivery (not yet sent out), the new place is simply
recorded and dispatch uses it. Once a UGoDeliver carrying it is out, the world keeps its
own copy of the destination: we send the delivery again with the new place (the world
changes the stop in place) and the change is in force only when the world has accepted
that command. If the world delivered first, the redirect lost the race: the package is
where the world left it. The store hears of a change once it is in force
(DestinationChanged), never of a lost one (protocol 5.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from amazon_ups.common.daemon.wakeup import channel_of, notify
from amazon_ups.common.dates import human_datetime
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN
from amazon_ups.ups.shipments import world
from amazon_ups.ups.shipments.models import Package, PackageEvent
from amazon_ups.ups.shipments.package_lifecycle import CARRIED, NOT_FINAL, PackageStatus
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind as P
from amazon_ups.ups.shipments.services.base import (
    delivered_at_destination,
    move,
    truck_ref,
    world_peer,
)
from amazon_ups.ups.shipper import services as shipper


@dataclass(frozen=True)
class RedirectResult:
    accepted: bool
    message: str
    # True when the new place went to the truck in the world (out for delivery), so
    # it is in force only once the world accepts it.
    resent: bool = False


def _delivered_event(package: Package) -> PackageEvent | None:
    return package.events.filter(kind=P.DELIVERED).order_by("-at", "-id").first()


def _too_late(package: Package) -> str:
    event = _delivered_event(package)
    if event is None or event.x is None:
        return f"Too late: package {package.tracking_number_grouped} was already delivered."
    at = human_datetime(event.at)
    name = package.tracking_number_grouped
    return f"Too late: package {name} was delivered at ({event.x}, {event.y}) at {at}."


def _destination_changed(package: Package) -> None:
    shipper.destination_changed(package.id, package.dest_x, package.dest_y)


def _resend_delivery(package: Package) -> int:
    """Send the package's delivery again, to its new place, on the truck that has it."""
    assert package.truck_id is not None  # the world has it: on its truck
    command = wu.UGoDeliver(truckid=package.truck_id)
    command.packages.add(packageid=package.id, x=package.dest_x, y=package.dest_y)
    sent = messaging.send(world_peer(), "deliveries", command, ref=truck_ref(package.truck_id))
    return sent.seqnum


def package_redirect(package: Package, *, x: int, y: int, by_user, now: datetime) -> RedirectResult:
    """Send ``package`` to (x, y) instead, on its owner's word given at ``now``."""
    if not all(isinstance(v, int) and INT32_MIN <= v <= INT32_MAX for v in (x, y)):
        raise ValueError(f"({x}, {y}) is not a place on the grid")
    with transaction.atomic():
        locked = (
            Package.objects.select_for_update(of=("self",))
            .select_related("account", "truck")
            .filter(id=package.id)
            .first()
        )
        if locked is None or locked.account is None or locked.account.user_id != by_user.pk:
            return RedirectResult(False, "No package with that number is yours.")
        package = locked
        # What this writes for the world and for Amazon goes out with the daemon's next
        # turn: wake it once this commits (nothing is sent if it rolls back).
        transaction.on_commit(lambda: notify(channel_of("ups")))
        if package.status == PackageStatus.DELIVERED:
            return RedirectResult(False, _too_late(package))
        if package.status not in NOT_FINAL:
            return RedirectResult(
                False,
                f"Package {package.tracking_number_grouped} cannot be delivered, "
                "so it cannot be redirected.",
            )
        if package.redirect_seqnum is not None:
            return RedirectResult(
                False,
                "The truck has not yet confirmed your last change of address; "
                "try again in a moment.",
            )
        if (package.dest_x, package.dest_y) == (x, y):
            return RedirectResult(
                True, f"Package {package.tracking_number_grouped} already goes to ({x}, {y})."
            )
        old = (package.dest_x, package.dest_y)
        package.dest_x, package.dest_y = x, y
        world_has_it = package.delivery_seqnum is not None and package.truck_id is not None
        if not world_has_it:
            move(package, P.REDIRECTED, x, y, note=f"instead of ({old[0]}, {old[1]})", now=now)
            _destination_changed(package)
            return RedirectResult(
                True, f"Package {package.tracking_number_grouped} will be delivered at ({x}, {y})."
            )
        package.redirect_from_x, package.redirect_from_y = old
        package.redirect_seqnum = _resend_delivery(package)
        told = f"instead of ({old[0]}, {old[1]}); told the truck"
        move(package, P.REDIRECTED, x, y, note=told, now=now)
        return RedirectResult(
            True,
            f"The truck is on its way: we told it to deliver package "
            f"{package.tracking_number_grouped} at ({x}, {y}) instead. "
            f"If it gets there first, the package is delivered at "
            f"({old[0]}, {old[1]}).",
            resent=True,
        )


def _redirect_clear(package: Package) -> None:
    package.redirect_seqnum = None
    package.redirect_from_x = package.redirect_from_y = None
    package.delivery_unsettled_truck = None


def _redirect_lost(package: Package, kind: P, *, now: datetime) -> None:
    """The world did not take the new place: the package goes (or went) to the old one."""
    asked = (package.dest_x, package.dest_y)
    old_x, old_y = package.redirect_from_x, package.redirect_from_y
    assert old_x is not None and old_y is not None  # kept while the redirect is pending
    package.dest_x, package.dest_y = old_x, old_y
    truck_id = package.delivery_unsettled_truck
    _redirect_clear(package)
    package.save()
    if truck_id is not None:
        delivered_at_destination(package, truck_id, now=now)
    kept = f"kept ({package.dest_x}, {package.dest_y})"
    move(package, kind, asked[0], asked[1], note=kept, now=now)


def redirect_unsettled_at_delivery(package: Package, truck_id: int, *, now: datetime) -> bool:
    """The world delivered ``package``; True if where is not known yet (decided by
    ``redirects_settle`` at the end of the daemon's turn)."""
    if package.redirect_seqnum is None:
        return False
    sent = messaging_selectors.origin(world_peer(), package.redirect_seqnum)
    package.delivery_unsettled_truck = truck_id
    if sent is None or sent.acked_at is None:
        # The world has not read the new place: it delivered at the old one.
        _redirect_lost(package, P.REDIRECT_TOO_LATE, now=now)
        return True
    # The world read the redirect, but maybe only after this delivery: its error saying
    # so may follow in the same batch. redirects_settle decides after the batch.
    package.save()
    return True


def redirect_refused(seqnum: int, text: str, *, now: datetime) -> bool:
    """The world refused our re-sent delivery ``seqnum``; False if it was no redirect."""
    package = Package.objects.select_for_update().filter(redirect_seqnum=seqnum).first()
    if package is None:
        return False
    late = "already delivered" in text
    _redirect_lost(package, P.REDIRECT_TOO_LATE if late else P.REDIRECT_FAILED, now=now)
    return True


def redirects_waiting() -> list[tuple[int, int]]:
    """(package id, seqnum) of the redirects the world has acked, to settle."""
    peer = world.world_peer()
    if peer is None:
        return []
    waiting = []
    for package_id, seqnum in Package.objects.filter(redirect_seqnum__isnull=False).values_list(
        "id", "redirect_seqnum"
    ):
        assert seqnum is not None  # filtered above
        sent = messaging_selectors.origin(peer, seqnum)
        if sent is not None and sent.acked_at is not None:
            waiting.append((package_id, seqnum))
    return waiting


def redirect_settle(package_id: int, seqnum: int, *, now: datetime) -> bool:
    """A redirect the world has accepted (acked, no error) is in force: tell Amazon, or,
    for a package delivered meanwhile, record the delivery at the new place. Called
    after the daemon's turn's messages, so an error in the same batch came first."""
    package = (
        Package.objects.select_for_update().filter(id=package_id, redirect_seqnum=seqnum).first()
    )
    if package is None:
        return False
    truck_id = package.delivery_unsettled_truck
    _redirect_clear(package)
    package.save()
    if package.status in CARRIED:
        # What the owner waits to read on the package's page.
        move(
            package,
            P.REDIRECT_CONFIRMED,
            package.dest_x,
            package.dest_y,
            note="by the truck",
            now=now,
        )
    if truck_id is not None:
        delivered_at_destination(package, truck_id, now=now)
    elif package.status in NOT_FINAL:
        _destination_changed(package)
    return True
