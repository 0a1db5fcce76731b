"""The generated protobuf modules against the reference (shared/spec/world-protocol.md).

The expected tables below are copied by hand from the reference, not derived from
the .proto files, so a renumbered or retyped field fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorProto

from amazon_ups.protocol import codegen
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.errors import LocalProtocolError
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.protocol.world_messages import AMAZON, DIALECTS, UPS, Side

# message -> [(label, type, name, number), ...], in the reference's order.
WORLD_AMAZON = {
    "AProduct": [
        ("required", "int64", "id", 1),
        ("required", "string", "description", 2),
        ("required", "int32", "count", 3),
    ],
    "AInitWarehouse": [
        ("required", "int32", "id", 1),
        ("required", "int32", "x", 2),
        ("required", "int32", "y", 3),
    ],
    "AConnect": [
        ("optional", "int64", "worldid", 1),
        ("repeated", "AInitWarehouse", "initwh", 2),
        ("required", "bool", "isAmazon", 3),
    ],
    "AConnected": [
        ("required", "int64", "worldid", 1),
        ("required", "string", "result", 2),
    ],
    "APack": [
        ("required", "int32", "whnum", 1),
        ("repeated", "AProduct", "things", 2),
        ("required", "int64", "shipid", 3),
        ("required", "int64", "seqnum", 4),
    ],
    "APacked": [
        ("required", "int64", "shipid", 1),
        ("required", "int64", "seqnum", 2),
    ],
    "ALoaded": [
        ("required", "int64", "shipid", 1),
        ("required", "int64", "seqnum", 2),
    ],
    "APutOnTruck": [
        ("required", "int32", "whnum", 1),
        ("required", "int32", "truckid", 2),
        ("required", "int64", "shipid", 3),
        ("required", "int64", "seqnum", 4),
    ],
    "APurchaseMore": [
        ("required", "int32", "whnum", 1),
        ("repeated", "AProduct", "things", 2),
        ("required", "int64", "seqnum", 3),
    ],
    "AErr": [
        ("required", "string", "err", 1),
        ("required", "int64", "originseqnum", 2),
        ("required", "int64", "seqnum", 3),
    ],
    "AQuery": [
        ("required", "int64", "packageid", 1),
        ("required", "int64", "seqnum", 2),
    ],
    "APackage": [
        ("required", "int64", "packageid", 1),
        ("required", "string", "status", 2),
        ("required", "int64", "seqnum", 3),
    ],
    "ACommands": [
        ("repeated", "APurchaseMore", "buy", 1),
        ("repeated", "APack", "topack", 2),
        ("repeated", "APutOnTruck", "load", 3),
        ("repeated", "AQuery", "queries", 4),
        ("optional", "uint32", "simspeed", 5),
        ("optional", "bool", "disconnect", 6),
        ("repeated", "int64", "acks", 7),
    ],
    "AResponses": [
        ("repeated", "APurchaseMore", "arrived", 1),
        ("repeated", "APacked", "ready", 2),
        ("repeated", "ALoaded", "loaded", 3),
        ("optional", "bool", "finished", 4),
        ("repeated", "AErr", "error", 5),
        ("repeated", "int64", "acks", 6),
        ("repeated", "APackage", "packagestatus", 7),
    ],
}

WORLD_UPS = {
    "UInitTruck": [
        ("required", "int32", "id", 1),
        ("required", "int32", "x", 2),
        ("required", "int32", "y", 3),
    ],
    "UConnect": [
        ("optional", "int64", "worldid", 1),
        ("repeated", "UInitTruck", "trucks", 2),
        ("required", "bool", "isAmazon", 3),
    ],
    "UConnected": [
        ("required", "int64", "worldid", 1),
        ("required", "string", "result", 2),
    ],
    "UGoPickup": [
        ("required", "int32", "truckid", 1),
        ("required", "int32", "whid", 2),
        ("required", "int64", "seqnum", 3),
    ],
    "UFinished": [
        ("required", "int32", "truckid", 1),
        ("required", "int32", "x", 2),
        ("required", "int32", "y", 3),
        ("required", "string", "status", 4),
        ("required", "int64", "seqnum", 5),
    ],
    "UDeliveryMade": [
        ("required", "int32", "truckid", 1),
        ("required", "int64", "packageid", 2),
        ("required", "int64", "seqnum", 3),
    ],
    "UDeliveryLocation": [
        ("required", "int64", "packageid", 1),
        ("required", "int32", "x", 2),
        ("required", "int32", "y", 3),
    ],
    "UGoDeliver": [
        ("required", "int32", "truckid", 1),
        ("repeated", "UDeliveryLocation", "packages", 2),
        ("required", "int64", "seqnum", 3),
    ],
    "UErr": [
        ("required", "string", "err", 1),
        ("required", "int64", "originseqnum", 2),
        ("required", "int64", "seqnum", 3),
    ],
    "UQuery": [
        ("required", "int32", "truckid", 1),
        ("required", "int64", "seqnum", 2),
    ],
    "UTruck": [
        ("required", "int32", "truckid", 1),
        ("required", "string", "status", 2),
        ("required", "int32", "x", 3),
        ("required", "int32", "y", 4),
        ("required", "int64", "seqnum", 5),
    ],
    "UCommands": [
        ("repeated", "UGoPickup", "pickups", 1),
        ("repeated", "UGoDeliver", "deliveries", 2),
        ("optional", "uint32", "simspeed", 3),
        ("optional", "bool", "disconnect", 4),
        ("repeated", "UQuery", "queries", 5),
        ("repeated", "int64", "acks", 6),
    ],
    "UResponses": [
        ("repeated", "UFinished", "completions", 1),
        ("repeated", "UDeliveryMade", "delivered", 2),
        ("optional", "bool", "finished", 3),
        ("repeated", "int64", "acks", 4),
        ("repeated", "UTruck", "truckstatus", 5),
        ("repeated", "UErr", "error", 6),
    ],
}

MODULES = [(wa, WORLD_AMAZON), (wu, WORLD_UPS)]

SCALAR_TYPES = {
    "int32": FieldDescriptor.TYPE_INT32,
    "int64": FieldDescriptor.TYPE_INT64,
    "uint32": FieldDescriptor.TYPE_UINT32,
    "bool": FieldDescriptor.TYPE_BOOL,
    "string": FieldDescriptor.TYPE_STRING,
}


def label_of(field: FieldDescriptor) -> str:
    if field.is_repeated:
        return "repeated"
    if field.is_required:
        return "required"
    assert field.has_presence  # proto2 optional: set or unset, never a silent default
    return "optional"


def type_of(field: FieldDescriptor) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None  # a message field has one
        return field.message_type.full_name
    names = [name for name, number in SCALAR_TYPES.items() if number == field.type]
    assert names, f"{field.full_name} has unexpected type {field.type}"
    return names[0]


def actual_table(descriptor: Descriptor) -> list[tuple[str, str, str, int]]:
    return [(label_of(f), type_of(f), f.name, f.number) for f in descriptor.fields]


@pytest.mark.parametrize(
    ("message", "module", "expected"),
    [(name, module, fields) for module, table in MODULES for name, fields in table.items()],
)
def test_message_fields_match_reference(message, module, expected):
    descriptor = getattr(module, message).DESCRIPTOR
    # No package line: the full name is top level, as in the official files.
    assert descriptor.full_name == message
    assert sorted(actual_table(descriptor), key=lambda f: f[3]) == sorted(
        expected, key=lambda f: f[3]
    )
    for label, type_, name, number in expected:
        field = descriptor.fields_by_number[number]
        assert (label_of(field), type_of(field), field.name) == (label, type_, name)
        if field.is_repeated and type_ in SCALAR_TYPES:
            # proto2 repeated scalars are not packed: one tag per element on the wire.
            assert not field.is_packed


@pytest.mark.parametrize(("module", "table"), MODULES)
def test_files_hold_exactly_the_reference_messages(module, table):
    assert set(module.DESCRIPTOR.message_types_by_name) == set(table)
    assert module.DESCRIPTOR.package == ""
    proto = FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    assert proto.syntax in ("", "proto2")  # proto2 is the default, written or not
    assert not proto.enum_type
    assert not proto.extension


def test_generated_code_is_not_stale(tmp_path: Path):
    written = codegen.generate(out_dir=tmp_path)
    assert {p.name for p in written} == {
        f"{name}_pb2.{suffix}"
        for name in ("au", "world_amazon", "world_ups")
        for suffix in ("py", "pyi")
    }
    # Nothing generated that is not checked in, and the other way round.
    assert {p.name for p in tmp_path.glob("*_pb2.py*")} == {
        p.name for p in codegen.PROTOCOL_DIR.glob("*_pb2.py*")
    }
    for path in written:
        checked_in = codegen.PROTOCOL_DIR / path.name
        assert path.read_bytes() == checked_in.read_bytes(), (
            f"{checked_in} is stale: run ./dev regen"
        )


# -- hand-computed encodings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "encoded"),
    [
        # acks: field 7 (Amazon) / 6 (UPS), varint, one tag per element (not packed).
        (wa.ACommands(acks=[1]), "3801"),
        (wa.ACommands(acks=[1, 300]), "3801" + "38ac02"),
        (wu.UCommands(acks=[1]), "3001"),
        (wu.UCommands(acks=[1, 2]), "3001" + "3002"),
        (wa.AResponses(acks=[5]), "3005"),
        (wu.UResponses(acks=[5]), "2005"),
        # simspeed and disconnect: 5/6 in ACommands, 3/4 in UCommands.
        (wa.ACommands(simspeed=100), "2864"),
        (wu.UCommands(simspeed=100), "1864"),
        (wa.ACommands(disconnect=True), "3001"),
        (wu.UCommands(disconnect=True), "2001"),
        # finished: 4 in AResponses, 3 in UResponses.
        (wa.AResponses(finished=True), "2001"),
        (wu.UResponses(finished=True), "1801"),
        (wa.AConnect(isAmazon=True), "1801"),
        (wa.AConnect(worldid=1, isAmazon=True), "0801" + "1801"),
        (wu.UConnect(isAmazon=False), "1800"),
        (wu.UConnected(worldid=1, result="connected!"), "0801" + "120a" + b"connected!".hex()),
        (wu.UGoPickup(truckid=1, whid=2, seqnum=3), "080110021803"),
        (wu.UCommands(pickups=[wu.UGoPickup(truckid=1, whid=2, seqnum=3)]), "0a06080110021803"),
        # int32 (not sint32): a negative coordinate is 10 bytes, sign-extended.
        (wu.UInitTruck(id=1, x=-1, y=0), "0801" + "10ffffffffffffffffff01" + "1800"),
        (
            wa.APurchaseMore(
                whnum=1, things=[wa.AProduct(id=7, description="book", count=3)], seqnum=9
            ),
            "0801" + "120a" + "0807" + "1204" + b"book".hex() + "1803" + "1809",
        ),
        (wa.AErr(err="e", originseqnum=2, seqnum=28), "0a0165" + "1002" + "181c"),
    ],
)
def test_known_encodings(message, encoded):
    assert message.SerializeToString().hex() == encoded
    assert type(message).FromString(bytes.fromhex(encoded)) == message


def test_frame_of_acks_only_commands():
    assert encode_frame(wa.ACommands(acks=[1]).SerializeToString()) == b"\x02\x38\x01"
    assert encode_frame(wu.UCommands(acks=[1]).SerializeToString()) == b"\x02\x30\x01"


def test_packed_acks_from_a_peer_are_accepted():
    # A proto2 parser must also take the packed form (tag 7, wire type 2).
    assert list(wa.ACommands.FromString(bytes.fromhex("3a020102")).acks) == [1, 2]
    assert list(wu.UCommands.FromString(bytes.fromhex("32020102")).acks) == [1, 2]


def test_sides_do_not_decode_each_others_numbers():
    # The UPS acks (field 6) read as Amazon's field 6 are `disconnect`, not acks.
    as_amazon = wa.ACommands.FromString(wu.UCommands(acks=[1]).SerializeToString())
    assert list(as_amazon.acks) == []
    assert as_amazon.disconnect is True


# -- per-side table --------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [AMAZON, UPS])
def test_dialect_fields_exist_with_their_types(dialect):
    assert DIALECTS[dialect.side] is dialect
    commands = dialect.commands.DESCRIPTOR.fields_by_name
    responses = dialect.responses.DESCRIPTOR.fields_by_name
    for name in dialect.command_fields:
        assert commands[name].is_repeated
        assert "seqnum" in commands[name].message_type.fields_by_name
        command = dialect.commands()
        sub = getattr(command, name).add()
        assert dialect.command_field(sub) == name
    for result_type, name in dialect.result_fields.items():
        assert responses[name].message_type is result_type.DESCRIPTOR
        assert dialect.result_field(result_type()) == name
    assert dialect.result_fields[dialect.error] == "error"
    connect = dialect.connect(isAmazon=dialect.side is Side.AMAZON)
    assert connect.IsInitialized()


def test_command_fields_cover_every_subcommand():
    assert set(AMAZON.command_fields) == {"buy", "topack", "load", "queries"}
    assert set(UPS.command_fields) == {"pickups", "deliveries", "queries"}
    with pytest.raises(LocalProtocolError):
        UPS.command_field(wa.AQuery())


def test_the_protocol_document_carries_au_proto_verbatim():
    root = Path(__file__).resolve().parents[2]
    document = (root / "docs" / "amazon-ups-protocol.md").read_text()
    proto = (root / "src" / "amazon_ups" / "protocol" / "proto" / "au.proto").read_text()
    appendix = document.split("## Appendix A. au.proto (verbatim)", 1)[1]
    assert f"```proto\n{proto}```" in appendix
