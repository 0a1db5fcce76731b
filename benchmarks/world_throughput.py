"""How fast the world simulator serves commands, against what the codec alone allows,
and whether its memory stays flat over a long run.

    .venv/bin/python benchmarks/world_throughput.py [--clients N] [--commands N] [--quick]

1. Throughput: ``amazon-ups world`` runs as a real subprocess (its own core). In this
   process, N worlds each get a UPS and an Amazon connection (asyncio protocols built on
   ``protocol.framing`` and ``ReliableSession``) that send a mix of sub-commands as fast
   as they can, with at most ``--window`` unacked sub-commands each, in messages of
   ``--batch`` sub-commands, acking every result. A sub-command counts once its ack is back.
2. Ceiling: the very frames of run 1 (every ACommands/UCommands sent and every
   AResponses/UResponses received) serialized, framed, cut by ``FrameDecoder`` and parsed
   again in this process, with no sockets and no world: what the protocol's codec costs.
3. Memory: 100k sub-commands (mostly buys and queries, a bounded number of packs) against
   one world process, after a warm-up, sampling its RSS as the count goes by; then bytes
   per package, from a fresh world's RSS and from the engine alone under tracemalloc, and
   what a journal snapshot of that many packages costs.
4. The dashboard's cost: run 1 again with the world's dashboard off, on with nobody
   watching, and on with a viewer (what the page asks every second), side by side.

Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import platform
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from google.protobuf import __version__ as protobuf_version
from google.protobuf.internal import api_implementation
from google.protobuf.message import Message

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.framing import FrameDecoder, encode_frame
from amazon_ups.protocol.session import ReliableSession, ResendPolicy
from amazon_ups.protocol.world_messages import CONNECTED, DIALECTS, Side
from amazon_ups.world.engine import WorldEngine
from amazon_ups.world.journal import Journal
from amazon_ups.world.server import ServerConfig

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.common.report import Bar, cpus  # noqa: E402
from benchmarks.common.world import WorldProcess  # noqa: E402

MiB = 1024 * 1024
FLAT_MIB_PER_10K = 0.1  # memory growth that still counts as flat

# The places every benchmark world is made of.
WAREHOUSES = ((1, 10, 10), (2, -20, 5), (3, 15, -12), (4, -8, -18))
WAREHOUSE_IDS = tuple(w[0] for w in WAREHOUSES)
TRUCKS = tuple((truck_id, 0, 0) for truck_id in range(1, 17))
PRODUCTS = {product_id: f"product {product_id}" for product_id in range(1, 9)}
PRODUCT_IDS = tuple(PRODUCTS)
BUY_UNITS = 3  # units per purchase
MAX_LOAD = 20  # packages put on one truck per pickup

COMMAND_FIELD: dict[type[Message], str] = {
    wa.APurchaseMore: "buy",
    wa.APack: "topack",
    wa.APutOnTruck: "load",
    wa.AQuery: "queries",
    wu.UGoPickup: "pickups",
    wu.UGoDeliver: "deliveries",
    wu.UQuery: "queries",
}
# Sent sub-commands are re-sent only if unacked this long: a slow world under full load
# must not be mistaken for a lossy one (no faults are injected here).
RESEND = ResendPolicy(first=2.0, factor=2.0, ceiling=5.0)


# -- the world process ------------------------------------------------------------------


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def busy_cpu() -> float:
    """CPU seconds the whole machine has spent not idle (all cores, all processes)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


# -- what the clients send: one driver per world, shared by its Amazon and UPS ------------


@dataclass
class Mix:
    """Shares of Amazon's sub-commands; flow commands (loads) come first. UPS sends the
    pickups and deliveries the flow calls for and fills the rest with queries."""

    buy: float
    pack: float  # the rest are queries; a pack without stock becomes a buy
    pack_limit: int | None = None  # at most this many packages in the world

    def describe(self) -> str:
        limit = "" if self.pack_limit is None else f" (at most {self.pack_limit} packages)"
        query = 1.0 - self.buy - self.pack
        return f"Amazon: buy {self.buy:.0%}, pack {self.pack:.0%}{limit}, query {query:.0%}"


class WorldDriver:
    """A whole order flow per world: buy, pack, pick up, load, deliver, plus queries."""

    def __init__(self, seed: int, mix: Mix) -> None:
        self.rng = random.Random(seed)
        self.mix = mix
        self.stock: Counter[tuple[int, int]] = Counter()  # arrived and not packed yet
        self.packages = 0  # shipids 1..packages have been sent to be packed
        self.package_warehouse: dict[int, int] = {}
        self.waiting: dict[int, list[int]] = {w: [] for w in WAREHOUSE_IDS}  # packed, no truck
        self.needs_truck: deque[int] = deque()
        self.truck_wanted: set[int] = set()
        self.idle: deque[int] = deque(t[0] for t in TRUCKS)
        self.destination: dict[int, int] = {}
        self.loads: dict[int, tuple[int, list[int]]] = {}  # truck -> (expected, loaded)
        self.on_truck: dict[int, int] = {}
        self.amazon_flow: deque[Message] = deque()
        self.ups_flow: deque[Message] = deque()
        self.results: Counter[str] = Counter()
        self.errors: list[str] = []

    # Amazon

    def next_amazon(self) -> Message:
        if self.amazon_flow:
            return self.amazon_flow.popleft()
        rng = self.rng
        draw = rng.random()
        if draw < self.mix.buy + self.mix.pack or not self.packages:
            warehouse = WAREHOUSE_IDS[rng.randrange(len(WAREHOUSE_IDS))]
            product = PRODUCT_IDS[rng.randrange(len(PRODUCT_IDS))]
            limit = self.mix.pack_limit
            if draw >= self.mix.buy and (limit is None or self.packages < limit):
                key = (warehouse, product)
                if self.stock[key] > 0:
                    self.stock[key] -= 1
                    self.packages += 1
                    self.package_warehouse[self.packages] = warehouse
                    return wa.APack(
                        whnum=warehouse,
                        things=[wa.AProduct(id=product, description=PRODUCTS[product], count=1)],
                        shipid=self.packages,
                    )
            return wa.APurchaseMore(
                whnum=warehouse,
                things=[wa.AProduct(id=product, description=PRODUCTS[product], count=BUY_UNITS)],
            )
        return wa.AQuery(packageid=rng.randint(1, self.packages))

    def on_arrived(self, result: wa.APurchaseMore) -> None:
        for thing in result.things:
            self.stock[(result.whnum, thing.id)] += thing.count

    def on_ready(self, result: wa.APacked) -> None:
        warehouse = self.package_warehouse[result.shipid]
        self.waiting[warehouse].append(result.shipid)
        self._want_truck(warehouse)

    def on_loaded(self, result: wa.ALoaded) -> None:
        truck = self.on_truck.pop(result.shipid)
        expected, loaded = self.loads[truck]
        loaded.append(result.shipid)
        if len(loaded) == expected:
            del self.loads[truck]
            stops = [
                wu.UDeliveryLocation(packageid=shipid, x=shipid % 37 - 18, y=shipid % 23 - 11)
                for shipid in loaded
            ]
            self.ups_flow.append(wu.UGoDeliver(truckid=truck, packages=stops))

    # UPS

    def next_ups(self) -> Message:
        if self.ups_flow:
            return self.ups_flow.popleft()
        if self.needs_truck and self.idle:
            warehouse, truck = self.needs_truck.popleft(), self.idle.popleft()
            self.destination[truck] = warehouse
            return wu.UGoPickup(truckid=truck, whid=warehouse)
        return wu.UQuery(truckid=self.rng.randint(1, len(TRUCKS)))

    def on_completion(self, result: wu.UFinished) -> None:
        if result.status.upper() != "ARRIVE WAREHOUSE":
            self.idle.append(result.truckid)  # IDLE: all its deliveries are made
            return
        warehouse = self.destination.pop(result.truckid)
        waiting = self.waiting[warehouse]
        shipids, waiting[:] = waiting[:MAX_LOAD], waiting[MAX_LOAD:]
        self.truck_wanted.discard(warehouse)
        if waiting:
            self._want_truck(warehouse)
        if not shipids:
            self.idle.append(result.truckid)
            return
        self.loads[result.truckid] = (len(shipids), [])
        for shipid in shipids:
            self.on_truck[shipid] = result.truckid
            self.amazon_flow.append(
                wa.APutOnTruck(whnum=warehouse, truckid=result.truckid, shipid=shipid)
            )

    def _want_truck(self, warehouse: int) -> None:
        if warehouse not in self.truck_wanted:
            self.truck_wanted.add(warehouse)
            self.needs_truck.append(warehouse)

    def on_error(self, result: Message) -> None:
        if len(self.errors) < 5:
            self.errors.append(f"{result.err} (command {result.originseqnum})")

    def handlers(self, side: Side) -> dict[str, Callable[[Any], None]]:
        if side is Side.AMAZON:
            return {
                "arrived": self.on_arrived,
                "ready": self.on_ready,
                "loaded": self.on_loaded,
                "error": self.on_error,
            }
        return {"completions": self.on_completion, "error": self.on_error}


class PackDriver:
    """For bytes per package: big purchases of one product, then only packs of it."""

    def __init__(self) -> None:
        self.packing = False
        self.packages = 0
        self.results: Counter[str] = Counter()
        self.errors: list[str] = []

    def next_amazon(self) -> Message:
        if not self.packing:
            product = wa.AProduct(id=1, description=PRODUCTS[1], count=1000)
            return wa.APurchaseMore(whnum=1, things=[product])
        self.packages += 1
        product = wa.AProduct(id=1, description=PRODUCTS[1], count=1)
        return wa.APack(whnum=1, things=[product], shipid=self.packages)

    def on_error(self, result: Message) -> None:
        if len(self.errors) < 5:
            self.errors.append(result.err)

    def handlers(self, side: Side) -> dict[str, Callable[[Any], None]]:
        return {"error": self.on_error}


# -- a pipelined client -------------------------------------------------------------------


@dataclass
class Recorder:
    """Every frame body of a run, both ways, for the codec ceiling."""

    sent: dict[Side, list[bytes]] = field(default_factory=lambda: {s: [] for s in Side})
    received: dict[Side, list[bytes]] = field(default_factory=lambda: {s: [] for s in Side})


class Client(asyncio.Protocol):
    """One Amazon or UPS connection that keeps ``window`` sub-commands unacked."""

    def __init__(
        self,
        side: Side,
        driver: Any,
        window: int,
        batch: int,
        recorder: Recorder | None = None,
        on_ack: Callable[[int], None] | None = None,
        latencies: list[float] | None = None,
    ) -> None:
        """``latencies``: if given, each sub-command's time from its first send to its ack
        is appended to it (seconds)."""
        self.side = side
        self.dialect = DIALECTS[side]
        self.driver = driver
        self.next_command = driver.next_amazon if side is Side.AMAZON else driver.next_ups
        self.handlers = driver.handlers(side)
        self.result_fields = set(self.dialect.result_fields.values())
        self.window, self.batch = window, batch
        self.recorder = recorder
        self.on_ack = on_ack
        self.latencies = latencies
        self.sent_at: dict[int, float] = {}
        self.session: ReliableSession[Any] = ReliableSession(policy=RESEND)
        self.frames = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.world_id = -1
        self.quota = self.sent = self.acked = 0
        self.items_sent = self.messages_sent = self.messages_received = 0
        self.copies = 0  # results received, repeats included
        self.kinds: Counter[str] = Counter()
        self.done: asyncio.Future[None] | None = None
        self.last_ack = 0.0
        self.longest_wait = 0.0  # between two messages bringing acks, while commands are out
        self._ticker: asyncio.TimerHandle | None = None

    @classmethod
    async def open(
        cls,
        side: Side,
        port: int,
        driver: Any,
        world_id: int | None,
        places: tuple[tuple[int, int, int], ...],
        **options: Any,
    ) -> Client:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(
            lambda: cls(side, driver, **options), "127.0.0.1", port
        )
        request = client.dialect.connect(isAmazon=side is Side.AMAZON)
        if world_id is not None:
            request.worldid = world_id
        for place_id, x, y in places:
            place = request.initwh.add() if side is Side.AMAZON else request.trucks.add()
            place.id, place.x, place.y = place_id, x, y
        client.write(request.SerializeToString())
        client.world_id = await asyncio.wait_for(client.connected, 10)
        return client

    def write(self, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(encode_frame(body))

    def set_simspeed(self, simspeed: int) -> None:
        self.write(self.dialect.commands(simspeed=simspeed).SerializeToString())

    # -- sending --------------------------------------------------------------------------

    def run(self, commands: int) -> asyncio.Future[None]:
        """Send ``commands`` more sub-commands; the future is done when all are acked."""
        self.quota += commands
        self.last_ack = time.perf_counter()
        self.done = asyncio.get_running_loop().create_future()
        if self._ticker is not None:
            self._ticker.cancel()
        self._tick()
        return self.done

    def _tick(self) -> None:
        # Re-sends (never expected here) and a safety net against a stalled pipeline.
        self.pump(resend=True)
        if self.done is not None and not self.done.done():
            self._ticker = asyncio.get_running_loop().call_later(0.5, self._tick)

    def pump(self, resend: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        while True:
            left = self.quota - self.sent
            room = min(self.window - (self.sent - self.acked), left)
            if room <= 0 or (room < self.batch and room < left):
                break
            self._send(min(room, self.batch))
        if self.session.owes_acks or resend:
            self._send(0)

    def _send(self, count: int) -> None:
        session, next_command = self.session, self.next_command
        if self.latencies is None:
            for _ in range(count):
                session.send(next_command())
        else:
            now, sent_at = time.perf_counter(), self.sent_at
            for _ in range(count):
                sent_at[session.send(next_command()).seqnum] = now
        self.sent += count
        batch = session.poll(time.time())
        if not batch:
            return
        message = self.dialect.commands()
        if batch.acks:
            message.acks.extend(batch.acks)
        kinds = self.kinds
        for item in batch.items:
            name = COMMAND_FIELD[type(item)]
            getattr(message, name).append(item)
            kinds[type(item).__name__] += 1
        self.items_sent += len(batch.items)
        self.messages_sent += 1
        body = message.SerializeToString()
        if self.recorder is not None:
            self.recorder.sent[self.side].append(body)
        assert self.transport is not None
        self.transport.write(encode_frame(body))

    # -- receiving ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"world closed the connection: {exc}"))
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError(f"world closed the connection: {exc}"))

    def data_received(self, data: bytes) -> None:
        bodies = self.frames.feed(data)
        if not self.connected.done():
            if not bodies:
                return
            reply = self.dialect.connected()
            reply.ParseFromString(bodies.pop(0))
            if reply.result != CONNECTED:
                self.connected.set_exception(ConnectionError(reply.result))
                return
            self.connected.set_result(reply.worldid)
        responses_type, session, handlers = self.dialect.responses, self.session, self.handlers
        recorded = self.recorder.received[self.side] if self.recorder is not None else None
        acked = 0
        for body in bodies:
            if recorded is not None:
                recorded.append(body)
            responses = responses_type()
            responses.ParseFromString(body)
            self.messages_received += 1
            for descriptor, value in responses.ListFields():
                name = descriptor.name
                if name == "acks":
                    done = session.acknowledge(value)
                    acked += len(done)
                    if self.latencies is not None:
                        now, sent_at = time.perf_counter(), self.sent_at
                        self.latencies.extend(now - sent_at.pop(seqnum) for seqnum in done)
                elif name in self.result_fields:
                    handler = handlers.get(name)
                    results = self.driver.results
                    for result in value:
                        self.copies += 1
                        if session.receive(result.seqnum):
                            results[name] += 1
                            if handler is not None:
                                handler(result)
        if acked:
            now = time.perf_counter()
            self.longest_wait = max(self.longest_wait, now - self.last_ack)
            self.last_ack = now
            self.acked += acked
            if self.on_ack is not None:
                self.on_ack(acked)
            if self.done is not None and self.acked >= self.quota and not self.done.done():
                self.done.set_result(None)
        self.pump()

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self.transport is not None:
            self.transport.close()


async def open_world(
    ports: dict[Side, int], driver: Any, simspeed: int, ups: bool = True, **options: Any
) -> list[Client]:
    """UPS creates a world with its trucks and Amazon joins it (or Amazon alone)."""
    clients = []
    world_id = None
    if ups:
        first = await Client.open(Side.UPS, ports[Side.UPS], driver, None, TRUCKS, **options)
        world_id = first.world_id
        clients.append(first)
    clients.append(
        await Client.open(Side.AMAZON, ports[Side.AMAZON], driver, world_id, WAREHOUSES, **options)
    )
    for client in clients:
        client.set_simspeed(simspeed)
    return clients


# -- progress on stderr -------------------------------------------------------------------


async def wait_all(futures: list[asyncio.Future[None]], progress: Bar, count: Callable) -> None:
    async def follow() -> None:
        while True:
            progress.show(count())
            await asyncio.sleep(0.25)

    follower = asyncio.create_task(follow())
    try:
        await asyncio.gather(*futures)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        progress.close(count())


# -- 1. throughput -----------------------------------------------------------------------


@dataclass
class Throughput:
    commands: int
    seconds: float
    world_cpu: float
    client_cpu: float
    machine_cpu: float  # busy CPU seconds of the whole machine, all processes
    clients: list[Client]
    drivers: list[WorldDriver]
    recorder: Recorder

    @property
    def rate(self) -> float:
        return self.commands / self.seconds


async def measure_throughput(
    args: argparse.Namespace,
    directory: Path,
    name: str = "throughput",
    world_args: tuple[str, ...] = (),
    viewer: bool = False,
) -> Throughput:
    profile = Path(args.profile_world) if args.profile_world and not world_args else None
    world = WorldProcess(directory, name, profile, args=world_args)
    watching = None
    try:
        recorder = Recorder()
        drivers, clients = [], []
        options = {"window": args.window, "batch": args.batch, "recorder": recorder}
        for index in range(args.clients):
            driver = WorldDriver(seed=index, mix=Mix(buy=0.3, pack=0.2))
            drivers.append(driver)
            clients += await open_world(world.ports, driver, args.simspeed, **options)
        per_client = args.commands // len(clients)
        if viewer:
            assert world.dashboard is not None
            watching = asyncio.create_task(view_dashboard(world.dashboard, clients[0].world_id))
        world_cpu, client_cpu, machine_cpu = world.cpu(), own_cpu(), busy_cpu()
        start = time.perf_counter()
        futures = [client.run(per_client) for client in clients]
        progress = Bar("throughput", per_client * len(clients))
        await wait_all(futures, progress, lambda: sum(c.acked for c in clients))
        seconds = time.perf_counter() - start
        world_cpu, client_cpu = world.cpu() - world_cpu, own_cpu() - client_cpu
        machine_cpu = busy_cpu() - machine_cpu
        await asyncio.sleep(0.2)  # the last results and their acks
        for client in clients:
            client.close()
    finally:
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        world.stop()
    total = sum(client.acked for client in clients)
    return Throughput(
        total, seconds, world_cpu, client_cpu, machine_cpu, clients, drivers, recorder
    )


# -- 4. the dashboard's cost ----------------------------------------------------------------


async def http_get(url: str) -> bytes:
    """A GET with asyncio streams (the dashboard answers and closes)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"dashboard answered {head[:60]!r}")
    return body


async def view_dashboard(url: str, world_id: int) -> None:
    """What the dashboard page does while someone looks at one world: every second, the
    list of worlds, that world, and the log entries since the last look."""
    last = 0
    while True:
        await http_get(url + "api/worlds")
        await http_get(url + f"api/worlds/{world_id}")
        log = json.loads(await http_get(url + f"api/worlds/{world_id}/log?after={last}"))
        last = log["last_id"]
        await asyncio.sleep(1.0)


@dataclass
class DashboardCost:
    runs: dict[str, list[Throughput]]


DASHBOARD_MODES = {
    "dashboard off": ((), False),
    "on, nobody watching": (("--http-port", "0"), False),
    "on, a viewer": (("--http-port", "0"), True),
}


async def measure_dashboard(args: argparse.Namespace, directory: Path) -> DashboardCost:
    """The throughput run in each mode, the modes taking turns, ``--dashboard-rounds``
    times: a shared machine's load drifts, and turns spread the drift over all three."""
    runs: dict[str, list[Throughput]] = {mode: [] for mode in DASHBOARD_MODES}
    for round_number in range(args.dashboard_rounds):
        for mode, (world_args, viewer) in DASHBOARD_MODES.items():
            name = (
                f"dashboard-{round_number}-{len(runs[mode])}-{mode.split(',')[0].replace(' ', '-')}"
            )
            runs[mode].append(await measure_throughput(args, directory, name, world_args, viewer))
    return DashboardCost(runs)


def report_dashboard(cost: DashboardCost) -> None:
    print("\n4. The dashboard's cost: the throughput run with the dashboard off and on")
    print(
        "   (best of the rounds; CPU per sub-command is the figure a busy shared machine "
        "disturbs least)"
    )
    print(f"   {'':22} {'sub-commands/s':>16} {'world CPU per sub-command':>27}   change")
    base_rate = max(r.rate for r in cost.runs["dashboard off"])
    base_us = min(r.world_cpu / r.commands for r in cost.runs["dashboard off"]) * 1e6
    for mode, runs in cost.runs.items():
        best_rate = max(r.rate for r in runs)
        best_us = min(r.world_cpu / r.commands for r in runs) * 1e6
        change = (
            ""
            if mode == "dashboard off"
            else f"{best_rate / base_rate - 1:+.1%} rate, {best_us / base_us - 1:+.1%} CPU"
        )
        print(f"   {mode:22} {rate(best_rate)} {best_us:24.1f} us   {change}")
    print("   each round, sub-commands/s and world CPU per sub-command (the spread is the noise):")
    for mode, runs in cost.runs.items():
        each = ", ".join(f"{r.rate:,.0f}/s {r.world_cpu / r.commands * 1e6:.1f} us" for r in runs)
        print(f"   {mode:22} {each}")
    print("   (goal: at most 5 % fewer sub-commands/s with the dashboard on and nobody watching)")


# -- 2. the codec ceiling ------------------------------------------------------------------


@dataclass
class Ceiling:
    seconds: dict[str, float]  # per direction
    frames: dict[str, int]
    bytes: dict[str, int]

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def measure_ceiling(recorder: Recorder, repeats: int) -> Ceiling:
    """Serialize, frame, deframe and parse the recorded messages again, in memory."""
    streams = []
    for side in Side:
        dialect = DIALECTS[side]
        for label, kind, bodies in (
            (f"{dialect.commands.DESCRIPTOR.name}", dialect.commands, recorder.sent[side]),
            (f"{dialect.responses.DESCRIPTOR.name}", dialect.responses, recorder.received[side]),
        ):
            messages = []
            for body in bodies:
                message = kind()
                message.ParseFromString(body)
                messages.append(message)
            streams.append((label, kind, messages, sum(len(b) for b in bodies)))
    best: dict[str, float] = {}
    for _ in range(repeats):
        for label, kind, messages, _size in streams:
            elapsed = _codec_pass(kind, messages)
            best[label] = min(best.get(label, elapsed), elapsed)
    return Ceiling(
        best,
        {label: len(messages) for label, _, messages, _ in streams},
        {label: size for label, _, _, size in streams},
    )


def _codec_pass(kind: type[Message], messages: list[Message], chunk: int = 65536) -> float:
    """One pass: what sender and receiver do with these messages, minus the socket."""
    decoder = FrameDecoder()
    parsed = 0
    start = time.perf_counter()
    pending: list[bytes] = []
    size = 0
    for message in messages:
        frame = encode_frame(message.SerializeToString())
        pending.append(frame)
        size += len(frame)
        if size >= chunk:  # the receiver gets the stream in socket-sized reads
            for body in decoder.feed(b"".join(pending)):
                kind().ParseFromString(body)
                parsed += 1
            pending, size = [], 0
    for body in decoder.feed(b"".join(pending)):
        kind().ParseFromString(body)
        parsed += 1
    elapsed = time.perf_counter() - start
    assert parsed == len(messages)
    return elapsed


# -- 3. memory ---------------------------------------------------------------------------


@dataclass
class MemoryRun:
    warmup: int
    fresh_rss: int  # right after connecting, before the warm-up
    marks: list[int]
    rss: list[int]
    packages_before: int  # created during the warm-up
    packages: int  # created in all
    seconds: float
    driver: WorldDriver
    kinds: Counter[str]  # sub-commands sent after the warm-up


async def measure_memory(args: argparse.Namespace, directory: Path) -> MemoryRun:
    """RSS of one world process as ``--memory-commands`` go by, after a warm-up."""
    total = args.memory_commands
    marks = [round(total * f) for f in (0, 0.10, 0.25, 0.50, 0.75, 1.0)]
    world = WorldProcess(directory, "memory")
    try:
        driver = WorldDriver(seed=99, mix=Mix(buy=0.45, pack=0.05, pack_limit=args.pack_limit))
        acked = 0
        samples: list[int] = []

        def on_ack(count: int) -> None:
            nonlocal acked
            acked += count
            while samples and len(samples) < len(marks) and acked >= marks[len(samples)]:
                samples.append(world.rss())

        clients = await open_world(
            world.ports, driver, args.simspeed, window=args.window, batch=args.batch, on_ack=on_ack
        )
        await asyncio.sleep(0.2)
        fresh = world.rss()
        if args.memory_warmup:
            futures = [client.run(args.memory_warmup // len(clients)) for client in clients]
            await wait_all(futures, Bar("memory warm-up", args.memory_warmup), lambda: acked)
            await asyncio.sleep(0.2)
        acked, packages_before = 0, driver.packages
        kinds_before: Counter[str] = Counter()
        for client in clients:
            kinds_before.update(client.kinds)
        samples.append(world.rss())
        start = time.perf_counter()
        per_client = total // len(clients)
        futures = [client.run(per_client) for client in clients]
        await wait_all(futures, Bar("memory", per_client * len(clients)), lambda: acked)
        seconds = time.perf_counter() - start
        while len(samples) < len(marks):  # total not divisible by the clients
            samples.append(world.rss())
        kinds: Counter[str] = Counter()
        for client in clients:
            kinds.update(client.kinds)
            client.close()
    finally:
        world.stop()
    return MemoryRun(
        args.memory_warmup,
        fresh,
        marks,
        samples,
        packages_before,
        driver.packages,
        seconds,
        driver,
        kinds - kinds_before,
    )


@dataclass
class PackageCost:
    packages: int
    rss_before: int
    rss_after: int
    engine_bytes: float
    snapshot_seconds: float
    snapshot_bytes: int


async def measure_package_cost(args: argparse.Namespace, directory: Path) -> PackageCost:
    """RSS of a world process before and after ``--package-count`` packs, all acked."""
    count = args.package_count
    world = WorldProcess(directory, "packages")
    try:
        driver = PackDriver()
        (client,) = await open_world(
            world.ports, driver, args.simspeed, ups=False, window=args.window, batch=args.batch
        )
        # Stock for every pack, and enough traffic to warm the allocator and SQLite's cache.
        buys = max(count // 1000 + 1, 2000)
        await asyncio.wait_for(client.run(buys), 60)
        await _settle(lambda: driver.results["arrived"] >= buys)
        before = world.rss()
        driver.packing = True
        await wait_all([client.run(count)], Bar("packages", count), lambda: client.acked - buys)
        await _settle(lambda: driver.results["ready"] >= count)
        after = world.rss()
        if driver.errors:
            print(f"  pack errors: {driver.errors}", file=sys.stderr)
        client.close()
    finally:
        world.stop()
    return PackageCost(count, before, after, *engine_cost(count, directory))


async def _settle(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``condition``, then a little longer so the world has our last acks."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)


def engine_cost(count: int, directory: Path) -> tuple[float, float, int]:
    """The engine alone, in this process, with ``count`` more packages: Python memory per
    package (tracemalloc), and how long a journal snapshot of it takes and weighs."""
    now = time.time()
    engine = WorldEngine()
    engine.connect(
        Side.AMAZON, wa.AConnect(isAmazon=True, initwh=[wa.AInitWarehouse(id=1, x=0, y=0)]), now
    )
    seqnum = 0

    def run(commands: wa.ACommands) -> None:
        nonlocal now
        engine.handle(1, Side.AMAZON, commands, now)
        now += 100.0
        engine.advance(now)
        responses = engine.responses(1, Side.AMAZON, now)
        if responses is not None:
            seqnums = [r.seqnum for r in responses.arrived] + [r.seqnum for r in responses.ready]
            engine.handle(1, Side.AMAZON, wa.ACommands(acks=seqnums), now)
            engine.responses(1, Side.AMAZON, now)

    def packs(first: int, last: int) -> None:
        nonlocal seqnum
        for start in range(first, last, 100):
            commands = wa.ACommands()
            for shipid in range(start, min(start + 100, last)):
                seqnum += 1
                product = wa.AProduct(id=1, description=PRODUCTS[1], count=1)
                commands.topack.add(whnum=1, things=[product], shipid=shipid, seqnum=seqnum)
            run(commands)

    seqnum += 1
    buy = wa.APurchaseMore(whnum=1, seqnum=seqnum)
    buy.things.add(id=1, description=PRODUCTS[1], count=10 * count + 1000)
    run(wa.ACommands(buy=[buy], simspeed=100_000))
    packs(1, 1001)  # warm-up: the first packages grow containers from empty
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    packs(1001, 1001 + count)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(engine.worlds[1].packages) == count + 1000
    path = directory / "snapshot.sqlite3"
    journal = Journal(path)
    start = time.perf_counter()
    journal.snapshot(engine)
    seconds = time.perf_counter() - start
    journal.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        (size,) = db.execute("SELECT length(engine) FROM snapshot").fetchone()
    return (after - before) / count, seconds, size


# -- profile of the world process ------------------------------------------------------------


def print_profile(path: Path, lines: int = 25) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    print(f"\nProfile of the world process (cProfile, {path}), by own time:")
    stats.sort_stats("tottime").print_stats(lines)
    print("By cumulative time:")
    stats.sort_stats("cumulative").print_stats(lines)


# -- report ----------------------------------------------------------------------------------


def machine() -> str:
    return (
        f"{cpus()}; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()} "
        f"({platform.python_implementation()}); protobuf {protobuf_version} "
        f"({api_implementation.Type()}); SQLite {sqlite3.sqlite_version}"
    )


def rate(value: float) -> str:
    return f"{value:>10,.0f}/s"


def report_throughput(result: Throughput, ceiling: Ceiling) -> None:
    clients = result.clients
    sent = sum(c.items_sent for c in clients)
    messages_up = sum(c.messages_sent for c in clients)
    messages_down = sum(c.messages_received for c in clients)
    kinds: Counter[str] = Counter()
    for client in clients:
        kinds.update(client.kinds)
    results: Counter[str] = Counter()
    for driver in result.drivers:
        results.update(driver.results)
    copies = sum(c.copies for c in clients)
    unique = sum(results.values())
    errors = [e for d in result.drivers for e in d.errors]
    packages = sum(d.packages for d in result.drivers)
    print("\n1. Throughput over loopback (world in its own process)")
    print(
        f"   {result.commands:,} sub-commands acked in {result.seconds:.2f} s: "
        f"{rate(result.rate)} sub-commands"
    )
    print(
        f"   {messages_up:,} commands messages up ({result.commands / messages_up:.1f} "
        f"sub-commands each), {messages_down:,} responses messages down "
        f"({messages_down / result.seconds:,.0f}/s)"
    )
    print(f"   sent: {', '.join(f'{k} {v:,}' for k, v in kinds.most_common())}")
    print(f"   re-sent by the clients (unacked for {RESEND.first} s): {sent - result.commands:,}")
    longest = max(c.longest_wait for c in clients)
    print(f"   longest wait for acks on a connection: {longest * 1000:.0f} ms")
    print(
        f"   results: {unique:,} ({', '.join(f'{k} {v:,}' for k, v in results.most_common())}); "
        f"repeats received (world re-sends): {copies - unique:,}"
    )
    delivered = results["delivered"]
    print(f"   packages created: {packages:,}, delivered: {delivered:,}; errors: {len(errors)}")
    for error in errors[:3]:
        print(f"     e.g. {error}")
    world_load = result.world_cpu / result.seconds
    client_load = result.client_cpu / result.seconds
    cores = psutil.cpu_count() or 1
    others = max(0.0, result.machine_cpu - result.world_cpu - result.client_cpu) / result.seconds
    print(
        f"   CPU: world process {world_load:.0%} of a core, client process {client_load:.0%}, "
        f"other processes {others:.0%} (machine: {cores} cores)"
    )
    world_us = result.world_cpu / result.commands * 1e6
    client_us = result.client_cpu / result.commands * 1e6
    print(
        f"   CPU per sub-command: world {world_us:.1f} us (a whole core would serve "
        f"{1e6 / world_us:,.0f}/s), clients {client_us:.1f} us"
    )
    if world_load >= 0.85 and world_load >= client_load:
        verdict = "the world process: its core is saturated"
    elif client_load >= 0.85:
        verdict = "the client process (run the clients in more processes to push further)"
    elif world_load + client_load + others >= 0.85 * cores:
        verdict = (
            "the machine: all its cores are busy, so the world gets only part of one; "
            "the world's CPU per sub-command is the figure to compare"
        )
    else:
        verdict = "neither side is saturated: latency/window bound (try a larger --window)"
    print(f"   bottleneck: {verdict}")

    print("\n2. Ceiling: the same frames, only encoded and decoded, in one process")
    for label, seconds in ceiling.seconds.items():
        frames, size = ceiling.frames[label], ceiling.bytes[label] / MiB
        print(f"   {label:<11} {frames:>8,} frames {size:7.2f} MiB  {seconds * 1000:8.1f} ms")
    ceiling_rate = result.commands / ceiling.total
    print(f"   all four ways: {ceiling.total * 1000:.1f} ms for {result.commands:,} sub-commands")
    print("\n   side by side")
    print(f"   served by the world: {rate(result.rate)} sub-commands")
    print(f"   codec ceiling:       {rate(ceiling_rate)} sub-commands")
    print(
        f"   ratio:               {result.rate / ceiling_rate:10.1%} of the ceiling "
        f"(the ceiling is {ceiling_rate / result.rate:.1f}x)"
    )


def report_memory(run: MemoryRun, cost: PackageCost) -> None:
    commands = run.marks[-1]
    print(f"\n3. Memory: {commands:,} sub-commands against one world process")
    print(f"   {run.driver.mix.describe()}; UPS: pickups/deliveries as needed, the rest queries")
    print(f"   sent: {', '.join(f'{k} {v:,}' for k, v in run.kinds.most_common())}")
    print(
        f"   {commands / run.seconds:,.0f} sub-commands/s; packages created: {run.packages:,} "
        f"in all ({run.packages - run.packages_before:,} after the warm-up), kept forever; "
        f"delivered: {run.driver.results['delivered']:,}; errors: {len(run.driver.errors)}"
    )
    print(
        f"   warm-up: {run.warmup:,} sub-commands took the RSS from {run.fresh_rss / MiB:.1f} to "
        f"{run.rss[0] / MiB:.1f} MiB (SQLite's page cache and allocator arenas fill up first)"
    )
    print("   sub-commands    world RSS   change since previous mark   per 10k")
    previous, previous_mark = run.rss[0], 0
    for mark, rss in zip(run.marks, run.rss, strict=True):
        change = (rss - previous) / MiB
        per = f"{change * 10_000 / (mark - previous_mark):+8.3f} MiB" if mark else ""
        print(f"   {mark:>12,}  {rss / MiB:8.1f} MiB  {change:+18.2f} MiB       {per}")
        previous, previous_mark = rss, mark
    whole = (run.rss[-1] - run.rss[0]) / MiB * 10_000 / commands
    steady_span = run.marks[-1] - run.marks[2]
    steady = (run.rss[-1] - run.rss[2]) / MiB * 10_000 / steady_span
    print(
        f"   growth per 10k sub-commands: {whole:+.3f} MiB over the run, "
        f"{steady:+.3f} MiB from {run.marks[2]:,} on"
    )
    flat = abs(whole) <= FLAT_MIB_PER_10K
    print(
        f"   verdict: {'flat' if flat else 'GROWING'} "
        f"(limit: {FLAT_MIB_PER_10K} MiB per 10k sub-commands, about "
        f"{FLAT_MIB_PER_10K * MiB / 10_000:.0f} bytes each)"
    )
    print(f"\n   bytes per package ({cost.packages:,} packages packed and acked):")
    grown = cost.rss_after - cost.rss_before
    print(
        f"   world RSS {cost.rss_before / MiB:.1f} -> {cost.rss_after / MiB:.1f} MiB: "
        f"{grown / cost.packages:,.0f} bytes per package"
    )
    print(f"   engine alone (tracemalloc, in this process): {cost.engine_bytes:,.0f} bytes")
    packages = cost.packages + 1000
    print(
        f"   journal snapshot of that engine ({packages:,} packages): "
        f"{cost.snapshot_seconds * 1000:.0f} ms, {cost.snapshot_bytes / packages:.0f} bytes "
        f"per package; the world stalls that long every "
        f"{max(ServerConfig().snapshot_every, packages):,} journal entries "
        f"(the larger of {ServerConfig().snapshot_every:,} and the worlds' size)"
    )


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients",
        type=int,
        default=4,
        help="worlds in the throughput run, each with a UPS and an Amazon connection (default 4)",
    )
    parser.add_argument(
        "--commands", type=int, help="sub-commands in the throughput run (default 500000)"
    )
    parser.add_argument("--window", type=int, default=200, help="unacked sub-commands per client")
    parser.add_argument("--batch", type=int, default=20, help="sub-commands per commands message")
    parser.add_argument("--simspeed", type=int, default=100_000, help="simspeed of every world")
    parser.add_argument(
        "--memory-commands", type=int, help="sub-commands in the memory run (default 100000)"
    )
    parser.add_argument(
        "--memory-warmup",
        type=int,
        default=150_000,
        help="sub-commands before the memory run's first sample (default 150000)",
    )
    parser.add_argument(
        "--pack-limit", type=int, default=1000, help="packages created in the memory run"
    )
    parser.add_argument(
        "--package-count", type=int, help="packages for bytes per package (default 50000)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs, under 20 s")
    parser.add_argument(
        "--profile-world",
        metavar="FILE",
        help="run the throughput world under cProfile, save to FILE and print the top",
    )
    parser.add_argument("--skip-memory", action="store_true", help="only throughput and ceiling")
    parser.add_argument(
        "--dashboard-rounds",
        type=int,
        default=2,
        help="rounds of the dashboard's cost (off / on / on with a viewer); 0 skips it",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.commands is None:
        args.commands = 100_000 if quick else 500_000
    if args.memory_commands is None:
        args.memory_commands = 100_000
    if args.package_count is None:
        args.package_count = 10_000 if quick else 50_000
    if args.clients < 1 or args.window < 1 or args.batch < 1 or args.window < args.batch:
        parser.error("need --clients >= 1 and --window >= --batch >= 1")
    return args


async def main_async(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    print(
        f"parameters: {args.clients} worlds x (UPS + Amazon) = {2 * args.clients} connections, "
        f"{args.commands:,} sub-commands, window {args.window}, batch {args.batch}, "
        f"simspeed {args.simspeed:,}; memory run {args.memory_commands:,} sub-commands "
        f"after {args.memory_warmup:,} of warm-up, "
        f"at most {args.pack_limit:,} packages; {args.package_count:,} packages for bytes "
        f"per package{' (--quick)' if args.quick else ''}"
    )
    print(f"throughput mix: {Mix(buy=0.3, pack=0.2).describe()}, loads as trucks arrive")
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="world-bench-") as tmp:
        directory = Path(tmp)
        throughput = await measure_throughput(args, directory)
        ceiling = measure_ceiling(throughput.recorder, repeats=3)
        report_throughput(throughput, ceiling)
        sys.stdout.flush()
        if args.profile_world:
            print_profile(Path(args.profile_world))
        if not args.skip_memory:
            memory = await measure_memory(args, directory)
            cost = await measure_package_cost(args, directory)
            report_memory(memory, cost)
        if args.dashboard_rounds:
            report_dashboard(await measure_dashboard(args, directory))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\n(benchmark took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
