"""What each sub-command of the world protocol does, and what the world's timed events
do when they come due: the rules of ``engine.WorldEngine``, kept apart from its
bookkeeping (connections, sessions, acks, the timeline, retirement). ``Commands`` is a
part of the engine (its base class), not a separate state: every method runs on the
engine's worlds, at the time it is given."""

from __future__ import annotations

import logging
from collections import Counter
from enum import Enum
from typing import TYPE_CHECKING, Any

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.errors import RemoteProtocolError
from amazon_ups.protocol.world_messages import Side, error_text
from amazon_ups.world import timing
from amazon_ups.world.model import (
    Leg,
    Package,
    PackageStatus,
    Stop,
    Truck,
    TruckStatus,
    Warehouse,
    World,
)
from amazon_ups.world.rules import (
    PackShort,
    PickupWhileTraveling,
)

if TYPE_CHECKING:
    from amazon_ups.protocol.channel import SubMessage
    from amazon_ups.world.rules import Rules


class Rejected(RemoteProtocolError):
    """A command breaks a rule: the peer's fault. Its text (``error: <reason>``) goes
    back to the client in AErr/UErr; nothing in the world changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(error_text(reason))


class EventKind(Enum):
    PURCHASE_ARRIVED = "purchase arrived"
    PACKED = "packed"
    LOADED = "loaded"
    TRUCK_ARRIVED = "truck arrived"


class Commands:
    """The rules, as methods of the engine (``engine.WorldEngine`` inherits them)."""

    if TYPE_CHECKING:  # the engine's, which these methods use
        log: logging.Logger | logging.LoggerAdapter[logging.Logger]
        rules: Rules

        def _schedule(self, due: float, kind: EventKind, world_id: int, details: Any) -> None: ...
        def _send(self, world: World, side: Side, result: SubMessage) -> None: ...
        def _reject(self, world: World, side: Side, text: str, origin: int, now: float) -> None: ...

    # Amazon's commands

    def _amazon_buy(self, world: World, command: wa.APurchaseMore, now: float) -> None:
        warehouse = _warehouse(world, command.whnum)
        for product in command.things:
            if product.count <= 0:
                raise Rejected(f"product {product.id} count must be positive, not {product.count}")
        for product in command.things:
            known = world.products.setdefault(product.id, product.description)
            if known != product.description:
                self.log.warning(
                    "world %d: product %d bought as %r, keeps its first description %r",
                    world.id,
                    product.id,
                    product.description,
                    known,
                )
        arrival = wa.APurchaseMore()
        arrival.CopyFrom(command)
        due = now + timing.scaled(timing.PURCHASE_SECONDS, world.simspeed[Side.AMAZON])
        self._schedule(due, EventKind.PURCHASE_ARRIVED, world.id, (warehouse.id, arrival))

    def _amazon_topack(self, world: World, command: wa.APack, now: float) -> None:
        warehouse = _warehouse(world, command.whnum)
        if command.shipid in world.packages:
            raise Rejected(f"package id {command.shipid} already exists in this world")
        if not command.things:
            raise Rejected(f"package {command.shipid} has no products to pack")
        needed: Counter[int] = Counter()
        for product in command.things:
            if product.count <= 0:
                raise Rejected(f"product {product.id} count must be positive, not {product.count}")
            if product.id not in world.products:
                raise Rejected(f"product_id {product.id} does not exist in this world")
            needed[product.id] += product.count
        waits = self.rules.pack_short is PackShort.WAIT
        if waits and warehouse.short:
            # Packages waiting for stock go first, in their order.
            world.packages[command.shipid] = Package(command.shipid, warehouse.id)
            warehouse.short.append((command.shipid, dict(needed)))
            return
        for product_id, count in needed.items():
            have = warehouse.stock.get(product_id, 0)
            if have < count:
                if waits:
                    world.packages[command.shipid] = Package(command.shipid, warehouse.id)
                    warehouse.short.append((command.shipid, dict(needed)))
                    return
                raise Rejected(
                    f"warehouse {warehouse.id} has {have} of product {product_id}, "
                    f"package {command.shipid} needs {count}"
                )
        world.packages[command.shipid] = Package(command.shipid, warehouse.id)
        self._start_packing(world, warehouse, command.shipid, needed, now)

    def _start_packing(
        self, world: World, warehouse: Warehouse, shipid: int, needed: dict[int, int], now: float
    ) -> None:
        for product_id, count in needed.items():
            warehouse.stock[product_id] -= count
        due = now + timing.scaled(timing.PACK_SECONDS, world.simspeed[Side.AMAZON])
        self._schedule(due, EventKind.PACKED, world.id, shipid)

    def _pack_waiting(self, world: World, warehouse: Warehouse, now: float) -> None:
        """Stock arrived: packages that waited for it start packing, in their order; the
        first still short holds the ones behind it."""
        while warehouse.short:
            shipid, needed = warehouse.short[0]
            if any(warehouse.stock.get(p, 0) < n for p, n in needed.items()):
                return
            warehouse.short.pop(0)
            self._start_packing(world, warehouse, shipid, needed, now)

    def _amazon_load(self, world: World, command: wa.APutOnTruck, now: float) -> None:
        _warehouse(world, command.whnum)
        truck = _truck(world, command.truckid)
        package = _package(world, command.shipid)
        if package.warehouse != command.whnum:
            raise Rejected(
                f"package {package.shipid} is at warehouse {package.warehouse}, not {command.whnum}"
            )
        if package.status is not PackageStatus.PACKED:
            raise Rejected(
                f"package {package.shipid} is not ready to load (it is {package.status.lower()})"
            )
        at_warehouse = truck.status in (TruckStatus.ARRIVE_WAREHOUSE, TruckStatus.LOADING)
        if not at_warehouse or truck.warehouse != command.whnum:
            raise Rejected(
                f"truck {truck.id} is not at warehouse {command.whnum} "
                f"(it is {truck.status.lower()})"
            )
        package.status = PackageStatus.LOADING
        package.truck = truck.id
        truck.status = TruckStatus.LOADING
        truck.loads_in_progress += 1
        start = max(now, truck.loading_until)
        truck.loading_until = start + timing.scaled(
            timing.LOAD_SECONDS, world.simspeed[Side.AMAZON]
        )
        self._schedule(truck.loading_until, EventKind.LOADED, world.id, package.shipid)

    def _amazon_queries(self, world: World, command: wa.AQuery, now: float) -> None:
        package = _package(world, command.packageid)
        self._send(world, Side.AMAZON, wa.APackage(packageid=package.shipid, status=package.status))

    # UPS's commands

    def _ups_pickups(self, world: World, command: wu.UGoPickup, now: float) -> None:
        truck = _truck(world, command.truckid)
        warehouse = _warehouse(world, command.whid)
        redirect = self.rules.pickup_while_traveling is PickupWhileTraveling.REDIRECT
        if truck.status is TruckStatus.TRAVELING and not redirect:
            raise Rejected(f"truck {truck.id} is busy traveling to warehouse {truck.warehouse}")
        if truck.status is TruckStatus.LOADING:
            raise Rejected(f"truck {truck.id} is busy loading at warehouse {truck.warehouse}")
        # A delivering truck keeps its remaining route for later.
        truck.status = TruckStatus.TRAVELING
        truck.warehouse = warehouse.id
        self._drive(world, truck, warehouse.x, warehouse.y, now)

    def _ups_deliveries(self, world: World, command: wu.UGoDeliver, now: float) -> None:
        truck = _truck(world, command.truckid)
        if truck.status is TruckStatus.TRAVELING:
            # Leaving on arrival would abandon the pickup it is driving to.
            raise Rejected(
                f"truck {truck.id} is busy traveling to warehouse {truck.warehouse}; "
                "send deliveries once it has arrived"
            )
        errors = []
        accepted = 0
        for location in command.packages:
            try:
                self._route_package(world, truck, location, now)
                accepted += 1
            except Rejected as error:
                errors.append(str(error))
        for text in errors:
            self._reject(world, Side.UPS, text, command.seqnum, now)
        if command.packages and not accepted:
            return
        if truck.route and truck.status in (TruckStatus.IDLE, TruckStatus.ARRIVE_WAREHOUSE):
            self._depart(world, truck, now)
        elif truck.route and truck.status is TruckStatus.LOADING:
            truck.depart_when_loaded = True

    def _route_package(
        self, world: World, truck: Truck, location: wu.UDeliveryLocation, now: float
    ) -> None:
        package = _package(world, location.packageid)
        if package.status is PackageStatus.DELIVERED:
            raise Rejected(f"package {package.shipid} was already delivered")
        on_truck = package.truck == truck.id and package.status in (
            PackageStatus.LOADED,
            PackageStatus.DELIVERING,
        )
        if not on_truck:
            where = f"on truck {package.truck}" if package.truck is not None else "on no truck"
            raise Rejected(
                f"package {package.shipid} is not loaded on truck {truck.id} "
                f"(it is {package.status.lower()} {where})"
            )
        for index, stop in enumerate(truck.route):
            if stop.packageid == package.shipid:
                if (stop.x, stop.y) != (location.x, location.y):
                    self.log.info(
                        "world %d: package %d redirected to (%d, %d)",
                        world.id,
                        package.shipid,
                        location.x,
                        location.y,
                    )
                    stop.x, stop.y = location.x, location.y
                    heading_here = index == 0 and truck.status is TruckStatus.DELIVERING
                    if heading_here:
                        self._drive(world, truck, stop.x, stop.y, now)
                return
        truck.route.append(Stop(package.shipid, location.x, location.y))
        if truck.status is TruckStatus.DELIVERING:
            package.status = PackageStatus.DELIVERING

    def _ups_queries(self, world: World, command: wu.UQuery, now: float) -> None:
        truck = _truck(world, command.truckid)
        x, y = truck.position(now)
        self._send(world, Side.UPS, wu.UTruck(truckid=truck.id, status=truck.status, x=x, y=y))

    # -- trucks -------------------------------------------------------------------

    def _drive(self, world: World, truck: Truck, x: int, y: int, now: float) -> None:
        here_x, here_y = truck.position(now)
        truck.x, truck.y = here_x, here_y
        seconds = timing.travel_seconds(here_x, here_y, x, y, world.simspeed[Side.UPS])
        truck.leg = Leg(here_x, here_y, x, y, now, now + seconds)
        truck.leg_version += 1
        self._schedule(
            truck.leg.end, EventKind.TRUCK_ARRIVED, world.id, (truck.id, truck.leg_version)
        )

    def _depart(self, world: World, truck: Truck, now: float) -> None:
        truck.status = TruckStatus.DELIVERING
        truck.warehouse = None
        truck.depart_when_loaded = False
        for stop in truck.route:
            world.packages[stop.packageid].status = PackageStatus.DELIVERING
        self._drive(world, truck, truck.route[0].x, truck.route[0].y, now)

    def _truck_arrived(self, world: World, truck: Truck, now: float) -> None:
        assert truck.leg is not None
        truck.x, truck.y = truck.leg.to_x, truck.leg.to_y
        truck.leg = None
        if truck.status is TruckStatus.TRAVELING:
            truck.status = TruckStatus.ARRIVE_WAREHOUSE
            self._send(world, Side.UPS, _finished(truck))
            return
        stop = truck.route.pop(0)
        package = world.packages[stop.packageid]
        package.status = PackageStatus.DELIVERED
        self._send(world, Side.UPS, wu.UDeliveryMade(truckid=truck.id, packageid=package.shipid))
        if truck.route:
            self._drive(world, truck, truck.route[0].x, truck.route[0].y, now)
        else:
            truck.status = TruckStatus.IDLE
            self._send(world, Side.UPS, _finished(truck))

    def _loaded(self, world: World, package: Package, now: float) -> None:
        package.status = PackageStatus.LOADED
        assert package.truck is not None  # set by the load command that scheduled this
        truck = world.trucks[package.truck]
        truck.loads_in_progress -= 1
        self._send(world, Side.AMAZON, wa.ALoaded(shipid=package.shipid))
        if truck.loads_in_progress == 0:
            truck.status = TruckStatus.ARRIVE_WAREHOUSE
            if truck.depart_when_loaded and truck.route:
                self._depart(world, truck, now)


def _warehouse(world: World, warehouse_id: int) -> Warehouse:
    try:
        return world.warehouses[warehouse_id]
    except KeyError:
        raise Rejected(f"warehouse id {warehouse_id} does not exist in this world") from None


def _truck(world: World, truck_id: int) -> Truck:
    try:
        return world.trucks[truck_id]
    except KeyError:
        raise Rejected(f"truck id {truck_id} does not exist in this world") from None


def _package(world: World, package_id: int) -> Package:
    try:
        return world.packages[package_id]
    except KeyError:
        raise Rejected(f"package id {package_id} does not exist in this world") from None


def _finished(truck: Truck) -> wu.UFinished:
    return wu.UFinished(truckid=truck.id, x=truck.x, y=truck.y, status=truck.status)
