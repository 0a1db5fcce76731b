"""The dispatch rules on their own: no database, no world."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_ups.ups.dispatch.planning import (
    NAIVE,
    Policy,
    choose_truck,
    distance,
    gather,
    gather_among,
    nearest,
    nearest_neighbour,
    or_opt,
    policy,
    route_length,
    route_order,
    share_out,
    truck_starts,
    two_opt,
)

coords = st.integers(min_value=-1000, max_value=1000)
places = st.lists(st.tuples(st.integers(1, 10_000), coords, coords), unique_by=lambda p: p[0])


def test_distance_is_along_the_grid():
    assert distance((0, 0), (3, -4)) == 7
    assert distance((-2, 5), (-2, 5)) == 0


def test_nearest_picks_the_closest_place():
    assert nearest((10, 10), [(1, 0, 0), (2, 12, 9), (3, 50, 50)]) == 2


def test_nearest_breaks_ties_by_lowest_id():
    assert nearest((0, 0), [(5, 1, 0), (3, 0, 1), (4, -1, 0)]) == 3


def test_nearest_of_nothing_is_none():
    assert nearest((0, 0), []) is None


def test_route_goes_to_the_closest_stop_next():
    # From the warehouse at the origin: 2 is closest, then 3 (near 2), then 1 (far away).
    stops = [(1, 100, 100), (2, 5, 0), (3, 10, 0)]
    assert route_order((0, 0), stops) == [2, 3, 1]
    assert route_order((0, 0), stops, improve=False) == [2, 3, 1]


def test_two_opt_undoes_the_nearest_neighbour_detour():
    # Nearest neighbour from 10 goes to 15 first, then must come back past the start
    # to -50 before the long way to 300 (5 + 65 + 350 = 420); going to -50 first and
    # then east through 15 is shorter (60 + 65 + 285 = 410).
    stops = [(5, 300, 0), (6, 15, 0), (7, -50, 0)]
    assert route_order((10, 0), stops, improve=False) == [6, 7, 5]
    assert route_order((10, 0), stops) == [7, 6, 5]
    by_id = {stop[0]: stop for stop in stops}
    assert route_length((10, 0), [by_id[i] for i in (7, 6, 5)]) == 410


def test_or_opt_moves_a_stop_that_no_reversal_puts_right():
    # Nearest neighbour goes south-west to 1, on to 2, then all the way back north-east
    # to 3 (70 + 110 + 250 = 430). No reversal helps (at best 430 again); taking 3 first
    # and then going on south-west does (70 + 140 + 110 = 320).
    stops = [(1, -20, -50), (2, -90, -90), (3, 50, 20)]
    stuck = two_opt((0, 0), nearest_neighbour((0, 0), stops))
    assert [stop_id for stop_id, _, _ in stuck] == [1, 2, 3]
    assert route_length((0, 0), stuck) == 430
    assert [stop_id for stop_id, _, _ in or_opt((0, 0), stuck)] == [3, 1, 2]
    assert route_order((0, 0), stops) == [3, 1, 2]


@given(st.tuples(coords, coords), places)
def test_or_opt_is_never_longer_and_keeps_every_stop(start, stops):
    route = nearest_neighbour(start, stops)
    moved = or_opt(start, route)
    assert sorted(moved) == sorted(route)
    assert route_length(start, moved) <= route_length(start, route)


@given(st.tuples(coords, coords), places)
def test_the_route_is_never_longer_than_two_opt_alone(start, stops):
    by_id = {stop[0]: stop for stop in stops}
    ordered = [by_id[stop_id] for stop_id in route_order(start, stops)]
    assert route_length(start, ordered) <= route_length(
        start, two_opt(start, nearest_neighbour(start, stops))
    )


def test_route_length_follows_the_grid():
    assert route_length((0, 0), [(1, 3, 4), (2, 3, 0)]) == 7 + 4
    assert route_length((5, 5), []) == 0


def test_route_beats_list_order_on_a_zigzag():
    stops = [(1, 50, 0), (2, -50, 0), (3, 60, 0), (4, -60, 0)]
    order = route_order((0, 0), stops)
    by_id = {stop_id: (x, y) for stop_id, x, y in stops}

    def length(ids):
        path = [(0, 0), *(by_id[i] for i in ids)]
        return sum(distance(a, b) for a, b in itertools.pairwise(path))

    assert length(order) < length([1, 2, 3, 4])
    assert length(order) == min(length(p) for p in itertools.permutations(by_id))


@given(st.tuples(coords, coords), places)
def test_route_visits_every_stop_once(start, stops):
    assert sorted(route_order(start, stops)) == sorted(stop_id for stop_id, _, _ in stops)


@given(st.tuples(coords, coords), places)
def test_two_opt_is_never_longer_than_nearest_neighbour(start, stops):
    greedy = nearest_neighbour(start, stops)
    improved = two_opt(start, greedy)
    assert sorted(improved) == sorted(greedy)
    assert route_length(start, improved) <= route_length(start, greedy)


small_places = st.lists(
    st.tuples(st.integers(1, 100), coords, coords), unique_by=lambda p: p[0], max_size=6
)


@given(st.tuples(coords, coords), small_places)
def test_two_opt_leaves_no_improving_reversal(start, stops):
    route = two_opt(start, nearest_neighbour(start, stops))
    length = route_length(start, route)
    for i, j in itertools.combinations(range(len(route) + 1), 2):
        reversed_stretch = route[:i] + route[i:j][::-1] + route[j:]
        assert route_length(start, reversed_stretch) >= length
    best = min((route_length(start, list(p)) for p in itertools.permutations(stops)), default=0)
    assert length >= best


@given(st.tuples(coords, coords), places)
def test_nearest_is_at_least_as_close_as_any_other(target, candidates):
    chosen = nearest(target, candidates)
    if not candidates:
        assert chosen is None
        return
    where = {place_id: (x, y) for place_id, x, y in candidates}
    assert all(
        distance(target, where[chosen]) <= distance(target, (x, y)) for _, x, y in candidates
    )


def test_the_naive_policy_takes_the_first_free_truck_one_package_at_a_time():
    free = [(3, 0, 0), (2, 500, 500), (7, 1, 1)]
    assert choose_truck((0, 0), free, Policy()) == 3
    assert choose_truck((0, 0), free, NAIVE) == 2
    assert choose_truck((0, 0), [], NAIVE) is None
    assert (NAIVE.capacity, NAIVE.improve_routes) == (1, False)


def test_policy_by_name():
    assert policy("naive", 50, 10) == NAIVE
    assert policy("NAIVE", 50, 10) == NAIVE
    assert policy("smart", 20, 5) == Policy(capacity=20, share=5)
    assert policy("smart", 0, 0) == Policy(capacity=1, share=1)  # at least one package
    assert policy("smart", 4, 10).share == 4  # never more than a truck takes at all


def test_truck_starts_are_distinct_and_numbered_from_one():
    starts = truck_starts(10)
    assert [truck_id for truck_id, _, _ in starts] == list(range(1, 11))
    assert len({(x, y) for _, x, y in starts}) == 10


def test_truck_starts_are_spread_around_the_origin():
    xs = [x for _, x, _ in truck_starts(9, spacing=20)]
    ys = [y for _, _, y in truck_starts(9, spacing=20)]
    assert (min(xs), max(xs), min(ys), max(ys)) == (-20, 20, -20, 20)


def test_no_trucks_no_starts():
    assert truck_starts(0) == []


def test_a_truck_gathers_the_oldest_and_the_packages_bound_its_way():
    waiting = [(5, 0, 100), (6, 0, -100), (7, 3, 90), (8, 90, 0), (9, -2, 104), (10, 0, -95)]
    here = (0, 0)
    assert gather(waiting, 3, here) == [5, 7, 9]  # the oldest, north, and the two by it
    assert gather(waiting, 1, here) == [5]
    assert gather(waiting, 0, here) == []
    assert gather(waiting, 6, here) == [5, 6, 7, 8, 9, 10]
    assert gather(waiting, 10, here) == [5, 6, 7, 8, 9, 10]
    # Seen from elsewhere, the same destinations lie otherwise: from (0, 200), 6 is
    # straight on from 5 (both south), nearer in direction than 7 (a little east).
    assert gather(waiting, 2, (0, 200)) == [5, 6]
    tie = [(1, 10, 0), (2, 0, 10), (3, 0, -10)]
    assert gather(tie, 2, here) == [1, 2]  # equally narrow: the one starting at the oldest


def test_what_a_truck_leaves_lies_in_one_sector_too():
    # Eight destinations around the warehouse, every 45 degrees; the oldest is east.
    compass = [(1, 10, 0), (2, -10, 0), (3, 0, 10), (4, 0, -10)]
    compass += [(5, 10, 10), (6, -10, -10), (7, -10, 10), (8, 10, -10)]
    taken = gather(compass, 4, (0, 0))
    # Every window of four neighbours is 135 degrees wide: the one starting at the
    # oldest, counterclockwise (0, 45, 90, 135); what is left is 180 to 315.
    assert taken == [1, 3, 5, 7]


@given(places, st.integers(0, 30), st.tuples(coords, coords))
def test_gathering_keeps_the_oldest_and_takes_as_many_as_fit(waiting, size, origin):
    chosen = gather(waiting, size, origin)
    ids = [place_id for place_id, _, _ in waiting]
    assert len(chosen) == min(size, len(waiting))
    assert chosen == [i for i in ids if i in set(chosen)]  # oldest first, no repeats
    if chosen:
        assert chosen[0] == ids[0]


def test_the_naive_baseline_does_not_gather():
    assert not NAIVE.gather
    assert policy("smart", 50, 10).gather


def _trips(waiting, chosen, origin):
    """Nearest-neighbour trips from ``origin``: the ``chosen`` ones, and the rest."""
    own = [place for place in waiting if place[0] in chosen]
    rest = [place for place in waiting if place[0] not in chosen]
    return sum(route_length(origin, nearest_neighbour(origin, part)) for part in (own, rest))


def test_a_truck_leaves_the_next_one_a_compact_load():
    # Seen from the warehouse, 1 (the oldest, far south-east) has 4 and 5 (far west) on
    # one side and 2 (south-east, near it) on the other; the narrowest sector of three
    # spans west to south and puts 1 with 4 and 5, which are far from it, leaving 2
    # with 3 and 6. Trips of both trucks counted, 1 goes with 2 and 6, and 3, 4 and 5
    # (all north-west) are left together: less than half the distance.
    waiting = [(1, 40, -90), (2, 70, -60), (3, -80, 100), (4, -90, 50), (5, -90, 10), (6, 0, 10)]
    here = (0, 0)
    assert gather(waiting, 3, here) == [1, 4, 5]
    assert gather_among(waiting, 3, [3], here) == [1, 2, 6]
    assert (_trips(waiting, {1, 4, 5}, here), _trips(waiting, {1, 2, 6}, here)) == (870, 410)


def test_alone_or_given_everything_a_truck_gathers_as_before():
    waiting = [(5, 0, 100), (6, 0, -100), (7, 3, 90), (8, 90, 0), (9, -2, 104), (10, 0, -95)]
    assert gather_among(waiting, 3, [], (0, 0)) == gather(waiting, 3, (0, 0))
    assert gather_among(waiting, 6, [2], (0, 0)) == [5, 6, 7, 8, 9, 10]
    assert gather_among(waiting, 0, [2], (0, 0)) == []


@given(
    places, st.integers(0, 30), st.lists(st.integers(0, 30), max_size=4), st.tuples(coords, coords)
)
def test_gathering_among_trucks_keeps_the_oldest_and_takes_as_many_as_fit(
    waiting, size, others, origin
):
    chosen = gather_among(waiting, size, others, origin)
    ids = [place_id for place_id, _, _ in waiting]
    assert len(chosen) == min(size, len(waiting))
    assert chosen == [i for i in ids if i in set(chosen)]  # oldest first, no repeats
    if chosen:
        assert chosen[0] == ids[0]


@settings(deadline=None)  # nearest-neighbour trips of every window: O(n^3)
@given(places, st.integers(1, 30), st.tuples(coords, coords))
def test_gathering_among_two_trucks_is_never_longer_than_the_narrowest_sector(
    waiting, size, origin
):
    # With one other truck, what it is left is its whole load: the trips compared are
    # the ones the two trucks will drive (by nearest neighbour).
    rest = max(len(waiting) - size, 0)
    among = set(gather_among(waiting, size, [rest], origin))
    narrowest = set(gather(waiting, size, origin))
    assert _trips(waiting, among, origin) <= _trips(waiting, narrowest, origin)


def test_the_truck_there_takes_more_when_the_one_coming_is_far():
    # Four destinations around the warehouse; each truck was given two. The other truck
    # is 200 away: with one package it still finishes last (200 + a load + the trip),
    # so this one, there already, takes three: the oldest and its neighbours.
    compass = [(1, 10, 0), (2, 0, 10), (3, -10, 0), (4, 0, -10)]
    assert share_out(compass, (0, 0), 2, [(200, 2)], 50) == [1, 2, 4]
    # The other one there too: two each, and the oldest in this one's (ties).
    assert share_out(compass, (0, 0), 2, [(0, 2)], 50) == [1, 4]
    # Never more than a truck takes.
    assert len(share_out(compass, (0, 0), 2, [(200, 2)], 2)) == 2


def test_a_truck_takes_its_part_of_all_that_wait_not_only_of_what_it_was_given():
    # It was given 1 (east) and 2 (north) as they came; 3 (east), 4 (north), 5 and 6
    # (west) wait with no truck: they go later, two a truck. It takes the east, and
    # leaves the north and the west for later, each one truckload.
    waiting = [(1, 100, 0), (2, 0, 100), (3, 100, 10), (4, 10, 100), (5, -100, 0), (6, -100, 10)]
    assert share_out(waiting, (0, 0), 2, [], 2, later=4) == [1, 3]


def test_what_waits_for_later_is_cut_in_truckloads_each_compact():
    # The same, from the truck that came for the north ones (2 and 4): it keeps them.
    # Were the four left weighed as one trip (as a truck coming would take them), the
    # west pair and 3, out east, would be one trip to weigh, and 2 with 3 the best.
    waiting = [(2, 0, 100), (3, 100, 10), (4, 10, 100), (5, -100, 0), (6, -100, 10), (7, 90, 0)]
    assert share_out(waiting, (0, 0), 2, [], 2, later=4) == [2, 4]


def test_a_truck_leaves_no_more_waiting_than_it_found():
    # Given three, it takes no fewer: one given back would wait for a truck not known
    # yet, where it had a truck.
    waiting = [(1, 5, 0), (2, 0, 5), (3, 100, 100), (4, 100, 90), (5, -100, 0), (6, -100, -10)]
    assert len(share_out(waiting, (0, 0), 3, [], 50, later=3)) == 3
    # With a truck coming that has room for it, it may.
    assert len(share_out(waiting, (0, 0), 3, [(0, 1)], 50, later=2)) == 2


def test_the_oldest_is_not_left_waiting_when_a_truck_can_take_it():
    # 1 (the oldest, far west) waits with 2, 3 and 4 (east, together). The east three
    # make the best load for this truck, but 1 would then wait for a truck not known
    # yet, and could again when that one comes: it goes now.
    waiting = [(1, -100, 0), (2, 100, 0), (3, 100, 10), (4, 100, -10)]
    assert 1 in share_out(waiting, (0, 0), 2, [], 50, later=2)


def test_sharing_out_alone_or_everything_is_gathering():
    waiting = [(5, 0, 100), (6, 0, -100), (7, 3, 90), (8, 90, 0), (9, -2, 104), (10, 0, -95)]
    assert share_out(waiting, (0, 0), 3, [], 50) == gather(waiting, 3, (0, 0))
    assert share_out(waiting, (0, 0), 6, [(10, 2)], 50) == [5, 6, 7, 8, 9, 10]


# Up to 60 stops: the routes weighed take some 100 ms on a busy machine.
@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 10_000), coords, coords), unique_by=lambda p: p[0], max_size=60
    ),
    st.integers(1, 30),
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 30)), min_size=1, max_size=4),
    st.integers(1, 60),
    st.tuples(coords, coords),
    st.integers(0, 40),
)
def test_a_share_is_about_what_the_truck_was_given_and_leaves_the_others_some(
    waiting, own, others, capacity, origin, later
):
    chosen = share_out(waiting, origin, own, others, capacity, later)
    ids = [place_id for place_id, _, _ in waiting]
    assert chosen == [i for i in ids if i in set(chosen)]  # oldest first, no repeats
    if len(waiting) <= own:
        assert chosen == ids  # all of them were this truck's
        return
    step = max(1, round(own * 0.1))  # SHARE_STEP
    assert 1 <= len(chosen) <= min(capacity, len(waiting) - 1)
    assert min(own - 2 * step, capacity, len(waiting) - 1) <= len(chosen) <= own + 2 * step
    # It gives back no more than the trucks coming have room for.
    room = sum(max(capacity - count, 0) for _, count in others)
    assert len(chosen) >= min(own - room, capacity, len(waiting) - 1)


# -- the route searches with their distances written out, against them as they were -----------
#
# nearest_neighbour, two_opt and or_opt once called ``distance`` for every pair they
# weighed, which was most of their time (the UPS daemon plans a route for every truck it
# sends out); they now write the distance out. The searches as they were, below, are the
# oracle: the same routes, ties and all.


def _nearest_neighbour_as_was(start, stops):
    left = sorted(stops)
    here = start
    order = []
    while left:
        index = min(
            range(len(left)), key=lambda i: (distance(here, (left[i][1], left[i][2])), left[i][0])
        )
        stop = left.pop(index)
        order.append(stop)
        here = (stop[1], stop[2])
    return order


def _two_opt_as_was(start, route, max_passes=50):
    route = list(route)
    points = [start, *((x, y) for _, x, y in route)]
    n = len(route)
    for _ in range(max_passes):
        improved = False
        for i in range(1, n):
            a = points[i - 1]
            b = points[i]
            before_ab = distance(a, b)
            for j in range(i + 1, n + 1):
                c = points[j]
                if j < n:
                    d = points[j + 1]
                    delta = distance(a, c) + distance(b, d) - before_ab - distance(c, d)
                else:
                    delta = distance(a, c) - before_ab
                if delta < 0:
                    points[i : j + 1] = points[i : j + 1][::-1]
                    route[i - 1 : j] = route[i - 1 : j][::-1]
                    b = points[i]
                    before_ab = distance(a, b)
                    improved = True
        if not improved:
            break
    return route


def _or_opt_as_was(start, route, longest=3, max_passes=50):
    route = list(route)

    def at(stop):
        return (stop[1], stop[2])

    for _ in range(max_passes):
        improved = False
        for size in range(1, longest + 1):
            i = 0
            while i + size <= len(route):
                before = start if i == 0 else at(route[i - 1])
                first, last = at(route[i]), at(route[i + size - 1])
                after = at(route[i + size]) if i + size < len(route) else None
                saved = distance(before, first)
                if after is not None:
                    saved += distance(last, after) - distance(before, after)
                run = route[i : i + size]
                rest = route[:i] + route[i + size :]
                best = None
                for j in range(len(rest) + 1):
                    if j == i:
                        continue
                    c = start if j == 0 else at(rest[j - 1])
                    d = at(rest[j]) if j < len(rest) else None
                    for flipped in (False, True):
                        head, tail = (last, first) if flipped else (first, last)
                        cost = distance(c, head)
                        if d is not None:
                            cost += distance(tail, d) - distance(c, d)
                        if cost < saved and (best is None or cost < best[0]):
                            best = (cost, j, flipped)
                if best is None:
                    i += 1
                    continue
                _, j, flipped = best
                route = rest[:j] + (run[::-1] if flipped else run) + rest[j:]
                improved = True
                i += 1
        if not improved:
            break
    return route


# Few places on a small grid: many ties, many stops at one place.
near = st.integers(min_value=-6, max_value=6)
crowded = st.lists(
    st.tuples(st.integers(1, 10_000), near, near), unique_by=lambda p: p[0], max_size=40
)


@settings(max_examples=300)
@given(st.tuples(near, near), st.one_of(crowded, places))
def test_the_route_searches_choose_as_they_did_with_distance_called(start, stops):
    order = nearest_neighbour(start, stops)
    assert order == _nearest_neighbour_as_was(start, stops)
    assert two_opt(start, order) == _two_opt_as_was(start, order)
    assert or_opt(start, order) == _or_opt_as_was(start, order)
    reversed_order = order[::-1]
    assert or_opt(start, reversed_order) == _or_opt_as_was(start, reversed_order)
    assert two_opt(start, reversed_order) == _two_opt_as_was(start, reversed_order)
