"""fulfilment.planning: which warehouse, and what to buy (pure, no database)."""

from __future__ import annotations

from amazon_ups.amazon.fulfilment.planning import RESTOCK, Place, Plan, fits, plan

NEAR = Place(1, 0, 0)
FAR = Place(2, 100, 100)
BOTH = [FAR, NEAR]


def test_the_nearest_warehouse_with_stock_for_every_line_packs_at_once():
    stock = {(1, 7): (5, 0), (2, 7): (5, 0), (2, 8): (1, 0)}
    assert plan(1, 1, {7: 5}, BOTH, stock, {}) == Plan(1, pack_now=True)
    # Warehouse 1 lacks product 8: the far one has both.
    assert plan(1, 1, {7: 5, 8: 1}, BOTH, stock, {}) == Plan(2, pack_now=True)


def test_distance_is_manhattan_like_the_trucks():
    # Euclidean would pick A (7.07 against 8); the trucks drive A=10, B=8.
    a, b = Place(1, 5, 5), Place(2, 0, 8)
    assert plan(0, 0, {1: 1}, [a, b], {}, {}).warehouse_id == 2


def test_ties_go_to_the_lower_id():
    assert plan(0, 0, {1: 1}, [Place(4, 1, 0), Place(3, 0, 1)], {}, {}).warehouse_id == 3


def test_without_stock_the_nearest_buys_at_least_the_restock_amount():
    assert plan(1, 1, {7: 2}, BOTH, {}, {}) == Plan(1, pack_now=False, buy={7: RESTOCK})
    assert plan(1, 1, {7: 25}, BOTH, {(1, 7): (4, 0)}, {}) == Plan(1, False, {7: 21})


def test_stock_on_the_way_counts_and_is_not_bought_twice():
    # 10 coming, 4 promised to orders already waiting: 6 spare, enough for 5.
    assert plan(1, 1, {7: 5}, [NEAR], {(1, 7): (0, 10)}, {(1, 7): 4}) == Plan(1, False, {})


def test_a_new_order_does_not_take_what_waiting_orders_were_promised():
    # 5 on hand, but a waiting order needs 4 of them and nothing more is coming.
    result = plan(1, 1, {7: 3}, [NEAR], {(1, 7): (5, 0)}, {(1, 7): 4})
    assert result == Plan(1, pack_now=False, buy={7: RESTOCK})


def test_no_warehouse_no_plan():
    assert plan(0, 0, {1: 1}, [], {}, {}) is None


def test_fits():
    assert fits({1: 2, 2: 1}, {1: 2, 2: 5})
    assert not fits({1: 2, 2: 1}, {1: 2})
