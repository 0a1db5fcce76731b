"""The things in a world: warehouses with stock, trucks with routes, packages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from amazon_ups.protocol.session import ReliableSession
from amazon_ups.protocol.world_messages import Side
from amazon_ups.world import timing


class TruckStatus(StrEnum):
    # The official world reported "ARRIVE WAREHOUSE" and "IDLE" in upper case;
    # we send every status that way, and our clients compare case-insensitively.
    IDLE = "IDLE"
    TRAVELING = "TRAVELING"
    ARRIVE_WAREHOUSE = "ARRIVE WAREHOUSE"
    LOADING = "LOADING"
    DELIVERING = "DELIVERING"


class PackageStatus(StrEnum):
    PACKING = "PACKING"
    PACKED = "PACKED"
    LOADING = "LOADING"
    LOADED = "LOADED"
    DELIVERING = "DELIVERING"
    DELIVERED = "DELIVERED"


@dataclass(slots=True)
class WireResult:
    """A result waiting for its ack, kept as the bytes it goes out as: thousands may
    wait at once, and a parsed protobuf message is about ten Python objects where this
    is two, so a burst leaves far less of the heap behind once they are acked."""

    field: str  # the AResponses/UResponses field that carries it
    body: bytes
    seqnum: int = 0


@dataclass(slots=True)
class Leg:
    """A truck driving from one point to another between two times."""

    from_x: int
    from_y: int
    to_x: int
    to_y: int
    start: float
    end: float

    def position(self, now: float) -> tuple[int, int]:
        span = self.end - self.start
        fraction = 1.0 if span <= 0 else (now - self.start) / span
        return timing.position_along(self.from_x, self.from_y, self.to_x, self.to_y, fraction)


@dataclass(slots=True)
class Stop:
    packageid: int
    x: int
    y: int


@dataclass(slots=True)
class Truck:
    id: int
    x: int  # where it stands, or where its current leg started
    y: int
    status: TruckStatus = TruckStatus.IDLE
    leg: Leg | None = None
    # Bumped for every new leg, so an arrival scheduled for an abandoned leg is ignored.
    leg_version: int = 0
    # The warehouse it is heading to or standing at, if any.
    warehouse: int | None = None
    # Deliveries still to make, in order. A pickup suspends them; the next
    # UGoDeliver (even an empty one) resumes them.
    route: list[Stop] = field(default_factory=list)
    loads_in_progress: int = 0
    loading_until: float = float("-inf")
    depart_when_loaded: bool = False
    # Where it was first brought (UConnect): a repeat of it is compared with this,
    # not with where it has driven since.
    first_place: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.first_place is None:
            self.first_place = (self.x, self.y)

    def position(self, now: float) -> tuple[int, int]:
        return self.leg.position(now) if self.leg else (self.x, self.y)


@dataclass(slots=True)
class Package:
    shipid: int
    warehouse: int
    status: PackageStatus = PackageStatus.PACKING
    truck: int | None = None


@dataclass(slots=True)
class Warehouse:
    id: int
    x: int
    y: int
    # product id -> units on the shelves
    stock: dict[int, int] = field(default_factory=dict)
    # With --pack-short wait: packages waiting for stock, in the order they came, each
    # with what it needs (product id -> units).
    short: list[tuple[int, dict[int, int]]] = field(default_factory=list)


@dataclass
class World:
    id: int
    warehouses: dict[int, Warehouse] = field(default_factory=dict)
    trucks: dict[int, Truck] = field(default_factory=dict)
    packages: dict[int, Package] = field(default_factory=dict)
    # product id -> description, as given by the first purchase of it
    products: dict[int, str] = field(default_factory=dict)
    simspeed: dict[Side, int] = field(
        default_factory=lambda: dict.fromkeys(Side, timing.DEFAULT_SIMSPEED)
    )
    # When either side last connected or sent anything (the time of that input):
    # the idle clock for retiring the world.
    last_active: float = 0.0
    # Paused from the dashboard: when its clock stopped, and its events meanwhile
    # (the engine's timeline entries), which wait until it resumes.
    paused_at: float | None = None
    frozen: list = field(default_factory=list)
    # One reliable session per side: our results out, their commands in. It
    # lives with the world, not the connection, so that duplicates are caught
    # and unacked results re-sent across reconnects.
    sessions: dict[Side, ReliableSession] = field(
        default_factory=lambda: {side: ReliableSession() for side in Side}
    )
