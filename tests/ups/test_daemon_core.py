"""The daemon's core without sockets: bytes and a time in, frames out (common.daemon.core),
with UPS's real dispatcher behind it."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from amazon_ups.common.daemon.core import SAFETY_LOOK_EVERY, DaemonCore, Endpoint, RecentReceipts
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import (
    DeadLetter,
    IncomingMessage,
    LinkState,
    OutgoingMessage,
)
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.channel import AU_LIMITS, WORLD_SEND_LIMITS, Channel
from amazon_ups.protocol.framing import FrameDecoder, FramingError, encode_frame
from amazon_ups.ups.dispatch import planning
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.dispatch.daemon import Dispatcher
from amazon_ups.ups.shipments import services as shipments
from amazon_ups.ups.shipments.models import (
    Package,
    PackageEvent,
    PackageItem,
    Truck,
    TruckEvent,
    Warehouse,
)
from amazon_ups.ups.shipments.services import AMAZON, Refused
from amazon_ups.ups.shipments.truck_lifecycle import TruckStatus
from amazon_ups.ups.shipper import services as shipper
from tests.ups.helpers import WORLD, ack_all, arrive, pickup, sent, world_seqnum

pytestmark = pytest.mark.django_db(transaction=True)


def amazon_endpoint() -> Endpoint:
    return Endpoint(
        "amazon", Channel(au_pb2.AmazonToUps, au_pb2.UpsToAmazon, limits=AU_LIMITS), AMAZON
    )


def _dispatching_core(endpoint):
    """UPS's core with ``endpoint``'s link, handling each container as the daemon does
    (``Dispatcher.handle`` and ``around_container``), without a tick."""
    dispatcher = Dispatcher(world=None)
    return DaemonCore(
        "ups", [endpoint], dispatcher.handle, around_container=dispatcher.around_container
    )


def frame(**fields) -> bytes:
    return encode_frame(au_pb2.AmazonToUps(**fields).SerializeToString())


def replies(frames: list[tuple[Endpoint, bytes]], endpoint: Endpoint) -> list[au_pb2.UpsToAmazon]:
    decoder = FrameDecoder()
    return [
        au_pb2.UpsToAmazon.FromString(body)
        for target, data in frames
        if target is endpoint
        for body in decoder.feed(data)
    ]


def test_a_message_is_handled_once_and_acked_after_it_is_saved(django_assert_num_queries):
    amazon = amazon_endpoint()
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    now = timezone.now().timestamp()

    check = au_pb2.AccountCheck(seqnum=1, ups_account=77)
    core.received(amazon, frame(account_checks=[check]), now)
    assert IncomingMessage.objects.filter(peer=AMAZON, seqnum=1).exists()
    [reply] = replies(core.step(now), amazon)
    assert list(reply.acks) == [1]
    [status] = reply.accounts
    assert (status.ups_account, status.exists) == (77, False)

    # The same message again (our ack was lost): acked again, not handled again, and
    # without a look in the database (the core knows it is done).
    with django_assert_num_queries(0):
        core.received(amazon, frame(account_checks=[check]), now)
        [again] = replies(core.step(now), amazon)
    assert list(again.acks) == [1] and not again.accounts  # the answer is not yet due again

    # A daemon started again knows nothing in memory: the receipts table says it is done.
    restarted = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    restarted.received(amazon, frame(account_checks=[check]), now)
    [again] = replies(restarted.step(now), amazon)
    assert list(again.acks) == [1] and not again.accounts
    assert IncomingMessage.objects.filter(peer=AMAZON).count() == 1

    # Amazon acks our answer: it is never sent again, however late.
    core.received(amazon, frame(acks=[status.seqnum]), now)
    assert replies(core.step(now + 3600), amazon) == []


def test_an_unacked_answer_is_sent_again_when_its_time_comes():
    amazon = amazon_endpoint()
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    now = timezone.now().timestamp()
    core.received(amazon, frame(account_checks=[au_pb2.AccountCheck(seqnum=1, ups_account=3)]), now)
    [first] = replies(core.step(now), amazon)
    assert core.step(now) == []  # nothing new, nothing due yet
    due = core.next_deadline()
    assert now < due < now + 60
    [again] = replies(core.step(due), amazon)
    assert [s.seqnum for s in again.accounts] == [s.seqnum for s in first.accounts]


def test_a_silent_link_is_owed_an_empty_message_when_its_keepalive_is_due():
    """The core decides keep-alives on the time it is given: an empty message after
    ``keepalive`` seconds in which nothing went, none while anything else goes."""
    amazon = amazon_endpoint()
    amazon.keepalive = 3.0
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    core.look_every = 3600.0  # only keep-alives fall due here
    start = timezone.now().timestamp()

    assert core.step(start) == [(amazon, encode_frame(b""))]  # never said anything yet
    assert core.next_deadline() == start + 3.0
    assert core.step(start + 2.9) == []
    assert core.step(start + 3.0) == [(amazon, encode_frame(b""))]

    # A message owed an ack at +4: the ack goes, and it counts as saying something.
    core.received(
        amazon, frame(account_checks=[au_pb2.AccountCheck(seqnum=1, ups_account=5)]), start + 4.0
    )
    [reply] = replies(core.step(start + 4.0), amazon)
    assert list(reply.acks) == [1]
    [status] = reply.accounts
    core.received(amazon, frame(acks=[status.seqnum]), start + 4.0)
    assert core.step(start + 4.0) == []
    assert core.next_deadline() == start + 7.0
    assert core.step(start + 6.9) == []
    assert core.step(start + 7.0) == [(amazon, encode_frame(b""))]

    # A link that is down is owed nothing, and no deadline.
    down = DownEndpoint("amazon", amazon.channel, AMAZON)
    quiet = DaemonCore("ups", [down], Dispatcher(world=None).handle)
    assert quiet.step(start + 100.0) == []
    assert quiet.next_deadline() == start + 100.0 + SAFETY_LOOK_EVERY  # only the safety look


def test_a_turn_with_nothing_new_touches_no_database(django_assert_num_queries):
    """At rest the peers trade keep-alives: receiving one, and sending ours, is no reason
    to look in the database, so a daemon at rest costs next to nothing."""
    amazon = amazon_endpoint()
    amazon.keepalive = 3.0
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    start = timezone.now().timestamp()
    core.step(start)  # the first step looks
    with django_assert_num_queries(0):
        core.received(amazon, encode_frame(b""), start + 1.0)  # the peer's keep-alive
        assert core.step(start + 1.0) == []
        assert core.step(start + 3.0) == [(amazon, encode_frame(b""))]  # ours
    # The safety look is the next deadline: a wake-up can be lost.
    assert core.next_deadline() == start + SAFETY_LOOK_EVERY


def test_work_written_elsewhere_is_seen_when_woken_or_by_the_safety_look():
    """The web writes work and wakes the daemon (``wake``); a wake-up that was lost is
    made up for by the safety look."""
    amazon = amazon_endpoint()
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    start = timezone.now().timestamp()
    core.step(start)

    def written_elsewhere(ups_account: int) -> None:
        status = au_pb2.AccountStatus(ups_account=ups_account, exists=True)
        with transaction.atomic():
            messaging.send(AMAZON, "accounts", status)

    written_elsewhere(1)
    assert core.step(start + 0.5) == []  # not woken, not due
    core.wake()
    [reply] = replies(core.step(start + 0.5), amazon)
    assert [status.ups_account for status in reply.accounts] == [1]

    core.received(amazon, frame(acks=[reply.accounts[0].seqnum]), start + 1.0)
    assert core.step(start + 1.0) == []  # an ack came: the core looks
    written_elsewhere(2)  # and its wake-up is lost
    assert core.step(start + 2.4) == []
    [reply] = replies(core.step(start + 1.0 + SAFETY_LOOK_EVERY), amazon)
    assert [status.ups_account for status in reply.accounts] == [2]


def test_dead_letters_are_looked_for_only_when_a_wake_up_says_a_retry_was_asked():
    """An operator's retry wakes the daemon with a wake-up that says so (``wakeup.RETRY``):
    only then, and at the safety look, does it look for dead letters to retry, not at every
    order the web wakes it for."""
    amazon = amazon_endpoint()
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    start = timezone.now().timestamp()
    letters = DeadLetter._meta.db_table

    def reads_of_dead_letters(retries: bool, at: float) -> int:
        with CaptureQueriesContext(connection) as captured:
            core.wake(retries=retries)
            core.step(at)
        return _reads(captured, letters)

    assert reads_of_dead_letters(True, start) == 1
    assert reads_of_dead_letters(False, start + 0.5) == 0  # an order placed
    assert reads_of_dead_letters(False, start + 1.0) == 0
    assert reads_of_dead_letters(True, start + 1.5) == 1  # a retry asked
    assert reads_of_dead_letters(False, start + 1.5 + SAFETY_LOOK_EVERY) == 1  # the safety look


def test_a_look_reads_the_outboxes_written_here_since_unless_woken_or_at_the_safety_look():
    """A look that comes of a message reads only the outboxes of the peers this process
    sent to since it last read them (its handlers', its tick's): anything another process
    writes there, it wakes the daemon for, and the safety look reads them all."""
    amazon, world = amazon_endpoint(), world_endpoint()
    core = DaemonCore("ups", [amazon, world], Dispatcher(world=None).handle)
    start = timezone.now().timestamp()
    table = OutgoingMessage._meta.db_table

    def outboxes_read(at: float, *, woken: bool = False, told: int | None = None) -> int:
        with CaptureQueriesContext(connection) as captured:
            if told is not None:  # as a handler would, in this process
                with transaction.atomic():
                    status = au_pb2.AccountStatus(ups_account=told, exists=True)
                    messaging.send(AMAZON, "accounts", status)
            if woken:
                core.wake(retries=False)
            else:
                core.received(amazon, frame(acks=[10_000]), at)  # something came
            frames = core.step(at)
        if told is not None:
            [reply] = replies(frames, amazon)
            assert [status.ups_account for status in reply.accounts] == [told]
        return _reads(captured, table, '"id" >')

    assert outboxes_read(start, woken=True) == 2  # the first look reads them all
    assert outboxes_read(start + 0.1) == 0
    assert outboxes_read(start + 0.2, told=1) == 1  # only Amazon's
    assert outboxes_read(start + 0.3) == 0
    assert outboxes_read(start + 0.4, woken=True) == 2  # the web may have written
    assert outboxes_read(start + 0.4 + SAFETY_LOOK_EVERY) == 2  # the safety look


def test_a_look_with_nothing_to_do_costs_the_ticks_reads_only(fleet):
    """What a turn costs UPS when a message came (here acks only) and nothing is to be
    done: the acks' UPDATE and the tick's reads (the world's id, packages waiting at a
    warehouse, deliveries acked, redirects, and the trucks: whether one is to be asked
    about and the next loading deadline, in one read); no truck is listed as overdue
    (none waits) and no outbox is read (nothing was sent). Was 10."""
    amazon, world = amazon_endpoint(), world_endpoint()
    dispatcher = Dispatcher(world=None)
    core = DaemonCore(
        "ups",
        [amazon, world],
        dispatcher.handle,
        dispatcher.tick,
        around_container=dispatcher.around_container,
    )
    start = timezone.now().timestamp()
    core.step(start)  # the first look reads everything
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, frame(acks=[10_000]), start + 0.1)
        core.step(start + 0.1)
    own = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    work = [q["sql"] for q in captured if not q["sql"].startswith(own)]
    assert len(work) == 6, work


class DownEndpoint(Endpoint):
    keepalive = 3.0

    @property
    def up(self) -> bool:
        return False


def test_a_broken_stream_raises_for_the_shell_to_drop_the_connection():
    amazon = amazon_endpoint()
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    with pytest.raises(FramingError):
        core.received(amazon, b"\xff" * 11, 0.0)  # a varint longer than any length


def test_a_message_that_fails_is_set_aside_and_still_acked():
    amazon = amazon_endpoint()

    def handle(endpoint: Endpoint, field: str, message, now: datetime.datetime) -> None:
        raise ZeroDivisionError("a bug")

    core = DaemonCore("ups", [amazon], handle)
    core.received(
        amazon,
        frame(account_checks=[au_pb2.AccountCheck(seqnum=4, ups_account=1)]),
        timezone.now().timestamp(),
    )
    [reply] = replies(core.step(timezone.now().timestamp()), amazon)
    assert list(reply.acks) == [4]
    assert DeadLetter.objects.filter(peer=AMAZON, seqnum=4, state=DeadLetter.State.OPEN).exists()


def test_the_tick_runs_on_the_time_it_is_given(fleet):
    """Driven on a virtual clock: an hour later for the core is an hour later for the
    dispatcher's stuck check, with no row back-dated."""
    with transaction.atomic():
        pickup(5)
    seen = []
    dispatcher = Dispatcher(world=None)

    def tick(now: datetime.datetime) -> None:
        seen.append(now)
        dispatcher.tick(now)

    core = DaemonCore("ups", [], dispatcher.handle, tick)
    now = timezone.now()
    core.step(now.timestamp())
    assert not Package.objects.get(id=5).events.filter(kind="stuck").exists()

    later = now + datetime.timedelta(hours=1)
    core.step(later.timestamp())
    assert seen == [now, later]
    assert Package.objects.get(id=5).events.filter(kind="stuck").exists()


def test_links_going_up_and_down_are_shown_to_operators():
    amazon = amazon_endpoint()
    connected = []
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle, on_connect=connected.append)
    core.connected(amazon)
    assert connected == [amazon]
    assert LinkState.objects.get(peer=AMAZON).connected
    core.dropped(amazon, "closed by the peer")
    state = LinkState.objects.get(peer=AMAZON)
    assert not state.connected and state.detail == "closed by the peer"


def test_the_core_wakes_for_what_the_tick_names_by_the_clock(fleet, settings):
    """At rest the daemon sleeps until a deadline: a truck's loading wait ends by the
    clock alone, so the tick names it and the core's next deadline is then."""
    settings.UPS_LOADING_WAIT = 5
    dispatcher = Dispatcher(world=None)
    core = DaemonCore("ups", [], dispatcher.handle, dispatcher.tick)
    now = timezone.now()
    core.step(now.timestamp())
    stuck_check = now + datetime.timedelta(seconds=10)  # nothing else by the clock
    assert core.next_deadline() == pytest.approx(stuck_check.timestamp())
    truck = Truck.objects.get(id=1)
    truck.status = TruckStatus.LOADING
    truck.loading_deadline = now + datetime.timedelta(seconds=5)
    truck.save()
    core.wake()  # as the web does after its commit
    core.step(now.timestamp())
    assert core.next_deadline() == pytest.approx(truck.loading_deadline.timestamp())


def test_overdue_trucks_are_listed_only_when_the_last_tick_said_one_may_be(fleet, settings):
    """Each tick ends by reading when the first waiting truck leaves: the next one lists
    the overdue trucks only if that time has come. A deadline a load wrote since, even
    one already past, is read at the tick's end, and the truck leaves at the next."""
    settings.UPS_LOADING_WAIT = 5
    dispatcher = Dispatcher(world=None)
    now = timezone.now()
    overdue = '"loading_deadline" <='

    def tick(at: datetime.datetime) -> tuple[datetime.datetime | None, int]:
        with CaptureQueriesContext(connection) as captured:
            due = dispatcher.tick(at)
        return due, _reads(captured, Truck._meta.db_table, overdue)

    assert tick(now)[1] == 1  # not read yet
    assert tick(now + datetime.timedelta(seconds=1))[1] == 0  # no truck waits
    truck = Truck.objects.get(id=1)
    truck.status = TruckStatus.LOADING
    truck.loading_deadline = now + datetime.timedelta(seconds=2)
    truck.save()  # as a load does, between two ticks
    later = now + datetime.timedelta(seconds=3)
    due, listed = tick(later)
    assert (due, listed) == (truck.loading_deadline, 0)  # past: the core looks at once
    assert tick(later)[1] == 1
    assert Truck.objects.get(id=1).loading_deadline is None  # it left
    assert tick(later)[1] == 0


def test_a_truck_in_doubt_is_asked_about_at_the_tick(fleet):
    """The tick's one read of the trucks says one is in doubt: its query goes."""
    dispatcher = Dispatcher(world=None)
    now = timezone.now()
    dispatcher.tick(now)
    assert sent(WORLD, "queries") == []
    Truck.objects.filter(id=2).update(needs_query=True)
    dispatcher.tick(now + datetime.timedelta(seconds=1))
    assert [query.truckid for query in sent(WORLD, "queries")] == [2]


def test_recent_receipts_forget_the_oldest_beyond_their_size():
    receipts = RecentReceipts(size=3)
    receipts.add([1, 2, 2, 3])
    receipts.add([4])
    assert [seqnum in receipts for seqnum in (1, 2, 3, 4, 5)] == [False, True, True, True, False]


def _pickups(first: int, count: int) -> list[au_pb2.PickupRequest]:
    return [
        au_pb2.PickupRequest(
            seqnum=seqnum,
            package_id=seqnum,
            warehouse=au_pb2.Warehouse(id=1, x=10, y=0),
            dest_x=seqnum % 17,
            dest_y=-(seqnum % 13),
        )
        for seqnum in range(first, first + count)
    ]


def _truck_reads(core: DaemonCore, endpoint: Endpoint, data: bytes) -> int:
    """How many statements handling ``data`` ran that read the trucks table."""

    with CaptureQueriesContext(connection) as captured:
        core.received(endpoint, data, timezone.now().timestamp())
    table = Truck._meta.db_table
    return sum(
        1
        for query in captured
        if query["sql"].lstrip().upper().startswith("SELECT") and table in query["sql"]
    )


def test_a_container_of_pickups_chooses_trucks_once_for_them_all(fleet):
    """Each warehouse given packages by a container is served once, after them all: the
    trucks are looked at once for a burst, not once per package; every package has its
    truck when the container commits."""
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    alone = _truck_reads(core, amazon, frame(pickups=_pickups(1, 1)))
    together = _truck_reads(core, amazon, frame(pickups=_pickups(2, 30)))
    assert Package.objects.count() == 31
    assert Package.objects.filter(truck=None).count() == 0
    # Once per truck sent or filled (30 packages take a few), not once per package (42).
    assert 0 < alone <= together <= 10, (alone, together)


def _reads(captured: CaptureQueriesContext, table: str, where: str = "") -> int:
    """How many captured statements read ``table`` first (``FROM table``), the ones
    whose text also holds ``where`` if given."""
    return sum(
        1
        for query in captured
        if query["sql"].startswith("SELECT")
        and f'FROM "{table}"' in query["sql"]
        and where in query["sql"]
    )


def _core_whose_pickups_fail(monkeypatch, fails):
    """UPS's core, with Amazon's link, whose pickup requests for which ``fails(request)``
    raise a defect after the package was made (and moved)."""
    accept = dispatch.pickup_request

    def accept_then_fail(**request):
        package = accept(**request)
        if fails(request):
            raise ZeroDivisionError("a bug after the package was made")
        return package

    monkeypatch.setattr(dispatch, "pickup_request", accept_then_fail)
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    return core, amazon


def test_a_container_of_pickups_reads_their_packages_and_warehouses_once(fleet, monkeypatch):
    """Whether each request's package is known, and its warehouse, come from one read for
    the whole container, not one per request. An answer about a package serves once: a
    second request for it in the container sees the package the first made, and after
    a first that was rolled back, sees none."""
    core, amazon = _core_whose_pickups_fail(monkeypatch, lambda request: request["seqnum"] == 40)
    core.received(amazon, frame(pickups=_pickups(1, 1)), timezone.now().timestamp())
    again = _pickups(1, 1)[0]
    again.seqnum = 31  # package 1 again: refused
    twice = _pickups(32, 2)
    twice[1].package_id = 32  # 32 twice in one container: the second refused
    failing = _pickups(40, 1)[0]
    after_failing = _pickups(40, 1)[0]
    after_failing.seqnum = 41  # 40 again, after the first was rolled back: accepted
    package_id = f'"{Package._meta.db_table}"."id"'
    with CaptureQueriesContext(connection) as captured:
        core.received(
            amazon,
            frame(pickups=[*_pickups(2, 20), again, *twice]),
            timezone.now().timestamp(),
        )
    assert _reads(captured, Warehouse._meta.db_table) == 1
    # One read of the packages asked for; 32, asked for a second time, is known from the
    # package the first request made and has not written yet (packages_created_together).
    assert _reads(captured, Package._meta.db_table, f"WHERE {package_id}") == 1
    assert Package.objects.filter(id__in=range(1, 33)).count() == 22
    assert Package.objects.get(id=32).request_seqnum == 32
    [reply] = replies(core.step(timezone.now().timestamp()), amazon)
    assert sorted((e.origin_seqnum, e.package_id) for e in reply.errors) == [(31, 1), (33, 32)]

    core.received(amazon, frame(pickups=[failing, after_failing]), timezone.now().timestamp())
    assert Package.objects.get(id=40).request_seqnum == 41
    assert DeadLetter.objects.filter(seqnum=40, kind=DeadLetter.Kind.MESSAGE).exists()


def _package_inserts(captured: CaptureQueriesContext) -> int:
    table = Package._meta.db_table
    return sum(1 for query in captured if query["sql"].startswith(f'INSERT INTO "{table}"'))


def test_a_containers_new_packages_are_written_in_one_statement(fleet, monkeypatch):
    """The packages a container's pickup requests make are written in one INSERT at its
    end, before its warehouses are served (each has its truck, its items, its events); a
    second request for one of them is refused. After a defect, the container is handled
    again with each request's package written in its own unit: a defective request's
    package goes with it alone."""
    core, amazon = _core_whose_pickups_fail(monkeypatch, lambda request: request["package_id"] == 7)
    requests = _pickups(1, 5)
    for request in requests:
        request.items.add(product_id=request.package_id, description="a thing", count=2)
    twice = _pickups(1, 1)[0]
    twice.seqnum = 6  # package 1 again, in the same container: refused
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, frame(pickups=[*requests, twice]), timezone.now().timestamp())
    assert _package_inserts(captured) == 1
    assert sorted(Package.objects.values_list("id", flat=True)) == [1, 2, 3, 4, 5]
    assert Package.objects.get(id=1).request_seqnum == 1
    assert Package.objects.filter(truck=None).count() == 0
    assert PackageItem.objects.filter(package_id__in=range(1, 6), count=2).count() == 5
    assert PackageEvent.objects.filter(kind="created").count() == 5
    [reply] = replies(core.step(timezone.now().timestamp()), amazon)
    assert [(e.origin_seqnum, e.package_id) for e in reply.errors] == [(6, 1)]
    assert sorted(r.package_id for r in reply.registered) == [1, 2, 3, 4, 5]

    twice = _pickups(10, 1)[0]
    twice.seqnum = 12  # package 10 again: refused on the second pass too
    with CaptureQueriesContext(connection) as captured:
        core.received(
            amazon,
            frame(pickups=[*_pickups(7, 4), twice]),
            timezone.now().timestamp(),
        )
    # None on the first pass (the defect came before the end); one each on the second
    # (7's rolled back with its unit).
    assert _package_inserts(captured) == 4
    assert sorted(Package.objects.values_list("id", flat=True)) == [1, 2, 3, 4, 5, 8, 9, 10]
    assert Package.objects.get(id=10).request_seqnum == 10
    assert Package.objects.filter(truck=None).count() == 0
    assert not PackageEvent.objects.filter(package_id=7).exists()
    assert DeadLetter.objects.filter(seqnum=7, kind=DeadLetter.Kind.MESSAGE).exists()
    [reply] = replies(core.step(timezone.now().timestamp()), amazon)
    # The first container's refusal may be sent again with it (not acked here).
    assert {(e.origin_seqnum, e.package_id) for e in reply.errors} - {(6, 1)} == {(12, 10)}


def test_a_package_made_in_a_container_is_written_before_a_later_message_reads_it(
    fleet, monkeypatch
):
    """A PackageLoaded after the PickupRequest of its package, in one container, finds the
    package (written before the load is handled, once with the others made so far); a
    load that fails takes back only its own work."""
    with transaction.atomic():
        arrive(1, 10, 0)
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    loaded = au_pb2.PackageLoaded(seqnum=3, package_id=1, truck_id=1)
    with CaptureQueriesContext(connection) as captured:
        core.received(
            amazon, frame(pickups=_pickups(1, 2), loaded=[loaded]), timezone.now().timestamp()
        )
    assert _package_inserts(captured) == 1
    assert Package.objects.get(id=1).status == "loaded"
    assert not DeadLetter.objects.exists()

    accept = dispatch.package_loaded

    def load_then_fail(package_id, truck_id, *, now):
        accept(package_id, truck_id, now=now)
        raise ZeroDivisionError("a bug after the load")

    monkeypatch.setattr(dispatch, "package_loaded", load_then_fail)
    failing = au_pb2.PackageLoaded(seqnum=12, package_id=10, truck_id=1)
    with CaptureQueriesContext(connection) as captured:
        core.received(
            amazon,
            frame(pickups=_pickups(10, 2), loaded=[failing]),
            timezone.now().timestamp(),
        )
    # First pass: both written before the load, then rolled back with it; second pass:
    # each written in its own unit.
    assert _package_inserts(captured) == 3
    assert DeadLetter.objects.filter(seqnum=12, kind=DeadLetter.Kind.MESSAGE).exists()
    assert Package.objects.filter(id__in=[10, 11], truck__isnull=False).count() == 2
    assert Package.objects.get(id=10).status != "loaded"
    assert PackageEvent.objects.filter(package_id__in=[10, 11], kind="created").count() == 2


def world_endpoint() -> Endpoint:
    return Endpoint(
        "world", Channel(wu.UResponses, wu.UCommands, send_limits=WORLD_SEND_LIMITS), WORLD
    )


def world_frame(**fields) -> bytes:
    return encode_frame(wu.UResponses(**fields).SerializeToString())


def _package_locks(core: DaemonCore, endpoint: Endpoint, data: bytes) -> int:
    """How many statements handling ``data`` ran that read packages by their id."""
    with CaptureQueriesContext(connection) as captured:
        core.received(endpoint, data, timezone.now().timestamp())
    table = Package._meta.db_table
    return _reads(captured, table, f'WHERE "{table}"."id"')


def test_the_packages_a_container_loads_or_delivers_are_read_and_locked_at_once(fleet):
    """The packages a container of PackageLoaded, or of UDeliveryMade, is about are read
    and locked in one query, not one per message; not read again when a truck leaves
    with some of them (its command names those it changed, none still ahead: was a read
    of all those ahead at each departure)."""
    with transaction.atomic():
        # Five at a warehouse near truck 1, five near truck 2.
        for package_id in range(1, 11):
            warehouse = (1, 10, 0) if package_id <= 5 else (2, 100, 5)
            pickup(package_id, warehouse=warehouse, dest=(package_id, -package_id))
        for truck in Truck.objects.exclude(warehouse=None).select_related("warehouse"):
            arrive(truck.id, truck.warehouse.x, truck.warehouse.y)
    trucks = {m.package_id: m.truck_id for m in sent(AMAZON, "arrived")}
    assert sorted(trucks) == list(range(1, 11))
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    # Truck by truck: each one leaves once its last package is loaded.
    loads = [
        au_pb2.PackageLoaded(seqnum=seqnum, package_id=package_id, truck_id=truck_id)
        for seqnum, (package_id, truck_id) in enumerate(
            sorted(trucks.items(), key=lambda item: (item[1], item[0])), start=1
        )
    ]
    assert len(set(trucks.values())) > 1
    assert _package_locks(core, amazon, frame(loaded=loads)) == 1
    assert Package.objects.filter(status="loaded").exclude(delivery_seqnum=None).count() == 10
    with transaction.atomic():
        ack_all()
        dispatch.confirm_deliveries(timezone.now())

    world = world_endpoint()
    core = _dispatching_core(world)
    made = [
        wu.UDeliveryMade(truckid=truck_id, packageid=package_id, seqnum=world_seqnum())
        for package_id, truck_id in trucks.items()
    ]
    assert _package_locks(core, world, world_frame(delivered=made)) == 1
    assert Package.objects.filter(status="delivered").count() == 10


def test_only_the_packages_a_write_names_are_read_again_when_asked_for(fleet):
    """A write that names its packages (a truck sent out with them) leaves the others
    read ahead as they are: a package it names is read again, alone, when asked for."""
    with transaction.atomic():
        for package_id in (5, 6, 7):
            pickup(package_id, dest=(package_id, -package_id))
        table = Package._meta.db_table
        with shipments.packages_locked_ahead([5, 6, 7]):
            shipments.packages_written([6])
            with CaptureQueriesContext(connection) as captured:
                assert shipments.package_lock(5).id == 5
                assert shipments.package_lock(7).id == 7
            assert _reads(captured, table, f'WHERE "{table}"."id"') == 0
            Package.objects.filter(id=6).update(dest_x=42)
            with CaptureQueriesContext(connection) as captured:
                assert shipments.package_lock(6).dest_x == 42
            assert _reads(captured, table, f'WHERE "{table}"."id"') == 1


def test_a_package_read_ahead_is_read_again_after_a_message_changed_it(fleet):
    """A truck's report sends it out with its cargo: a delivery of one of those packages
    in the same container sees it sent (out for delivery first, as Amazon hears), not as
    it was read ahead of the container."""
    with transaction.atomic():
        pickup(5, dest=(3, -3))
        pickup(6, dest=(4, -4))
        arrive(1, 10, 0)
        dispatch.package_loaded(5, 1, now=timezone.now())
        dispatch.package_loaded(6, 1, now=timezone.now())
        [deliver] = sent(WORLD, "deliveries")
        # The world refused the command as a whole: the packages are cargo again.
        dispatch.deliveries_refused(deliver.seqnum, 1, [5, 6], "truck busy", now=timezone.now())
        ack_all()
    world = world_endpoint()
    core = _dispatching_core(world)
    core.received(
        world,
        world_frame(
            completions=[wu.UFinished(truckid=1, x=2, y=-2, status="IDLE", seqnum=world_seqnum())],
            delivered=[wu.UDeliveryMade(truckid=1, packageid=5, seqnum=world_seqnum())],
        ),
        timezone.now().timestamp(),
    )
    kinds = list(
        PackageEvent.objects.filter(package_id=5).order_by("id").values_list("kind", flat=True)
    )
    assert kinds[-2:] == ["out for delivery", "delivered"], kinds
    assert [m.package_id for m in sent(AMAZON, "out_for_delivery")] == [5]


def _out_for_delivery_on_truck_1(package_ids) -> None:
    """These packages picked up by truck 1 at warehouse 10, loaded, and sent out to
    (id, -id)."""
    with transaction.atomic():
        for package_id in package_ids:
            pickup(package_id, dest=(package_id, -package_id))
        arrive(1, 10, 0)
        for package_id in package_ids:
            dispatch.package_loaded(package_id, 1, now=timezone.now())
        ack_all()
        dispatch.confirm_deliveries(timezone.now())


def _world_core():
    """UPS's core, with the world's link."""
    world = world_endpoint()
    core = _dispatching_core(world)
    return core, world


def _truck_event_inserts(captured: CaptureQueriesContext) -> int:
    table = TruckEvent._meta.db_table
    return sum(1 for query in captured if query["sql"].startswith(f'INSERT INTO "{table}"'))


def test_a_containers_truck_events_are_written_together_and_go_with_a_defect(fleet, monkeypatch):
    """The trucks' events of a container (trucks sent as its warehouses are served, trucks
    arriving) are written in one statement at its end; a defective sub-message's go with
    it alone."""
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    elsewhere = _pickups(3, 1)[0]
    elsewhere.warehouse.id, elsewhere.warehouse.x, elsewhere.warehouse.y = 2, 100, 5
    with CaptureQueriesContext(connection) as captured:
        core.received(
            amazon, frame(pickups=[*_pickups(1, 2), elsewhere]), timezone.now().timestamp()
        )
    sent_to = TruckEvent.objects.filter(kind="sent to warehouse")
    assert sorted(sent_to.values_list("truck_id", flat=True)) == [1, 2]
    assert _truck_event_inserts(captured) == 1

    with transaction.atomic():
        ack_all()
    finished = dispatch.truck_finished

    def finish_then_fail(truck_id, *args, **kwargs):
        finished(truck_id, *args, **kwargs)
        if truck_id == 2:
            raise ZeroDivisionError("a bug after the arrival")

    monkeypatch.setattr(dispatch, "truck_finished", finish_then_fail)
    core, world = _world_core()
    arrivals = [
        wu.UFinished(truckid=1, x=10, y=0, status="ARRIVE WAREHOUSE", seqnum=world_seqnum()),
        wu.UFinished(truckid=2, x=100, y=5, status="ARRIVE WAREHOUSE", seqnum=world_seqnum()),
    ]
    with CaptureQueriesContext(connection) as captured:
        core.received(world, world_frame(completions=arrivals), timezone.now().timestamp())
    # At the end of the second pass only (the first, rolled back by the defect, wrote none).
    assert _truck_event_inserts(captured) == 1
    arrived = TruckEvent.objects.filter(kind="arrived")
    assert list(arrived.values_list("truck_id", flat=True)) == [1]
    assert DeadLetter.objects.filter(kind=DeadLetter.Kind.MESSAGE).count() == 1


def test_a_trucks_position_is_written_once_for_its_deliveries_in_a_container(fleet):
    """Where a truck's deliveries put it is written once for a container of them (where
    the last one did), and before anything that reads the truck: the world's answer to
    a query after them in the container has the last word."""
    _out_for_delivery_on_truck_1(range(1, 6))
    core, world = _world_core()
    made = [
        wu.UDeliveryMade(truckid=1, packageid=package_id, seqnum=world_seqnum())
        for package_id in range(1, 4)
    ]
    table = Truck._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        core.received(world, world_frame(delivered=made), timezone.now().timestamp())
    moves = [q for q in captured if q["sql"].startswith(f'UPDATE "{table}" SET "x"')]
    assert len(moves) == 1, [q["sql"] for q in moves]
    assert Truck.objects.values_list("x", "y").get(id=1) == (3, -3)

    with transaction.atomic():
        Truck.objects.filter(id=1).update(needs_query=True)
        dispatch.queries_send()
        ack_all()
    core.received(
        world,
        world_frame(
            delivered=[wu.UDeliveryMade(truckid=1, packageid=4, seqnum=world_seqnum())],
            truckstatus=[
                wu.UTruck(truckid=1, status="DELIVERING", x=7, y=8, seqnum=world_seqnum())
            ],
        ),
        timezone.now().timestamp(),
    )
    assert Truck.objects.values_list("x", "y").get(id=1) == (7, 8)
    assert Package.objects.get(id=4).status == "delivered"


def test_a_delivery_that_comes_with_its_commands_ack_moves_twice_in_one_update(fleet):
    """A fast world acks the command that sent a package out in the response that
    reports its delivery: the package is out for delivery, then delivered (both events,
    both told to Amazon), written in one UPDATE."""
    with transaction.atomic():
        pickup(5, dest=(3, -3))
        arrive(1, 10, 0)
        dispatch.package_loaded(5, 1, now=timezone.now())
    [deliver] = sent(WORLD, "deliveries")
    core, world = _world_core()
    with CaptureQueriesContext(connection) as captured:
        core.received(
            world,
            world_frame(
                acks=[deliver.seqnum],
                delivered=[wu.UDeliveryMade(truckid=1, packageid=5, seqnum=world_seqnum())],
            ),
            timezone.now().timestamp(),
        )
    assert _package_status_writes(captured) == 1
    kinds = list(
        PackageEvent.objects.filter(package_id=5).order_by("id").values_list("kind", flat=True)
    )
    assert kinds[-2:] == ["out for delivery", "delivered"], kinds
    assert Package.objects.get(id=5).status == "delivered"
    assert [m.package_id for m in sent(AMAZON, "out_for_delivery")] == [5]
    assert [m.package_id for m in sent(AMAZON, "delivered")] == [5]


def test_a_run_of_deliveries_moves_its_packages_in_one_update(fleet):
    """The packages a container's deliveries move are saved together at the end of the
    run (one UPDATE, their events and Amazon's messages each), not one each."""
    _out_for_delivery_on_truck_1(range(1, 6))
    core, world = _world_core()
    made = [
        wu.UDeliveryMade(truckid=1, packageid=package_id, seqnum=world_seqnum())
        for package_id in range(1, 6)
    ]
    with CaptureQueriesContext(connection) as captured:
        core.received(world, world_frame(delivered=made), timezone.now().timestamp())
    assert _package_status_writes(captured) == 1
    assert Package.objects.filter(status="delivered").count() == 5
    assert PackageEvent.objects.filter(kind="delivered").count() == 5
    assert sorted(m.package_id for m in sent(AMAZON, "delivered")) == [1, 2, 3, 4, 5]


def _answer_pending_for_truck_1() -> None:
    """Truck 1 is in doubt and our query about it is acked: its answer may come."""
    with transaction.atomic():
        Truck.objects.filter(id=1).update(needs_query=True)
        dispatch.queries_send()
        ack_all()


def test_the_moves_of_a_run_of_deliveries_are_written_before_any_other_message(fleet):
    """A report after deliveries in a container reads packages from the database: the
    deliveries' moves are written before it runs. Here the world says the truck is idle,
    and packages out for delivery long since are sent again: not the one just
    delivered."""
    _out_for_delivery_on_truck_1(range(1, 4))
    Package.objects.update(status_changed_at=timezone.now() - datetime.timedelta(days=1))
    _answer_pending_for_truck_1()
    core, world = _world_core()
    core.received(
        world,
        world_frame(
            delivered=[wu.UDeliveryMade(truckid=1, packageid=1, seqnum=world_seqnum())],
            truckstatus=[wu.UTruck(truckid=1, status="IDLE", x=1, y=-1, seqnum=world_seqnum())],
        ),
        timezone.now().timestamp(),
    )
    assert Package.objects.get(id=1).status == "delivered"
    resent = PackageEvent.objects.filter(kind="delivery sent again")
    assert sorted(resent.values_list("package_id", flat=True)) == [2, 3]


def test_deliveries_noted_survive_a_later_message_rolled_back(fleet, monkeypatch):
    """A message after deliveries writes their moves first, in its own savepoint: when
    it is rolled back (a defect), they are written again at the end, not lost; and a
    defective delivery's own move goes with it."""
    _out_for_delivery_on_truck_1(range(1, 4))
    _answer_pending_for_truck_1()
    deliver = dispatch.package_delivered

    def deliver_then_fail_for_2(truck_id: int, package_id: int, *, now) -> None:
        deliver(truck_id, package_id, now=now)
        if package_id == 2:
            raise ZeroDivisionError("a bug after the delivery")

    def broken_report(*args, **kwargs):
        raise ZeroDivisionError("a bug in reading a report")

    monkeypatch.setattr(dispatch, "package_delivered", deliver_then_fail_for_2)
    monkeypatch.setattr(dispatch, "truck_reported", broken_report)
    core, world = _world_core()
    made = [
        wu.UDeliveryMade(truckid=1, packageid=package_id, seqnum=world_seqnum())
        for package_id in (1, 2)
    ]
    core.received(
        world,
        world_frame(
            delivered=made,
            truckstatus=[wu.UTruck(truckid=1, status="IDLE", x=1, y=-1, seqnum=world_seqnum())],
        ),
        timezone.now().timestamp(),
    )
    assert DeadLetter.objects.filter(kind=DeadLetter.Kind.MESSAGE).count() == 2
    statuses = dict(Package.objects.values_list("id", "status"))
    assert statuses == {1: "delivered", 2: "out for delivery", 3: "out for delivery"}
    assert [m.package_id for m in sent(AMAZON, "delivered")] == [1]


def test_a_rolled_back_delivery_leaves_no_position_behind(fleet, monkeypatch):
    """A delivery whose handling fails is set aside with all it did: its truck stays
    where the container's other deliveries put it."""
    _out_for_delivery_on_truck_1((1, 2))
    deliver = dispatch.package_delivered

    def deliver_then_fail_for_2(truck_id: int, package_id: int, *, now) -> None:
        deliver(truck_id, package_id, now=now)
        if package_id == 2:
            raise ZeroDivisionError("a bug after the delivery")

    monkeypatch.setattr(dispatch, "package_delivered", deliver_then_fail_for_2)
    core, world = _world_core()
    made = [
        wu.UDeliveryMade(truckid=1, packageid=package_id, seqnum=world_seqnum())
        for package_id in (1, 2)
    ]
    core.received(world, world_frame(delivered=made), timezone.now().timestamp())
    assert Truck.objects.values_list("x", "y").get(id=1) == (1, -1)
    assert Package.objects.get(id=2).status == "out for delivery"


def test_a_waiting_trucks_deadline_is_written_once_for_a_containers_loads(fleet):
    """Each load gives a truck that waits for more a new deadline; the loads of one
    container give it the same one, written once."""
    with transaction.atomic():
        for package_id in range(1, 6):
            pickup(package_id, dest=(package_id, -package_id))
        arrive(1, 10, 0)
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    loads = [
        au_pb2.PackageLoaded(seqnum=package_id, package_id=package_id, truck_id=1)
        for package_id in range(1, 5)  # 5 is not loaded yet: the truck waits
    ]
    at = timezone.now()
    table = Truck._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, frame(loaded=loads), at.timestamp())
    deadlines = [
        q for q in captured if q["sql"].startswith(f'UPDATE "{table}" SET "loading_deadline"')
    ]
    assert len(deadlines) == 1, len(deadlines)
    truck = Truck.objects.get(id=1)
    assert truck.status == TruckStatus.ARRIVE_WAREHOUSE
    assert truck.loading_deadline is not None and truck.loading_deadline > at


def _loads(*loads: tuple[int, int]) -> bytes:
    """A container of PackageLoaded, for (package, truck): each seqnum the package's."""
    return frame(
        loaded=[
            au_pb2.PackageLoaded(seqnum=package_id, package_id=package_id, truck_id=truck_id)
            for package_id, truck_id in loads
        ]
    )


def _given_reads(captured: CaptureQueriesContext) -> int:
    """How many captured statements read what a truck was given (depart_if_ready)."""
    table = Package._meta.db_table
    return _reads(captured, table, f'"{table}"."truck_id" = ')


def _two_trucks_at_warehouse_1():
    """Trucks 1 and 2 stand at warehouse 1, announced to Amazon for packages 1-5 and 6-8;
    package 9 waits for a truck. UPS's core with Amazon's link."""
    with transaction.atomic():
        for package_id in range(1, 10):
            pickup(package_id, dest=(package_id, -package_id))
    Package.objects.filter(id__in=[1, 2, 3, 4, 5]).update(truck_id=1, status="truck at warehouse")
    Package.objects.filter(id__in=[6, 7, 8]).update(truck_id=2, status="truck at warehouse")
    Package.objects.filter(id=9).update(truck_id=None, status="created")
    Truck.objects.update(status="arrive warehouse", warehouse_id=1, x=10, y=0)
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    return core, amazon


def test_the_trucks_a_container_loads_are_read_and_locked_at_once(fleet):
    """The trucks a container's loads name are read and locked in one query, and each
    handed to its loads as the one before left it; read again once a message may have
    written it otherwise (here: a load refused, which marks its truck for a query)."""
    core, amazon = _two_trucks_at_warehouse_1()
    table = Truck._meta.db_table
    by_id = f'WHERE "{table}"."id"'
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, _loads((1, 1), (2, 1), (6, 2)), timezone.now().timestamp())
    assert _reads(captured, table, by_id) == 1
    truck = Truck.objects.get(id=1)
    assert truck.status == "arrive warehouse" and truck.loading_deadline is not None

    refused = au_pb2.LoadFailed(seqnum=50, package_id=7, truck_id=2, reason="not there")
    with CaptureQueriesContext(connection) as captured:
        # Three containers in one read: one transaction, their messages in this order.
        core.received(
            amazon,
            _loads((3, 1)) + frame(load_failed=[refused]) + _loads((4, 1), (5, 1)),
            timezone.now().timestamp(),
        )
    assert _reads(captured, table, by_id) == 2  # ahead, and truck 1 again after
    [deliver] = sent(WORLD, "deliveries")
    assert (deliver.truckid, sorted(p.packageid for p in deliver.packages)) == (1, [1, 2, 3, 4, 5])
    assert Truck.objects.get(id=2).needs_query


def test_a_run_of_loads_moves_its_packages_in_one_update(fleet):
    """The packages a container's loads move are saved together at the end of the run,
    not one each; whether a truck is loaded takes the moves not written yet into account,
    even read again (here after another truck left in the run)."""
    core, amazon = _two_trucks_at_warehouse_1()
    with CaptureQueriesContext(connection) as captured:
        core.received(
            amazon,
            _loads((1, 1), (6, 2), (7, 2), (8, 2), (2, 1), (3, 1), (4, 1), (5, 1)),
            timezone.now().timestamp(),
        )
    assert _package_status_writes(captured) == 1
    assert Package.objects.filter(status="loaded").count() == 8
    assert PackageEvent.objects.filter(kind="loaded").count() == 8
    commands = {
        m.truckid: sorted(p.packageid for p in m.packages) for m in sent(WORLD, "deliveries")
    }
    assert commands == {1: [1, 2, 3, 4, 5], 2: [6, 7, 8]}


def test_an_item_of_the_ticks_package_events_are_written_together(fleet):
    """A truck that waited past its deadline leaves with what is loaded; the packages it
    leaves behind go back to the queue (and get the next truck): their events are
    written in one statement for the item, not one each."""
    core, amazon = _two_trucks_at_warehouse_1()
    core.received(amazon, _loads((1, 1), (2, 1)), timezone.now().timestamp())
    Truck.objects.filter(id=1).update(loading_deadline=timezone.now() - datetime.timedelta(1))
    table = PackageEvent._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        assert dispatch.depart_overdue(timezone.now()) == 1
    inserts = [q for q in captured if q["sql"].startswith(f'INSERT INTO "{table}"')]
    assert len(inserts) == 1, len(inserts)
    left = PackageEvent.objects.filter(kind="truck left without it")
    assert sorted(left.values_list("package_id", flat=True)) == [3, 4, 5]


def test_a_containers_loads_onto_a_truck_read_what_it_was_given_once(fleet):
    """Whether a truck is ready to leave is asked at each load onto it; in a container,
    what it was given is read at the first and kept up to date by the others: it leaves
    with all of them at the last. A package loaded onto another truck than the one
    waiting for it is no longer waited for by the first."""
    core, amazon = _two_trucks_at_warehouse_1()
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, _loads(*[(n, 1) for n in range(1, 6)]), timezone.now().timestamp())
    assert _given_reads(captured) == 1
    [deliver] = sent(WORLD, "deliveries")
    assert (deliver.truckid, sorted(p.packageid for p in deliver.packages)) == (1, [1, 2, 3, 4, 5])

    # 7 goes on truck 1 (back at the warehouse, waiting for 9): truck 2 waits for it no
    # longer.
    Truck.objects.filter(id=1).update(status="arrive warehouse")
    Package.objects.filter(id=9).update(truck_id=1, status="truck at warehouse")
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, _loads((6, 2), (7, 1), (8, 2)), timezone.now().timestamp())
    assert _given_reads(captured) == 2  # each truck's, once
    assert Truck.objects.get(id=1).status == "arrive warehouse"
    assert Truck.objects.get(id=2).status == "delivering"
    deliver = sent(WORLD, "deliveries")[-1]
    assert (deliver.truckid, sorted(p.packageid for p in deliver.packages)) == (2, [6, 8])


def test_a_defect_in_serving_a_warehouse_sets_it_aside_and_keeps_the_pickups(fleet, monkeypatch):

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in choosing a truck")

    monkeypatch.setattr(planning, "choose_truck", broken)
    amazon = amazon_endpoint()
    dispatcher = Dispatcher(world=None)
    core = DaemonCore(
        "ups",
        [amazon],
        dispatcher.handle,
        dispatcher.tick,
        around_container=dispatcher.around_container,
    )
    core.received(amazon, frame(pickups=_pickups(1, 3)), timezone.now().timestamp())
    [reply] = replies(core.step(timezone.now().timestamp()), amazon)
    assert sorted(reply.acks) == [1, 2, 3]
    assert sorted(r.package_id for r in reply.registered) == [1, 2, 3]
    assert Package.objects.count() == 3
    letter = DeadLetter.objects.get(kind=DeadLetter.Kind.WORK_ITEM)
    assert (letter.what, letter.ref) == ("serving a warehouse", "warehouse:1")
    assert not DeadLetter.objects.filter(kind=DeadLetter.Kind.MESSAGE).exists()

    # Set aside, the warehouse is not served by the tick either, until an operator has
    # fixed the cause and retried it: then the packages get their trucks.
    core.step(timezone.now().timestamp())
    assert Package.objects.filter(truck=None).count() == 3
    monkeypatch.undo()
    with transaction.atomic():
        messaging.dead_letters_retry([letter.id])
    core.wake()
    core.step(timezone.now().timestamp())
    assert Package.objects.filter(truck=None).count() == 0


def test_a_containers_package_events_are_written_together_and_go_with_a_refusal(fleet, monkeypatch):
    """The events of a container's moves are written in one statement at its end; a
    refused sub-message (a package already known) and a defective one (its handler
    fails after its moves) leave none."""

    core, amazon = _core_whose_pickups_fail(monkeypatch, lambda request: request["package_id"] == 7)
    core.received(amazon, frame(pickups=_pickups(1, 1)), timezone.now().timestamp())
    before = PackageEvent.objects.filter(package_id=1).count()
    again = _pickups(1, 1)[0]
    again.seqnum = 99  # package 1 again, as a new request: refused
    table = PackageEvent._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        core.received(
            amazon,
            frame(pickups=[*_pickups(2, 5), again, *_pickups(7, 1)]),
            timezone.now().timestamp(),
        )
    inserts = [q for q in captured if q["sql"].startswith(f'INSERT INTO "{table}"')]
    # Once, not once per move: at the end of the container's second pass (one savepoint
    # per sub-message, to set the defective one aside); the first, which the defect
    # rolled back, wrote none.
    assert len(inserts) == 1, len(inserts)
    assert PackageEvent.objects.filter(package_id=1).count() == before
    for package_id in range(2, 7):
        kinds = list(
            PackageEvent.objects.filter(package_id=package_id)
            .order_by("id")
            .values_list("kind", flat=True)
        )
        assert kinds[0] == "created" and len(kinds) >= 2, kinds
    assert not Package.objects.filter(id=7).exists()
    assert not PackageEvent.objects.filter(package_id=7).exists()
    assert DeadLetter.objects.filter(seqnum=7, kind=DeadLetter.Kind.MESSAGE).exists()


def _inserts_for_amazon(captured: CaptureQueriesContext) -> int:
    """How many captured statements wrote messages to Amazon into the outbox."""
    table = OutgoingMessage._meta.db_table
    return sum(
        1
        for query in captured
        if query["sql"].startswith(f'INSERT INTO "{table}"') and f"'{AMAZON}'" in query["sql"]
    )


def test_what_a_container_tells_amazon_is_written_together_and_goes_with_a_defect(
    fleet, monkeypatch
):
    """The messages to Amazon of a container's units (registered, and the trucks'
    arrival, told as its warehouse is served at the end) are written in one statement at
    its end, numbered in the order they were said; a defective unit's go with it."""
    core, amazon = _core_whose_pickups_fail(monkeypatch, lambda request: request["package_id"] == 7)
    core.received(amazon, frame(pickups=_pickups(1, 1)), timezone.now().timestamp())
    with transaction.atomic():
        arrive(1, 10, 0)  # truck 1 waits at warehouse 1: pickups there are announced at once
    said_before = set(OutgoingMessage.objects.values_list("id", flat=True))
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, frame(pickups=_pickups(2, 6)), timezone.now().timestamp())
    # Once, at the end of the container's second pass (the first, rolled back by the
    # defect, wrote none).
    assert _inserts_for_amazon(captured) == 1
    assert sorted(m.package_id for m in sent(AMAZON, "registered")) == [1, 2, 3, 4, 5, 6]
    assert sorted(m.package_id for m in sent(AMAZON, "arrived")) == [1, 2, 3, 4, 5, 6]
    rows = list(
        OutgoingMessage.objects.filter(peer=AMAZON).exclude(id__in=said_before).order_by("id")
    )
    assert [row.seqnum for row in rows] == sorted(row.seqnum for row in rows)
    # Each registered before its truck's arrival, as said.
    fields = [row.field for row in rows]
    assert fields.index("arrived") > max(i for i, f in enumerate(fields) if f == "registered")
    [reply] = replies(core.step(timezone.now().timestamp()), amazon)
    assert sorted(r.package_id for r in reply.arrived) == [1, 2, 3, 4, 5, 6]


def test_what_an_item_of_the_tick_tells_amazon_is_written_together(fleet):
    """A truck's command acked, each of its packages is out for delivery, and Amazon is
    told so for each: one statement for the item (the command), not one per package."""
    captured = _five_packages_sent_out()
    assert _inserts_for_amazon(captured) == 1
    assert sorted(m.package_id for m in sent(AMAZON, "out_for_delivery")) == [1, 2, 3, 4, 5]


def _five_packages_sent_out() -> CaptureQueriesContext:
    """Truck 1 loaded with packages 1 to 5, its command acked: what confirming that they
    are out for delivery ran."""
    with transaction.atomic():
        for package_id in range(1, 6):
            pickup(package_id, dest=(package_id, -package_id))
        arrive(1, 10, 0)
        for package_id in range(1, 6):
            dispatch.package_loaded(package_id, 1, now=timezone.now())
        ack_all()
    with CaptureQueriesContext(connection) as captured:
        assert dispatch.confirm_deliveries(timezone.now()) == 5
    return captured


def _package_status_writes(captured: CaptureQueriesContext) -> int:
    table = Package._meta.db_table
    return sum(
        1
        for query in captured
        if query["sql"].startswith(f'UPDATE "{table}" SET') and '"status"' in query["sql"]
    )


def test_a_truckload_is_given_its_truck_in_one_update(fleet):
    """The packages a truck is given together (a container's pickups, served at its
    end) move in one UPDATE for the load, not one each; each has its event."""
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, frame(pickups=_pickups(1, 30)), timezone.now().timestamp())
    loads = Package.objects.values("truck").distinct().count()
    assert Package.objects.filter(status="truck dispatched").count() == 30
    assert 1 < loads <= _package_status_writes(captured) <= 4, loads
    assert PackageEvent.objects.filter(kind="truck dispatched").count() == 30

    # Arrived, the truck announces its load in one UPDATE too.
    truck = Package.objects.get(id=1).truck
    assert truck is not None
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        arrive(truck.id, 10, 0)
    assert _package_status_writes(captured) == 1
    announced = Package.objects.filter(status="truck at warehouse")
    assert announced.count() == len(sent(AMAZON, "arrived")) > 1


def test_a_commands_packages_go_out_for_delivery_in_one_update(fleet):
    """Once the world took a truck's command, its packages are out for delivery: one
    UPDATE and one INSERT of their events for the command, not one each."""
    captured = _five_packages_sent_out()
    assert _package_status_writes(captured) == 1
    events = PackageEvent._meta.db_table
    assert len([q for q in captured if q["sql"].startswith(f'INSERT INTO "{events}"')]) == 1
    assert PackageEvent.objects.filter(kind="out for delivery").count() == 5
    assert Package.objects.filter(status="out for delivery").count() == 5


def test_a_refusal_after_telling_amazon_is_a_defect(fleet, monkeypatch):
    """What a unit tells Amazon is written at the end of the container, not at once, so
    no statement shows it: a service that refused after telling Amazon something is
    still a defect, set aside with what it said, not a refusal that would send both."""
    accept = dispatch.pickup_request

    def tell_then_refuse(**request):
        if request["package_id"] == 9:
            shipper.account_status(9, True)
            raise Refused("changed my mind", 9)
        return accept(**request)

    monkeypatch.setattr(dispatch, "pickup_request", tell_then_refuse)
    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    core.received(amazon, frame(pickups=_pickups(8, 3)), timezone.now().timestamp())
    letter = DeadLetter.objects.get(seqnum=9, kind=DeadLetter.Kind.MESSAGE)
    assert letter.error_type.endswith("RefusedAfterWriting")
    assert sent(AMAZON, "accounts") == []
    assert sent(AMAZON, "errors") == []
    assert sorted(m.package_id for m in sent(AMAZON, "registered")) == [8, 10]


def test_a_containers_package_items_are_written_together_and_go_with_a_defect(fleet, monkeypatch):
    """The items of the packages a container's pickups make are written in one statement
    at its end, not one per package; a defective request leaves none."""
    core, amazon = _core_whose_pickups_fail(monkeypatch, lambda request: request["package_id"] == 7)
    requests = _pickups(2, 6)
    for request in requests:
        request.items.add(product_id=request.package_id, description="kettle", count=2)
        request.items.add(product_id=100, description="mug", count=1)
    table = PackageItem._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, frame(pickups=requests), timezone.now().timestamp())
    inserts = [q for q in captured if q["sql"].startswith(f'INSERT INTO "{table}"')]
    assert len(inserts) == 1, len(inserts)
    items = PackageItem.objects.order_by("package_id", "id")
    assert list(items.values_list("package_id", "product_id", "count")) == [
        row
        for package_id in range(2, 7)
        for row in ((package_id, package_id, 2), (package_id, 100, 1))
    ]


def test_a_refusal_needs_no_savepoint_and_one_after_a_write_is_a_defect(fleet, monkeypatch):
    """Amazon's requests are refused before anything is written, so a container of them
    takes no savepoint per request; a service that refused after writing would leave
    half its work behind: it is a defect, rolled back and set aside, not an answer."""

    amazon = amazon_endpoint()
    core = _dispatching_core(amazon)
    core.received(amazon, frame(pickups=_pickups(1, 1)), timezone.now().timestamp())
    again = _pickups(1, 1)[0]
    again.seqnum = 50  # package 1 again: refused
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, frame(pickups=[again, *_pickups(2, 3)]), timezone.now().timestamp())
    # One savepoint, around serving the warehouse at the end; none per request.
    assert len([q for q in captured if q["sql"].upper().startswith("SAVEPOINT")]) == 1
    [reply] = [r for r in replies(core.step(timezone.now().timestamp()), amazon) if r.errors]
    [error] = reply.errors
    assert error.origin_seqnum == 50 and error.package_id == 1
    assert Package.objects.filter(id__in=[2, 3, 4]).count() == 3

    accept = dispatch.pickup_request

    def write_then_refuse(**request):
        if request["package_id"] == 9:
            Warehouse.objects.create(id=99, x=-5, y=-5)
            raise Refused("changed my mind", 9)
        return accept(**request)

    monkeypatch.setattr(dispatch, "pickup_request", write_then_refuse)
    core.received(amazon, frame(pickups=_pickups(8, 3)), timezone.now().timestamp())
    assert not Warehouse.objects.filter(id=99).exists()
    letter = DeadLetter.objects.get(seqnum=9, kind=DeadLetter.Kind.MESSAGE)
    assert letter.error_type.endswith("RefusedAfterWriting")
    assert Package.objects.filter(id__in=[8, 10]).count() == 2
    sent = replies(core.step(timezone.now().timestamp()), amazon)
    assert not [e for r in sent for e in r.errors if e.origin_seqnum == 9]


def test_the_containers_of_one_read_are_one_transaction():
    """Containers queued while a turn was busy arrive in one read: they are handled
    together (one look at the receipts, one commit), each still acked, and an empty
    one among them still counts as a keep-alive."""

    amazon = amazon_endpoint()
    core = DaemonCore("ups", [amazon], Dispatcher(world=None).handle)
    data = b"".join(
        [
            frame(account_checks=[au_pb2.AccountCheck(seqnum=1, ups_account=5)]),
            encode_frame(b""),
            frame(account_checks=[au_pb2.AccountCheck(seqnum=2, ups_account=6)]),
        ]
    )
    table = IncomingMessage._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        core.received(amazon, data, timezone.now().timestamp())
    lookups = [q for q in captured if q["sql"].startswith("SELECT") and table in q["sql"]]
    assert len(lookups) == 1
    assert amazon.keeps_alive
    [reply] = replies(core.step(timezone.now().timestamp()), amazon)
    assert sorted(reply.acks) == [1, 2]
    assert sorted(s.ups_account for s in reply.accounts) == [5, 6]
