"""The state machines' tables: well formed, complete, and drawn in the docs as they are."""

from __future__ import annotations

import pytest

from amazon_ups import diagrams
from amazon_ups.amazon.orders.lifecycle import OrderEventKind, OrderStatus
from amazon_ups.common.statemachine import (
    AS_REPORTED,
    IllegalTransition,
    Machine,
    Move,
    Outcome,
    render_into,
)
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind, PackageStatus
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind, TruckStatus

KINDS = {
    "order": (OrderStatus, OrderEventKind),
    "package": (PackageStatus, PackageEventKind),
    "truck": (TruckStatus, TruckEventKind),
}
# Event kinds that only mark where a subject starts (no move of their own).
INITIAL_KINDS = {OrderEventKind.PLACED, PackageEventKind.CREATED}


@pytest.mark.parametrize("machine", diagrams.MACHINES, ids=lambda m: m.name)
def test_every_event_kind_has_its_row_and_every_state_is_reachable(machine):
    statuses, kinds = KINDS[machine.name]
    assert set(machine.states) == set(statuses.values)
    assert set(machine.moves) | INITIAL_KINDS >= set(kinds.values)
    reachable = {machine.initial}
    for move in machine.moves.values():
        if move.target == AS_REPORTED:
            reachable |= move.sources
        elif move.target is not None:
            reachable.add(move.target)
    assert reachable == set(machine.states)


@pytest.mark.parametrize("machine", diagrams.MACHINES, ids=lambda m: m.name)
def test_a_final_state_is_left_only_for_a_delivery_the_world_reports(machine):
    for kind, move in machine.moves.items():
        leaving = move.sources & machine.final
        if move.target not in (None, AS_REPORTED) and leaving:
            assert move.target in ("delivered", "loaded"), (kind, leaving)


def test_outcomes_move_ignore_stale_news_and_refuse_the_rest():
    machine = Machine(
        name="lamp",
        states=("off", "on", "broken"),
        initial="off",
        final=frozenset({"broken"}),
        moves={"switch on": Move.of(["off"], "on", stale=["on", "broken"])},
    )
    assert machine.outcome("off", "switch on") is Outcome.MOVE
    assert machine.outcome("on", "switch on") is Outcome.STALE
    assert machine.target("off", "switch on") == "on"
    with pytest.raises(ValueError, match="unknown states"):
        Machine("x", ("a",), "a", frozenset(), {"k": Move.of(["a"], "b")})
    with pytest.raises(ValueError, match="both allowed and stale"):
        Machine("x", ("a", "b"), "a", frozenset(), {"k": Move.of(["a"], "b", stale=["a"])})
    bad = Machine("lamp", ("off", "on"), "off", frozenset(), {"k": Move.of(["on"], "off")})
    with pytest.raises(IllegalTransition, match="lamp: lamp 1 cannot have 'k' while 'off'"):
        bad.outcome("off", "k", "lamp 1")


def test_the_diagrams_in_the_architecture_document_are_drawn_from_the_tables():
    text = diagrams.ARCHITECTURE.read_text()
    assert render_into(text, diagrams.MACHINES) == text, (
        "docs/architecture.md is out of date: run ./dev regen"
    )
    for machine in diagrams.MACHINES:
        assert f"```mermaid\n{machine.diagram()}\n```" in text


def test_a_diagram_has_an_arrow_per_move_and_names_each_state():
    diagram = diagrams.PACKAGE.diagram()
    assert "    [*] --> created" in diagram
    assert "    truck_at_warehouse --> created: truck left without it, load refused" in diagram
    assert "    truck_at_warehouse: truck at warehouse" in diagram
    assert "delivered --> [*]" in diagram


def test_every_service_error_says_whose_fault_it_is():
    # One family per layer: a refusal is an answer to whoever asked, a defect is ours.
    from amazon_ups.amazon.catalog.exceptions import InsufficientStock
    from amazon_ups.amazon.fulfilment.exceptions import CannotRestock
    from amazon_ups.common.exceptions import Defect, Refusal
    from amazon_ups.common.statemachine import IllegalTransition
    from amazon_ups.ups.shipments.exceptions import Refused

    for refusal in (Refused, InsufficientStock, CannotRestock):
        assert issubclass(refusal, Refusal) and not issubclass(refusal, Defect)
    assert issubclass(IllegalTransition, Defect) and not issubclass(IllegalTransition, Refusal)
