"""Where the official world's behaviour was never observed: our choice, and the other reading.

Each choice decides whether some client's flow goes through or hangs, so each has a
command-line switch (``amazon-ups world --help``) and a reason in
``docs/world-simulator.md`` ("Choices"). A client written for the official world should
work with either reading; running it against both is how a team finds out.

The rules are configuration, not state: a restarted world replays its journal with the
rules it is started with, so change them only with a fresh ``--state`` file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class PackShort(StrEnum):
    """An APack the warehouse has not enough stock for (yet)."""

    REFUSE = "refuse"  # AErr at once: buy, wait for `arrived`, then pack
    WAIT = "wait"  # the package waits (PACKING) until purchases bring the stock


class PickupWhileTraveling(StrEnum):
    """A UGoPickup for a truck already driving to a warehouse."""

    REFUSE = "refuse"  # UErr: the truck is busy
    REDIRECT = "redirect"  # the truck turns to the new warehouse


class RepeatedPlaces(StrEnum):
    """A UConnect/AConnect joining a world that brings a truck or warehouse id it has."""

    ACCEPT = "accept"  # accepted if at the place it was first brought (a conflict is refused)
    REFUSE = "refuse"  # "error: ... already exists", as the official world answered


class ReconnectResend(StrEnum):
    """What a client that reconnects gets of the results it had not acked."""

    ALL = "all"  # every one, at once (then each until acked)
    LAST = "last"  # only the newest; the older ones are dropped, as the official world was seen to


class SimspeedScope(StrEnum):
    """Whom a simspeed in ACommands/UCommands paces."""

    WORLD = "world"  # the whole world: either side sets it for both
    SIDE = "side"  # only the side that sent it (Amazon: stock, packing, loading; UPS: trucks)


@dataclass(frozen=True)
class Rules:
    pack_short: PackShort = PackShort.REFUSE
    pickup_while_traveling: PickupWhileTraveling = PickupWhileTraveling.REFUSE
    repeated_places: RepeatedPlaces = RepeatedPlaces.ACCEPT
    simspeed_scope: SimspeedScope = SimspeedScope.WORLD
    reconnect_resend: ReconnectResend = ReconnectResend.ALL


# The first result seqnum of a new state file is drawn from here: never 1, so that a
# client that matches the world's seqnums to its own fails at once, as on the official
# world (whose first result in a brand-new world was 28 in one recorded run).
FIRST_SEQNUM_RANGE = (1_000, 1_000_000)


def choose_first_seqnum() -> int:
    return random.SystemRandom().randrange(*FIRST_SEQNUM_RANGE)
