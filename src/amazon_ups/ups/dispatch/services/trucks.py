"""Trucks given work: which truck goes for which package, when it leaves, what it carries.

Three rules keep our picture of a truck from running ahead of the world's:
- a truck with a command of ours the world has not acked is busy (the world may still
  run that command, later than ones sent after it, if it dropped the first copy);
- a truck whose state is in doubt (a report that did not fit, a refused command) is
  busy until the world has answered a query about it (``Truck.needs_query``);
- packages waiting for a truck that cannot be theirs any more (it went elsewhere, the
  world refused the load) go back to the queue, and get a truck and a ``TruckArrived``
  again.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from django.db.models import Count, Exists, Min, OuterRef, Q

from amazon_ups.common.daemon.isolation import each_item_together
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.common.models import ValueOfKey
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.ups.dispatch import planning
from amazon_ups.ups.dispatch import selectors as dispatch_selectors
from amazon_ups.ups.shipments.models import Package, Truck, Warehouse
from amazon_ups.ups.shipments.package_lifecycle import AWAITING_LOAD, CARRIED, PackageStatus
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind as P
from amazon_ups.ups.shipments.services.base import (
    events_of_one_unit,
    move,
    moves,
    packages_changed,
    packages_changes,
    packages_written,
    saves_noted,
    truck_ref,
    truck_ref_of,
    world_peer,
)
from amazon_ups.ups.shipments.truck_lifecycle import AT_WAREHOUSE, TruckStatus, truck_move
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind as T
from amazon_ups.ups.shipper import services as shipper

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

COMMANDS = ("pickups", "deliveries")  # what moves a truck; queries only ask
# How many of the packages waiting at a warehouse (the oldest) a truck's load is gathered
# from (``planning.Policy.gather``): a bound on the work of one choice.
GATHER_FROM = 500


class _Load(TypedDict):
    waiting: int
    given: int


# A truck with how many packages wait for it at its warehouse, and how many it has been
# given for this trip (_least_loaded).
TruckWithLoad: TypeAlias = "WithAnnotations[Truck, _Load]"

# -- which trucks can take work ----------------------------------------------------------


def _unacked_for_truck(peer: str) -> Exists:
    """For a Truck queryset: a command or query of ours about it waits for the world's ack."""
    ref = truck_ref_of(OuterRef("pk"))
    return Exists(OutgoingMessage.objects.filter(peer=peer, ref=ref, acked_at=None))


def commands_unacked(truck: Truck) -> bool:
    return OutgoingMessage.objects.filter(
        peer=world_peer(), ref=truck_ref(truck.id), field__in=COMMANDS, acked_at=None
    ).exists()


def _in_doubt() -> Q:
    return Q(needs_query=True) | Q(query_seqnum__isnull=False)


def _given_q() -> Q:
    """Packages a truck has been given for its current trip: waiting for it at the
    warehouse, or on it and not sent out yet (its cargo)."""
    return Q(status__in=AWAITING_LOAD) | Q(status__in=CARRIED, delivery_seqnum=None)


def _pickup_states():
    """Trucks where the world accepts a pickup and whose state is not in doubt."""
    return Truck.objects.filter(
        status__in=[TruckStatus.IDLE, TruckStatus.ARRIVE_WAREHOUSE]
    ).exclude(_in_doubt())


def any_free_truck() -> bool:
    """Whether ``free_trucks()`` has any; while every truck is on the road (most turns of a
    busy day), a query on the trucks alone says no."""
    return _pickup_states().exists() and free_trucks().exists()


def free_trucks():
    """Trucks with nothing given for a trip, where the world accepts a pickup (it
    refuses one for a truck that is traveling or loading), whose state is not in doubt
    and that have no command waiting for the world's ack."""
    busy = Package.objects.filter(truck=OuterRef("pk")).filter(_given_q())
    return _pickup_states().exclude(Exists(busy)).exclude(_unacked_for_truck(world_peer()))


@functools.cache
def _trucks_going_with_load():
    """Trucks heading to or standing at a warehouse that have not begun loading, least
    loaded first, with their ``waiting`` and ``given``: built once (the daemon asks for
    each pickup; only the warehouse changes)."""
    # Once loading has begun the truck takes no more: it leaves when what it was
    # given is loaded, instead of waiting for packages that keep coming.
    loading_begun = Package.objects.filter(
        truck=OuterRef("pk"), status=PackageStatus.LOADED, delivery_seqnum=None
    )
    given = Q(packages__status__in=AWAITING_LOAD) | Q(
        packages__status__in=CARRIED, packages__delivery_seqnum=None
    )
    return (
        Truck.objects.filter(status__in=[TruckStatus.TRAVELING, *AT_WAREHOUSE])
        .exclude(_in_doubt())
        .exclude(Exists(loading_begun))
        .annotate(
            waiting=Count("packages", filter=Q(packages__status__in=AWAITING_LOAD)),
            given=Count("packages", filter=given),
        )
        .order_by("waiting", "id")
    )


def _least_loaded(warehouse: Warehouse) -> TruckWithLoad | None:
    """The truck heading to or standing at ``warehouse`` that has not begun loading with
    the fewest packages waiting for it there (``waiting``; ties: the lowest id), so trucks
    fill evenly; with how many it has been given for this trip (``given``). One query
    answers for every limit: a truck with fewer than ``limit`` is found if this one is."""
    return _trucks_going_with_load().filter(warehouse=warehouse).first()


def _send_free_truck(warehouse: Warehouse, rule: planning.Policy, *, now: datetime) -> Truck | None:
    """Send a free truck to ``warehouse`` (the nearest one, unless ``rule`` is the naive
    baseline); None if every truck is busy. A free truck has been given nothing."""
    free = {truck.id: truck for truck in free_trucks()}
    truck_id = planning.choose_truck(
        (warehouse.x, warehouse.y), [(t.id, t.x, t.y) for t in free.values()], rule
    )
    if truck_id is None:
        return None
    truck = free[truck_id]
    if truck.status in AT_WAREHOUSE and truck.warehouse_id == warehouse.id:
        return truck  # already there: Amazon can load it at once
    messaging.send(
        world_peer(),
        "pickups",
        wu.UGoPickup(truckid=truck.id, whid=warehouse.id),
        truck_ref(truck.id),
    )
    truck.warehouse = warehouse
    truck.loading_deadline = None
    truck_move(truck, T.SENT_TO_WAREHOUSE, note=f"to warehouse {warehouse.id}", now=now)
    return truck


# -- packages and their trucks -----------------------------------------------------------


def announce(packages: list[Package], truck: Truck, warehouse: Warehouse, *, now: datetime) -> None:
    """The truck stands at the packages' warehouse: Amazon may load them. A package
    announced before (its truck left without it) is announced again with a newer
    seqnum: Amazon loads onto the truck of the latest TruckArrived."""
    for package in packages:
        package.truck = truck
    note = f"truck {truck.id}"
    for package in moves(packages, P.TRUCK_AT_WAREHOUSE, warehouse.x, warehouse.y, note, now=now):
        shipper.truck_arrived(package.id, truck.id, warehouse.id)


def requeue(package: Package, kind: P, note: str, *, now: datetime) -> None:
    """Back to the queue for another truck (``kind`` says why)."""
    package.truck = None
    move(package, kind, note=note, now=now)


def serve_warehouse(warehouse: Warehouse, max_batches: int | None = None, *, now: datetime) -> int:
    """Give the packages waiting at ``warehouse`` a truck at ``now``, oldest first, in at most
    ``max_batches`` batches. Returns how many packages got a truck.

    Packages share a truck already going there until it has ``share`` of them; then
    the nearest free truck is sent too, so a burst is spread over idle trucks; when
    no truck is free, the trucks going there take up to their ``capacity``."""
    rule = dispatch_selectors.policy()
    waiting = Package.objects.filter(
        warehouse=warehouse, status=PackageStatus.CREATED, truck=None
    ).order_by("id")
    served = batches = 0
    while max_batches is None or batches < max_batches:
        # With ``gather``, a truck takes the oldest package and those bound the same
        # way, chosen among the oldest GATHER_FROM.
        pool = GATHER_FROM if rule.gather else rule.capacity
        fetch = max(pool, rule.capacity)
        found = list(waiting[:fetch])
        if not found:
            break
        for package in found:
            package.warehouse = warehouse  # theirs: no join to read it again
        # A truck going there with fewer than ``share`` waiting for it, else a free truck
        # (given nothing yet), else one going there with room up to ``capacity``.
        least = _least_loaded(warehouse)
        limit, given = rule.share, 0
        if least is not None and least.waiting < limit:
            truck: Truck | None = least
            given = least.given
        else:
            truck = _send_free_truck(warehouse, rule, now=now)
            if truck is None and least is not None and least.waiting < rule.capacity:
                limit, truck, given = rule.capacity, least, least.given
        if truck is None:
            break
        room = max(limit - given, 0)
        if rule.gather:
            places = [(p.id, p.dest_x, p.dest_y) for p in found]
            chosen = set(planning.gather(places, room, (warehouse.x, warehouse.y)))
            batch = [package for package in found if package.id in chosen]
        else:
            batch = found[:room]
        if not batch:
            break
        batches += 1
        if truck.status in AT_WAREHOUSE:
            announce(batch, truck, warehouse, now=now)
        else:
            for package in batch:
                package.truck = truck
            moves(batch, P.TRUCK_DISPATCHED, note=f"truck {truck.id}", now=now)
        served += len(batch)
        if len(batch) == len(found) < fetch:
            break  # fewer waited than were read, and all got a truck: none wait now
    return served


# The warehouses given packages while a container's sub-messages are handled, with the
# time each was last given one (``serving_together``); None outside one.
_to_serve: ContextVar[dict[int, tuple[Warehouse, datetime]] | None] = ContextVar(
    "_to_serve", default=None
)


def serve_soon(warehouse: Warehouse, *, now: datetime) -> None:
    """``serve_warehouse`` now, or, while sub-messages are handled together, once for
    all of them when the last is done: a container of 50 pickups for one warehouse
    chooses trucks once, not 50 times, and the packages are shared out among them
    together."""
    pending = _to_serve.get()
    if pending is None:
        serve_warehouse(warehouse, now=now)
    else:
        pending[warehouse.id] = (warehouse, now)


def serving_later() -> bool:
    """Whether ``serve_soon`` waits for the end of a ``serving_together``."""
    return _to_serve.get() is not None


@contextlib.contextmanager
def serving_together() -> Iterator[None]:
    """Within: ``serve_soon`` waits for the end, where each warehouse it was given is
    served once, in the same transaction (before it commits, so a package is never
    left waiting while a truck going there has room). A defect in serving one is
    set aside for an operator, as ``serve_waiting`` does, and the others go on."""
    pending: dict[int, tuple[Warehouse, datetime]] = {}
    token = _to_serve.set(pending)
    try:
        yield
    finally:
        _to_serve.reset(token)
    if not pending:
        return

    def serve(item: tuple[Warehouse, datetime]) -> None:
        with _one_unit():
            serve_warehouse(item[0], now=item[1])

    each_item_together(
        "serving a warehouse",
        list(pending.values()),
        ref=lambda item: f"warehouse:{item[0].id}",
        action=serve,
        around=lambda items: _one_unit(),
    )


@contextlib.contextmanager
def _one_unit() -> Iterator[None]:
    """Work rolled back alone (a savepoint): its events, and what it told Amazon, go
    with it."""
    with events_of_one_unit(), shipper.said_in_unit():
        yield


def warehouses_waiting() -> list[int]:
    """Warehouses with packages waiting for a truck, the one waiting longest first."""
    return list(
        Package.objects.filter(status=PackageStatus.CREATED, truck=None)
        .values("warehouse")
        .annotate(oldest=Min("id"))
        .order_by("oldest")
        .values_list("warehouse", flat=True)
    )


def still_waiting(warehouse_id: int) -> bool:
    return Package.objects.filter(
        warehouse_id=warehouse_id, status=PackageStatus.CREATED, truck=None
    ).exists()


# -- departures ---------------------------------------------------------------------------


def cargo(truck: Truck) -> list[Package]:
    """Packages on ``truck`` that it has not been sent out with yet."""
    return list(Package.objects.filter(truck=truck, status__in=CARRIED, delivery_seqnum=None))


def go_deliver(truck: Truck, packages: list[Package], *, now: datetime) -> None:
    """Send ``truck`` out with ``packages`` in a short route order at ``now``. Loaded
    ones are out for delivery once the world acks the command (``confirm_deliveries``)."""
    by_id = {package.id: package for package in packages}
    order = planning.route_order(
        (truck.x, truck.y),
        [(p.id, p.dest_x, p.dest_y) for p in packages],
        improve=dispatch_selectors.policy().improve_routes,
    )
    command = wu.UGoDeliver(truckid=truck.id)
    for package_id in order:
        package = by_id[package_id]
        command.packages.add(packageid=package.id, x=package.dest_x, y=package.dest_y)
    sent = messaging.send(world_peer(), "deliveries", command, ref=truck_ref(truck.id))
    # Each package's place on the route, by one CASE on the id (not a filter per package).
    positions = ValueOfKey(
        Package._meta.pk,
        [(package_id, i) for i, package_id in enumerate(order)],
        output_field=Package._meta.get_field("route_position"),
    )
    Package.objects.filter(id__in=order).update(
        delivery_seqnum=sent.seqnum, route_position=positions, updated_at=now
    )
    packages_written(order)  # a later message about one of them must not see it unsent
    truck.warehouse = None
    truck.loading_deadline = None
    truck_move(truck, T.SENT_TO_DELIVER, note=f"{len(order)} packages, #{sent.seqnum}", now=now)


@dataclass
class _Given:
    """A truck's cargo and the packages it waits for, as read when packages had been
    changed ``changes`` times (``packages_changes``), by id."""

    changes: int
    packages: dict[int, Package]


# Per truck, what its loads in a container last read it was given (``loads_read_together``);
# None outside one.
_given_read: ContextVar[dict[int, _Given] | None] = ContextVar("_given_read", default=None)


@contextlib.contextmanager
def loads_read_together() -> Iterator[None]:
    """Within (inside ``packages_locked_ahead``): what a truck has been given, read at a
    load onto it, serves the next loads onto it (each one's package, moved to loaded,
    put in its place), until packages are written otherwise (``packages_changed``: a
    truck leaving, a load refused, a unit rolled back). A container of 20 loads onto one
    truck asks whether it is ready with one read, not 20."""
    token = _given_read.set({})
    try:
        yield
    finally:
        _given_read.reset(token)


def _given(truck: Truck, loaded: Package | None) -> list[Package]:
    """Its cargo and the packages it waits for, in one read, or as read at an earlier
    load onto it with ``loaded`` (just moved, through ``package_lock``) put in."""
    read = _given_read.get()
    changes = packages_changes()
    if read is None or changes is None or loaded is None:
        return list(Package.objects.filter(truck=truck).filter(_given_q()))
    known = read.get(truck.id)
    if known is None or known.changes != changes:
        given = {p.id: p for p in Package.objects.filter(truck=truck).filter(_given_q())}
        for package in saves_noted():  # moved (loaded), not written yet: as they are now
            if package.truck_id == truck.id and package.id in given:
                given[package.id] = package
            elif package.truck_id == truck.id and package.status in CARRIED:
                if package.delivery_seqnum is None:  # loaded onto it, given to another
                    given[package.id] = package
            else:
                given.pop(package.id, None)
        known = read[truck.id] = _Given(changes, given)
    known.packages[loaded.id] = loaded
    for other in read.values():  # no truck waits for it but the one it is on
        if other is not known:
            other.packages.pop(loaded.id, None)
    return list(known.packages.values())


def depart_if_ready(truck: Truck, *, now: datetime, loaded: Package | None = None) -> None:
    """A truck at a warehouse leaves once every package announced there is loaded.
    While it waits with some on board, each load gives the rest a new deadline
    (``UPS_LOADING_WAIT`` after ``now``): past it, ``depart_overdue`` sends it off.
    ``loaded``: the package whose load asks (``loads_read_together``)."""
    if truck.status not in AT_WAREHOUSE:
        return
    given = _given(truck, loaded)
    aboard = [package for package in given if package.status in CARRIED]
    if len(aboard) < len(given):  # some still wait to be loaded
        deadline = now + dispatch_selectors.loading_wait()
        # The loads of a container share their ``now``: the deadline is written once.
        if aboard and truck.loading_deadline != deadline:
            truck.loading_deadline = deadline
            truck.save(update_fields=["loading_deadline", "updated_at"])
        return
    if aboard:
        go_deliver(truck, aboard, now=now)


def drive_cargo(truck: Truck, *, now: datetime) -> bool:
    """A truck with cargo it was not sent out with (a refused delivery, a load after it
    left, a delivery that never ran) takes it out now where it can. True if it left."""
    aboard = cargo(truck)
    if not aboard or truck.status == TruckStatus.TRAVELING:
        return False
    if truck.status in AT_WAREHOUSE:
        depart_if_ready(truck, now=now)
        return truck.status == TruckStatus.DELIVERING
    go_deliver(truck, aboard, now=now)
    return True


def depart(truck: Truck, *, now: datetime) -> bool:
    """The truck waited past its loading deadline: it leaves with what is loaded. The
    packages it was waiting for go back to the queue and get the next truck (whose
    arrival is announced to Amazon anew). False if there was nothing to leave with."""
    aboard = cargo(truck)
    truck.loading_deadline = None
    if not aboard:
        truck.save(update_fields=["loading_deadline", "updated_at"])
        return False
    warehouse = truck.warehouse
    for package in Package.objects.filter(truck=truck, status__in=AWAITING_LOAD):
        requeue(package, P.LEFT_BEHIND, f"truck {truck.id}: not ready", now=now)
    go_deliver(truck, aboard, now=now)
    if warehouse is not None:
        serve_warehouse(warehouse, now=now)
    packages_changed()  # those left behind, and given again: not only those sent out
    return True


def out_for_delivery(packages: list[Package], truck_id: int, *, now: datetime) -> int:
    """The world took the command that sends these out on ``truck_id``: tell Amazon.
    Returns how many moved (the others were out already, or done)."""
    moved = moves(packages, P.OUT_FOR_DELIVERY, note=f"truck {truck_id}", now=now)
    for package in moved:
        shipper.out_for_delivery(package.id, truck_id)
    return len(moved)


# -- what a truck's new state means for its packages --------------------------------------


def regather(truck: Truck, *, now: datetime) -> int:
    """The truck stands at its warehouse; packages there were given, as they came, to it
    and to other trucks still on their way, and some may wait with no truck (all those
    going there were full). None of them is announced yet, so they can change trucks:
    this one takes a load of about as many as it was given (``planning.share_out``: one
    part of the map, and the others' parts of it compact too, sized so that the trucks
    finish about together), and the rest go to the others (one given back for each
    taken; any more to the one with fewest) or wait (one for each it took of those
    waiting). Returns how many changed trucks."""
    warehouse = truck.warehouse
    assert warehouse is not None  # it stands at one
    own = list(
        Package.objects.filter(
            truck=truck, warehouse=warehouse, status=PackageStatus.TRUCK_DISPATCHED
        )
    )
    if not own:
        return 0
    coming = (
        Truck.objects.filter(warehouse=warehouse, status=TruckStatus.TRAVELING)
        .exclude(id=truck.id)
        .exclude(_in_doubt())
    )
    pool = own + list(
        Package.objects.filter(
            truck__in=coming, warehouse=warehouse, status=PackageStatus.TRUCK_DISPATCHED
        )
    )
    # Packages there that no truck has been given yet (every truck going there was
    # full, and none was free): they go out later, from what this one leaves.
    unassigned = list(
        Package.objects.filter(
            warehouse=warehouse, status=PackageStatus.CREATED, truck=None
        ).order_by("id")[:GATHER_FROM]
    )
    pool += unassigned
    if len(pool) == len(own):
        return 0
    pool.sort(key=lambda package: package.id)  # oldest first
    places = [(p.id, p.dest_x, p.dest_y) for p in pool]
    # How far each truck coming still is (at most: it left from where we last saw it)
    # and how many it was given; by id (which arrives first is not known).
    counts: dict[int, int] = {}
    for package in pool:
        if package.truck_id not in (truck.id, None):  # given to a truck coming
            counts[package.truck_id] = counts.get(package.truck_id, 0) + 1
    here = (warehouse.x, warehouse.y)
    others = [
        (planning.distance((t.x, t.y), here), counts[t.id])
        for t in sorted(coming, key=lambda t: t.id)
        if t.id in counts
    ]
    capacity = dispatch_selectors.policy().capacity
    chosen = set(planning.share_out(places, here, len(own), others, capacity, len(unassigned)))
    # Those it takes of the ones that had no truck are its own now; as many of those
    # it was given wait in their stead (for the next truck, as those did): no more
    # packages wait for a truck than before.
    taken_waiting = [p for p in unassigned if p.id in chosen]
    left_waiting = [p for p in own if p.id not in chosen][: len(taken_waiting)]
    for outgoing in left_waiting:
        requeue(outgoing, P.TRUCK_REASSIGNED, f"truck {truck.id} took another", now=now)
    for incoming in taken_waiting:
        incoming.truck = truck
        move(incoming, P.TRUCK_DISPATCHED, note=f"truck {truck.id}", now=now)
    own = [p for p in own if p not in left_waiting]
    taken = [p for p in pool if p.id in chosen and p.truck_id not in (truck.id, None)]
    given_back = [p for p in own if p.id not in chosen]
    # One for one first: the truck a package is taken from gets one given back.
    for incoming, outgoing in zip(taken, given_back, strict=False):
        other = incoming.truck_id
        assert other is not None  # in the pool: given to a truck coming
        outgoing.truck_id, incoming.truck_id = other, truck.id
    changed = taken + given_back
    for outgoing in given_back[len(taken) :]:
        # More given back than taken: to the truck coming with the fewest, if it has room
        # (else the package stays on this one: it is carried either way).
        least = min(counts, key=lambda truck_id: (counts[truck_id], truck_id), default=None)
        if least is None or counts[least] >= capacity:
            changed.remove(outgoing)
            continue
        outgoing.truck_id = least
        counts[least] += 1
    for incoming in taken[len(given_back) :]:
        incoming.truck_id = truck.id  # more taken than given back: this one carries more
    for package in changed:
        package.updated_at = now
    Package.objects.bulk_update(changed, ["truck", "updated_at"])
    return len(changed) + len(taken_waiting) + len(left_waiting)


def arrived(truck: Truck, *, now: datetime) -> None:
    """The truck stands at ``truck.warehouse``: it takes a gathered load of the packages
    there (``regather``), the packages it came for are announced,
    others waiting there board, and it leaves if nothing is left to load."""
    warehouse = truck.warehouse
    assert warehouse is not None  # it stands at one
    if dispatch_selectors.policy().gather:
        regather(truck, now=now)
    coming_for = Package.objects.filter(
        truck=truck, warehouse=warehouse, status=PackageStatus.TRUCK_DISPATCHED
    )
    announce(list(coming_for), truck, warehouse, now=now)
    # Packages that came in while every truck was busy can board now.
    serve_warehouse(warehouse, now=now)
    depart_if_ready(truck, now=now)


def reconcile(truck: Truck, *, now: datetime) -> None:
    """After the world told us what ``truck`` is doing: packages that counted on it where
    it is not go back to the queue, and what it carries goes out."""
    here = truck.warehouse if truck.status in (TruckStatus.TRAVELING, *AT_WAREHOUSE) else None
    stranded = Package.objects.filter(truck=truck, status__in=AWAITING_LOAD)
    if here is not None:
        stranded = stranded.exclude(warehouse=here)
    for package in stranded.select_related("warehouse"):
        requeue(package, P.TRUCK_REASSIGNED, f"truck {truck.id} is {truck.status}", now=now)
        serve_warehouse(package.warehouse, now=now)
    if here is not None and truck.status in AT_WAREHOUSE:
        arrived(truck, now=now)
    else:
        drive_cargo(truck, now=now)
