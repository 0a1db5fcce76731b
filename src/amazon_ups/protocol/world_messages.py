"""The world protocol's message types, per side (Amazon or UPS).

The two sides speak symmetrical but differently numbered dialects; this table
lets the simulator and the clients handle both with one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from google.protobuf.message import Message

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.errors import LocalProtocolError

# The type checker's view of a message whose type depends on the side.
AnyConnect = wa.AConnect | wu.UConnect
AnyConnected = wa.AConnected | wu.UConnected
AnyCommands = wa.ACommands | wu.UCommands
AnyResponses = wa.AResponses | wu.UResponses
AnyError = wa.AErr | wu.UErr


class Side(StrEnum):
    AMAZON = "amazon"
    UPS = "ups"


@dataclass(frozen=True)
class Dialect:
    side: Side
    connect: type[AnyConnect]
    connected: type[AnyConnected]
    commands: type[AnyCommands]
    responses: type[AnyResponses]
    error: type[AnyError]
    # Sub-command fields of the commands message, in the order the world runs them.
    command_fields: tuple[str, ...]
    # Result message type -> the repeated field of the responses message holding it.
    result_fields: dict[type[Message], str]

    def result_field(self, result: Message) -> str:
        return self.result_fields[type(result)]

    def command_field(self, command: Message) -> str:
        """The field of the commands message that carries ``command``."""
        fields = self.commands.DESCRIPTOR.fields_by_name
        for name in self.command_fields:
            if fields[name].message_type is command.DESCRIPTOR:
                return name
        raise LocalProtocolError(f"{type(command).__name__} is not a {self.side} command")


AMAZON = Dialect(
    side=Side.AMAZON,
    connect=wa.AConnect,
    connected=wa.AConnected,
    commands=wa.ACommands,
    responses=wa.AResponses,
    error=wa.AErr,
    command_fields=("buy", "topack", "load", "queries"),
    result_fields={
        wa.APurchaseMore: "arrived",
        wa.APacked: "ready",
        wa.ALoaded: "loaded",
        wa.AErr: "error",
        wa.APackage: "packagestatus",
    },
)

UPS = Dialect(
    side=Side.UPS,
    connect=wu.UConnect,
    connected=wu.UConnected,
    commands=wu.UCommands,
    responses=wu.UResponses,
    error=wu.UErr,
    command_fields=("pickups", "deliveries", "queries"),
    result_fields={
        wu.UFinished: "completions",
        wu.UDeliveryMade: "delivered",
        wu.UTruck: "truckstatus",
        wu.UErr: "error",
    },
)

DIALECTS = {Side.AMAZON: AMAZON, Side.UPS: UPS}

CONNECTED = "connected!"


def error_text(reason: str) -> str:
    """An error as the world's messages carry it (``AErr.err``, ``UErr.err``, a
    connect's ``result``): the official world's ``error: ...``; ``CONNECTED`` is the
    one result that is not an error."""
    return f"error: {reason}"
