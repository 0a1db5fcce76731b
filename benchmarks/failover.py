"""How long a side of the system is silent when its active daemon is killed (kill -9) and
its standby takes over, on PostgreSQL, while orders flow; and whether every order is
still delivered exactly once.

    .venv/bin/python benchmarks/failover.py [--kills N] [--cold N] [--rate R] [--gap S]
        [--simspeed S] [--trucks T] [--var DIR] [--quick]

1. Fresh PostgreSQL databases for Amazon and UPS (on the server at TEST_POSTGRES_URL,
   default 127.0.0.1:5432; migrated, demo data), a world, the store's web site, and two
   daemon processes per side (``amazon-ups amazon daemon``, ``amazon-ups ups daemon``,
   with the environment ``amazon-ups up`` gives its own), all on 127.0.0.1: one leads
   (common/daemon/lead.py), the other stands by. Both UPS daemons have the same UPS_PORT:
   only the leader listens on it.
2. Every daemon reaches its peers through a recording proxy of this benchmark: the
   world's two ports, and UPS's port for Amazon. The proxies time the first bytes of each
   new connection and its first frames both ways, and read what the world tells the
   daemons (``UDeliveryMade``, ``APacked``): the figures below are what went over the
   wire, not what the daemons say of themselves. Whose a connection is, psutil tells
   (the process that owns its port).
3. Shoppers place orders over HTTP at ``--rate`` per second from start to end.
4. Baseline, ``--cold`` times per side: the standby is stopped, the only daemon is killed
   and started again at once, as a supervisor would: a restart without a standby.
5. Failover, ``--kills`` times per side, the sides taking turns, each after a random
   pause of up to ``--gap`` seconds: kill -9 of the side's active daemon (the live process
   whose ``DaemonProcess`` row says active, checked to hold the world's connection); a
   replacement is started at once, as a supervisor would, so that two run again; the
   next kill waits until one leads and one stands by (usually the standby leads and the
   replacement stands by; a replacement that tries before the standby's next poll may win
   the lead instead, and is told of). Measured from the kill: the new leader's first
   bytes on a connection of its own (its connect to the world, or for Amazon to UPS,
   whichever comes first): "the first message sent", goal at most 2 s; its first frame to
   the world after the connect handshake (its first command or ack); and the Amazon-UPS
   link's handshake done again (UPS's last handshake frame: orders can go between the
   companies again; after a UPS kill, Amazon's reconnect backoff counts too).
6. Exactly once: the orders stop, every order placed must be delivered, with one delivery
   each in Amazon's database (one ``delivered`` event), in UPS's (one package per order,
   one ``delivered`` event), and in the world's own words (one ``UDeliveryMade`` seqnum
   per package, one ``APacked`` per order), no dead letters and both outboxes acked.
   Exits non-zero otherwise.

Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from amazon_ups import supervisor  # noqa: E402
from amazon_ups.cli import build_parser  # noqa: E402
from amazon_ups.protocol import world_amazon_pb2 as wa  # noqa: E402
from amazon_ups.protocol import world_ups_pb2 as wu  # noqa: E402
from amazon_ups.protocol.framing import FrameDecoder, FramingError  # noqa: E402
from amazon_ups.protocol.world_messages import Side as WorldSide  # noqa: E402
from amazon_ups.testing import postgres  # noqa: E402
from amazon_ups.testing.system import Browser, System, free_ports  # noqa: E402
from amazon_ups.testing.waiting import wait_until  # noqa: E402
from benchmarks.common.report import Bar, machine, ms, percentile  # noqa: E402
from benchmarks.common.shop import Placing, client, log_in, order_plan  # noqa: E402
from benchmarks.common.system import doing, postgres_or_none, postgres_version  # noqa: E402
from benchmarks.common.world import WorldProcess  # noqa: E402

GOAL = 2.0  # seconds from the kill to the new leader's first message
SIDES = ("ups", "amazon")  # UPS first: it makes the world and tells Amazon
STANDBY_POLL = 0.5  # common/daemon/lead.py's (which needs Django set up to import)
LOOK = 0.02  # seconds between looks while a takeover is awaited
STALL = 10.0  # seconds of waiting after which what every daemon does is told
LINK_WAIT = 60.0  # seconds a kill waits for the Amazon-UPS link up again before going on
DEAD_LETTERS = "SELECT count(*) FROM messaging_deadletter WHERE state = 'open'"


def say(text: str) -> None:
    """A progress line on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- the recording proxies -------------------------------------------------------------


@dataclass
class Connection:
    """One connection through a proxy, as seen from outside: when it came, when its
    client first sent bytes, when each of its first frames (client to server) was whole."""

    proxy: str
    accepted: float  # time.monotonic()
    client_port: int
    first_bytes: float | None = None
    frames: list[float] = field(default_factory=list)  # the first FRAMES_KEPT, whole
    answers: list[float] = field(default_factory=list)  # the same, server to client
    refused: bool = False  # nothing listened behind the proxy
    closed: float | None = None

    FRAMES_KEPT = 2


class Proxy:
    """Listens on a free port of 127.0.0.1 and forwards each connection to ``target``,
    recording it (``Connection``). ``results``: read the server's answers as the world's
    (its connected message, then responses of that type) and keep, per package, the
    seqnums of the results named in ``fields`` (e.g. ``delivered``)."""

    def __init__(
        self,
        name: str,
        target: int,
        results: type[wu.UResponses] | type[wa.AResponses] | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.target = target
        self.results = results
        self.fields = fields
        self.lock = threading.Lock()
        self.connections: list[Connection] = []
        # field -> package id -> the seqnums the world gave those results
        self.seen: dict[str, dict[int, set[int]]] = {name: defaultdict(set) for name in fields}
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name=f"proxy {name}").start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def since(self, moment: float) -> list[Connection]:
        with self.lock:
            return [c for c in self.connections if c.accepted >= moment]

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self.listener.accept()
            except OSError:
                return  # closed
            connection = Connection(self.name, time.monotonic(), address[1])
            with self.lock:
                self.connections.append(connection)
            threading.Thread(target=self._serve, args=(sock, connection), daemon=True).start()

    def _serve(self, client_sock: socket.socket, connection: Connection) -> None:
        try:
            server_sock = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            connection.refused = True
            connection.closed = time.monotonic()
            client_sock.close()
            return
        server_sock.settimeout(None)
        for sock in (client_sock, server_sock):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        down = threading.Thread(
            target=self._pump, args=(server_sock, client_sock, connection, False), daemon=True
        )
        down.start()
        self._pump(client_sock, server_sock, connection, True)
        down.join()
        connection.closed = time.monotonic()
        client_sock.close()
        server_sock.close()

    def _pump(
        self, source: socket.socket, sink: socket.socket, connection: Connection, up: bool
    ) -> None:
        """Bytes from ``source`` to ``sink`` until either end closes; then both close."""
        frames = FrameDecoder()
        kept = connection.frames if up else connection.answers
        reading = True
        answers = 0
        try:
            while data := source.recv(65536):
                now = time.monotonic()
                if up and connection.first_bytes is None:
                    connection.first_bytes = now
                sink.sendall(data)
                if not reading:
                    continue
                try:
                    bodies = frames.feed(data)
                except FramingError:
                    reading = False
                    continue
                kept += [now] * min(len(bodies), Connection.FRAMES_KEPT - len(kept))
                if up or self.results is None:
                    reading = len(kept) < Connection.FRAMES_KEPT
                    continue
                for body in bodies:
                    answers += 1
                    if answers > 1:  # the first is the world's connected message
                        self._record(body)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _record(self, body: bytes) -> None:
        assert self.results is not None
        message = self.results()
        try:
            message.ParseFromString(body)
        except Exception:
            return  # not the world's responses: nothing to count
        with self.lock:
            for name in self.fields:
                for result in getattr(message, name):
                    package = result.packageid if name == "delivered" else result.shipid
                    self.seen[name][package].add(result.seqnum)


# -- the databases, looked at from outside -------------------------------------------------


class Database:
    """One autocommit connection to a project's database, for many small looks."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.connection = psycopg.connect(url, autocommit=True)
        self.lock = threading.Lock()

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        with self.lock:
            return self.connection.execute(sql, params).fetchall()

    def close(self) -> None:
        self.connection.close()


# -- the daemons of one side ----------------------------------------------------------------


@dataclass
class Takeover:
    """One kill -9 (or cold restart) and what followed, in seconds after the kill."""

    side: str
    killed: int  # pid
    first_message: float  # the new leader's first bytes on a connection of its own
    first_command: float  # its first frame to the world after the connect handshake
    # the Amazon-UPS link's handshake done again (UPS's LinkWelcome); None: not within
    # LINK_WAIT (the run goes on: the link's own retries may still bring it back)
    link_again: float | None
    by: int | None  # the pid that sent them (psutil: the owner of the connection's port)
    via: str  # the proxy of that first connection
    was_standby: bool  # whether that pid stood by before the kill
    # kill -> one leads and one stands by again (their rows): the replacement stands by,
    # or, when it won the lead before the standby's next try, the standby still does
    replacement_ready: float = 0.0
    held_world: bool = True  # the pid killed held the world's connection (psutil)


class Side:
    """The daemon processes of one side (all started here, each with its log file)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        database: Database,
        proxies: list[Proxy],
        link: Proxy,
        logs: Path,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.database = database
        self.proxies = proxies  # the connections this side's daemons make, the world's first
        self.link = link  # the Amazon-UPS link's
        self.logs = logs
        self.procs: list[subprocess.Popen] = []
        self.log_files: dict[int, Path] = {}
        self.ended: set[int] = set()  # the pids this benchmark killed or stopped
        self.replaced: set[int] = set()  # the pids that exited by themselves, replaced
        self.everyone: list[Side] = [self]  # both sides, for a report of a stall

    def start(self) -> subprocess.Popen:
        path = self.logs / f"{self.name}-daemon-{len(self.procs) + 1}.log"
        with path.open("ab") as log:
            proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our Ctrl-C is not theirs: stopped in stop()
            )
        # Named by its pid too, which the progress lines give (it writes on the same file).
        path = path.rename(path.with_name(f"{path.stem}-pid{proc.pid}.log"))
        self.procs.append(proc)
        self.log_files[proc.pid] = path
        return proc

    def live(self) -> dict[int, subprocess.Popen]:
        return {proc.pid: proc for proc in self.procs if proc.poll() is None}

    def roles(self) -> dict[int, str]:
        """The role each live daemon of ours gives itself (rows of killed ones stay)."""
        live = list(self.live())
        if not live:
            return {}
        rows = self.database.rows(
            "SELECT pid, role FROM messaging_daemonprocess "
            "WHERE name = %s AND host = %s AND pid = ANY(%s)",
            [self.name, socket.gethostname(), live],
        )
        return {pid: role for pid, role in rows if pid in self.live()}

    def settled(self) -> tuple[int, int] | None:
        """(leader, standby) when exactly one leads and one stands by, else None."""
        roles = self.roles()
        active = [pid for pid, role in roles.items() if role == "active"]
        standby = [pid for pid, role in roles.items() if role == "standby"]
        if len(roles) == 2 and len(active) == 1 and len(standby) == 1:
            return active[0], standby[0]
        return None

    def kill(self, pid: int) -> float:
        """kill -9; returns the moment (time.monotonic()) it was sent."""
        proc = self.live()[pid]
        self.ended.add(pid)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return killed_at

    def stop_one(self, pid: int, timeout: float = 30.0) -> None:
        proc = self.live()[pid]
        self.ended.add(pid)
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for proc in self.live().values():
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def crashed(self) -> list[subprocess.Popen]:
        """The daemons that exited without being killed or stopped here."""
        return [p for p in self.procs if p.poll() is not None and p.pid not in self.ended]

    def supervise(self) -> None:
        """As a supervisor would: a daemon that exited by itself is started again (and
        told of, with its last lines)."""
        for proc in self.crashed():
            if proc.pid in self.replaced:
                continue
            self.replaced.add(proc.pid)
            again = self.start()
            say(
                f"  {self.name} daemon pid {proc.pid} EXITED BY ITSELF ({proc.returncode}); "
                f"started pid {again.pid}; its last lines:\n{self.last_words(pid=proc.pid)}"
            )

    def watching(self, condition: Callable[[], Any]) -> Callable[[], Any]:
        """``condition``, looked at while supervising."""

        def look() -> Any:
            self.supervise()
            return condition()

        return look

    def owner(self, port: int) -> int | None:
        """The live daemon of ours whose socket has local port ``port``."""
        for pid in self.live():
            with contextlib.suppress(psutil.Error):
                for found in psutil.Process(pid).net_connections(kind="tcp"):
                    if found.laddr and found.laddr.port == port:
                        return pid
        return None

    def first_connection(self, since: float) -> Connection | None:
        """The first connection of this side's daemons after ``since`` that carried
        bytes from the daemon: the first message sent."""
        started = [c for proxy in self.proxies for c in proxy.since(since) if c.first_bytes]
        return min(started, key=lambda c: c.first_bytes or 0.0, default=None)

    def first_command(self, since: float) -> Connection | None:
        """The first connection to the world after ``since`` past its handshake."""
        world = self.proxies[0]
        done = [c for c in world.since(since) if len(c.frames) >= Connection.FRAMES_KEPT]
        return min(done, key=lambda c: c.frames[1], default=None)

    def link_again(self, since: float) -> Connection | None:
        """The first Amazon-UPS connection after ``since`` whose handshake was done."""
        done = [c for c in self.link.since(since) if len(c.answers) >= Connection.FRAMES_KEPT]
        return min(done, key=lambda c: c.answers[1], default=None)

    def world_owner(self) -> int | None:
        """The daemon of ours whose connection to the world is open, seen from outside."""
        world = self.proxies[0]
        with world.lock:
            open_now = [c for c in world.connections if c.closed is None]
        return self.owner(open_now[-1].client_port) if open_now else None

    def last_words(self, lines: int = 15, pid: int | None = None) -> str:
        """The last lines of each daemon's log (of ``pid``'s alone, if given)."""
        shown = []
        for which, path in self.log_files.items():
            if pid is not None and which != pid:
                continue
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                shown.append(f"  -- {self.name} daemon pid {which} ({path}):")
                shown += [f"     {line}" for line in tail]
        return "\n".join(shown)


def stall_report(sides: list[Side]) -> str:
    """What every daemon is doing (the system call it sleeps in) and what each of their
    database sessions is doing or waiting for (pg_stat_activity)."""
    lines = []
    for side in sides:
        roles = side.roles()
        for pid in side.live():
            with contextlib.suppress(OSError):
                lines.append(f"    {side.name} daemon pid {pid} ({roles.get(pid)}): {doing(pid)}")
        rows = side.database.rows(
            "SELECT client_port, state, wait_event_type, wait_event, "
            "round(extract(epoch FROM now() - xact_start)::numeric, 1), left(query, 120) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        for port, state, kind, event, age, sql in rows:
            owner = side.owner(port) if port else None
            lines.append(
                f"    {side.name} database, session of pid {owner} (port {port}): {state}, "
                f"waiting for {kind}/{event}, transaction {age} s old: {sql!r}"
            )
    return "\n".join(lines)


def patiently(condition: Callable[[], Any], timeout: float, what: str, side: Side) -> Any:
    """``wait_until``, telling what everything is doing when it takes over STALL s."""
    try:
        return wait_until(side.watching(condition), min(STALL, timeout), what, every=LOOK)
    except AssertionError:
        if timeout <= STALL:
            raise
    say(f"  STALLED: {STALL:g} s waiting for {what}:\n{stall_report(side.everyone)}")
    return wait_until(side.watching(condition), timeout - STALL, what, every=LOOK)


def takeover(side: Side, killed: int, killed_at: float, standby: int | None) -> Takeover:
    """Wait for the new leader's first message and first command to the world after the
    kill at ``killed_at``; whose they were."""
    first = patiently(
        lambda: side.first_connection(killed_at),
        30,
        f"the new {side.name} leader's first message",
        side,
    )
    by = side.owner(first.client_port)
    if by is None:  # that connection is gone already: whose are the others since the kill
        mine = [c for proxy in side.proxies for c in proxy.since(killed_at) if c.closed is None]
        by = next(filter(None, (side.owner(c.client_port) for c in mine)), None)
    command = patiently(
        lambda: side.first_command(killed_at),
        30,
        f"the new {side.name} leader's first command to the world",
        side,
    )
    try:
        link = patiently(
            lambda: side.link_again(killed_at), LINK_WAIT, "the Amazon-UPS link up again", side
        )
    except AssertionError:
        say(f"  the Amazon-UPS link was NOT up again {LINK_WAIT:g} s after the kill")
        link = None
    assert first.first_bytes is not None
    return Takeover(
        side=side.name,
        killed=killed,
        first_message=first.first_bytes - killed_at,
        first_command=command.frames[1] - killed_at,
        link_again=None if link is None else link.answers[1] - killed_at,
        by=by,
        via=first.proxy,
        was_standby=by is not None and by == standby,
    )


def settle(sides: list[Side], timeout: float = 120.0) -> None:
    """Until every side has one leader and one standby."""
    for side in sides:
        wait_until(
            side.watching(side.settled),
            timeout,
            f"one {side.name} daemon to lead and one to stand by",
        )


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    cold: list[Takeover] = field(default_factory=list)
    failovers: list[Takeover] = field(default_factory=list)
    placed: list[int] = field(default_factory=list)
    placed_while_killing: int = 0
    errors: list[str] = field(default_factory=list)  # orders that could not be placed
    statuses: dict[str, int] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, ok, detail)
    health: set[str] = field(default_factory=set)  # the checks that are not of exactly once
    problem: str = ""
    waited: float = 0.0  # seconds from the last order placed to the last delivered

    def check(self, what: str, ok: bool, detail: str = "", once: bool = True) -> None:
        """``once``: a check of exactly once; else of the daemons' health."""
        self.checks.append((what, ok, detail))
        if not once:
            self.health.add(what)

    @property
    def exactly_once(self) -> bool:
        once = [ok for what, ok, _ in self.checks if what not in self.health]
        return bool(once) and all(once)

    @property
    def healthy(self) -> bool:
        return all(ok for what, ok, _ in self.checks if what in self.health)


def prepare(project: str, argv: list[str], env: dict[str, str], log: Path) -> None:
    """Migrate and load the demo data, as ``amazon-ups up`` does."""
    for command in (["migrate", "--no-input", "-v", "0"], ["seed_demo"]):
        done = subprocess.run([*argv, project, *command], env=env, capture_output=True, text=True)
        with log.open("a") as file:
            file.write(f"== {project} {' '.join(command)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise RuntimeError(f"{project} {command[0]} failed: {done.stderr[-2000:]}")


def answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def web_site(argv: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    with log.open("ab") as file:
        proc = subprocess.Popen(
            argv, env=env, stdout=file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until(
            lambda: proc.poll() is not None or answers(f"http://127.0.0.1:{port}/healthz"),
            60,
            "the store's web site",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"the store's web site exited: {log.read_text()[-2000:]}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Orders:
    """Shoppers placing orders at a steady rate, from ``start`` until ``stop``."""

    PLAN = 100_000  # more than any run places: the run stops the placing

    def __init__(self, shoppers: list[Browser], products: list[str], rate: float, seed: int):
        self.placing = Placing(order_plan(self.PLAN, products, seed), rate=rate)
        self.threads = [
            threading.Thread(target=client, args=(shopper, self.placing), daemon=True)
            for shopper in shoppers
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def placed(self) -> int:
        with self.placing.lock:
            return len(self.placing.placed)

    def ids(self) -> list[int]:
        with self.placing.lock:
            return list(self.placing.placed)

    def stop(self) -> None:
        self.placing.stop.set()
        for thread in self.threads:
            thread.join(60)


def delivered_count(amazon: Database, ids: list[int]) -> dict[str, int]:
    rows = amazon.rows(
        "SELECT status, count(*) FROM orders_order WHERE id = ANY(%s) GROUP BY status", [ids]
    )
    return dict(rows)


def run(args: argparse.Namespace, var: Path, urls: dict[str, str], outcome: Outcome) -> None:
    logs = var / "log"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        world = WorldProcess(var, "world")
        stack.callback(world.stop)
        world_ups = Proxy("world (UPS)", world.ports[WorldSide.UPS], wu.UResponses, ("delivered",))
        world_amazon = Proxy(
            "world (Amazon)", world.ports[WorldSide.AMAZON], wa.AResponses, ("ready",)
        )
        au_port, web_port = free_ports(2)  # different: neither is listening yet
        au = Proxy("UPS (Amazon)", au_port)
        for proxy in (world_ups, world_amazon, au):
            stack.callback(proxy.close)
        up = build_parser().parse_args(
            [
                "up",
                "--var",
                str(var),
                "--no-world",
                "--world-ups-port",
                str(world_ups.port),
                "--world-amazon-port",
                str(world_amazon.port),
                "--au-port",
                str(au_port),
                "--amazon-port",
                str(web_port),
                "--amazon-db",
                urls["amazon"],
                "--ups-db",
                urls["ups"],
                "--simspeed",
                str(args.simspeed),
                "--trucks",
                str(args.trucks),
                "--workers",
                "1",
            ]
        )
        children = {child.name: child for child in supervisor.build_children(up)}
        for child in children.values():
            child.env.pop("DJANGO_SETTINGS_MODULE", None)  # each its own project's
        me = children["ups-d"].argv[:3]  # python -m amazon_ups.cli
        amazon_env = {**children["amzn-d"].env, "UPS_PORT": str(au.port)}  # through the proxy
        say("  preparing the databases (migrate, demo data)")
        prepare("ups", me, children["ups-d"].env, logs / "prepare.log")
        prepare("amazon", me, amazon_env, logs / "prepare.log")
        stack.enter_context(
            web_site(children["amazon"].argv, amazon_env, web_port, logs / "amazon-web.log")
        )
        databases = {name: Database(url) for name, url in urls.items()}
        for database in databases.values():
            stack.callback(database.close)
        sides = {
            "ups": Side(
                "ups", children["ups-d"].argv, children["ups-d"].env, databases["ups"],
                [world_ups], au, logs,
            ),
            "amazon": Side(
                "amazon", children["amzn-d"].argv, amazon_env, databases["amazon"],
                [world_amazon, au], au, logs,
            ),
        }  # fmt: skip
        for side in sides.values():
            side.everyone = list(sides.values())
            stack.callback(side.stop_all)
        say("  starting two daemons per side")
        for name in SIDES:
            sides[name].start()
            sides[name].start()
        try:
            settle(list(sides.values()))
        except AssertionError:
            say("\n".join(side.last_words() for side in sides.values()))
            raise
        shoppers, products = log_in(System(var, ports={"amazon": web_port}), args.clients)
        orders = Orders(shoppers, products, args.rate, args.seed)
        stack.callback(orders.stop)
        orders.start()
        wait_until(
            lambda: delivered_count(databases["amazon"], orders.ids()).get("delivered"),
            120,
            "the first order delivered",
        )
        say(f"  the first order is delivered; orders flow at {args.rate:g}/s")
        try:
            measure(args, sides, orders, outcome)
        except Exception:
            say("\n".join(side.last_words() for side in sides.values()))
            raise
        orders.stop()
        outcome.placed = list(orders.placing.placed)
        outcome.errors = list(orders.placing.errors)
        wait_for_orders(args, databases["amazon"], outcome)
        check(outcome, databases, world_ups, world_amazon)
        for side in sides.values():
            crashed = side.crashed()
            outcome.check(
                f"no {side.name} daemon exited by itself",
                not crashed,
                ", ".join(f"pid {p.pid} exited {p.returncode}" for p in crashed),
                once=False,
            )


def measure(args: argparse.Namespace, sides: dict[str, Side], orders: Orders, outcome: Outcome):
    every = list(sides.values())
    for name in SIDES:
        side = sides[name]
        for number in range(1, args.cold + 1):
            settle(every)
            leader, standby = side.settled() or (0, 0)
            side.stop_one(standby)
            killed_at = side.kill(leader)
            side.start()
            cold = takeover(side, leader, killed_at, None)
            side.start()  # a standby again
            outcome.cold.append(cold)
            say(
                f"  cold restart {number}/{args.cold} {name:<6}: first message after "
                f"{ms(cold.first_message)}, first command to the world after "
                f"{ms(cold.first_command)}, the Amazon-UPS link up again after "
                f"{since(cold.link_again)}"
            )
    placed_before = orders.placed()
    pauses = random.Random(args.seed)
    rounds = args.kills * len(SIDES)
    bar_width = len(str(rounds))
    for number in range(1, rounds + 1):
        name = SIDES[(number - 1) % len(SIDES)]
        side = sides[name]
        # A schedule, not a condition: kills land at random moments of the orders' way
        # and of the standby's polls.
        time.sleep(pauses.uniform(0, args.gap))
        settle(every)
        leader, standby = side.settled() or (0, 0)
        # From outside: the leader by its row is the one that holds the world's connection.
        holder = side.world_owner()
        killed_at = side.kill(leader)
        replacement = side.start()
        done = takeover(side, leader, killed_at, standby)
        # The replacement tries for the lead at its start, the standby every
        # STANDBY_POLL: either may win it (told of below as "NOT the standby").
        wait_until(
            side.watching(side.settled),
            60,
            f"one {name} daemon to lead and one to stand by after the replacement (pid "
            f"{replacement.pid}) started",
        )
        done.replacement_ready = time.monotonic() - killed_at
        outcome.failovers.append(done)
        done.held_world = holder == leader
        late = "  OVER THE GOAL" if done.first_message > GOAL else ""
        who = "the standby" if done.was_standby else f"pid {done.by}, NOT the standby"
        odd = "" if done.held_world else f" (but pid {holder} held the world's connection!)"
        say(
            f"  kill {number:>{bar_width}}/{rounds} {name:<6} pid {leader}{odd}: {who} "
            f"(pid {standby}) sent its first message after {ms(done.first_message)} "
            f"(to {done.via}), its first command to the world after "
            f"{ms(done.first_command)}, the Amazon-UPS link up after {since(done.link_again)}; "
            f"one leading and one standing by again after {ms(done.replacement_ready)}; "
            f"orders placed {orders.placed()}{late}"
        )
    outcome.placed_while_killing = orders.placed() - placed_before


def wait_for_orders(args: argparse.Namespace, amazon: Database, outcome: Outcome) -> None:
    ids = outcome.placed
    start = time.monotonic()
    deadline = start + args.timeout
    before = delivered_count(amazon, ids).get("delivered", 0)
    bar = Bar("delivering the last orders", len(ids) - before)
    while True:
        outcome.statuses = delivered_count(amazon, ids)
        finished = outcome.statuses.get("delivered", 0) + outcome.statuses.get("failed", 0)
        bar.show(outcome.statuses.get("delivered", 0) - before)
        if finished >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.25)  # a look at another process's database, until a deadline
    outcome.waited = time.monotonic() - start
    bar.close(outcome.statuses.get("delivered", 0) - before)
    if finished < len(ids):
        outcome.problem = (
            f"after {args.timeout:.0f} s, {len(ids) - finished} orders were neither delivered "
            f"nor failed: {outcome.statuses}"
        )


def check(
    outcome: Outcome, databases: dict[str, Database], world_ups: Proxy, world_amazon: Proxy
) -> None:
    ids = outcome.placed
    amazon, ups = databases["amazon"], databases["ups"]
    delivered = outcome.statuses.get("delivered", 0)
    outcome.check(
        "every order placed over HTTP was placed",
        not outcome.errors,
        f"{len(outcome.errors)} gave up, e.g. {outcome.errors[:1]}" if outcome.errors else "",
    )
    (in_db,) = amazon.rows("SELECT count(*) FROM orders_order")[0]
    outcome.check(
        "the store holds one order per order placed",
        in_db == len(ids) == len(set(ids)),
        f"{in_db} in the database, {len(ids)} placed ({len(set(ids))} distinct)",
    )
    outcome.check(
        "every order delivered",
        delivered == len(ids),
        f"{delivered} of {len(ids)}: {outcome.statuses}",
    )
    twice = amazon.rows(
        "SELECT order_id, count(*) FROM orders_orderevent WHERE kind = 'delivered' "
        "GROUP BY order_id HAVING count(*) > 1"
    )
    outcome.check(
        "Amazon: one delivery per order", not twice, f"{len(twice)} twice, e.g. {twice[:3]}"
    )
    packages = dict(ups.rows("SELECT id, status FROM shipments_package"))
    missing = [i for i in ids if i not in packages]
    strays = [p for p in packages if p not in set(ids)]
    undelivered = [p for p, status in packages.items() if status != "delivered"]
    outcome.check(
        "UPS: one package per order, each delivered",
        not missing and not strays and not undelivered,
        f"{len(missing)} orders without one, {len(strays)} packages of no order, "
        f"{len(undelivered)} not delivered (e.g. {undelivered[:3]})",
    )
    twice = ups.rows(
        "SELECT package_id, count(*) FROM shipments_packageevent WHERE kind = 'delivered' "
        "GROUP BY package_id HAVING count(*) > 1"
    )
    outcome.check(
        "UPS: one delivery per package", not twice, f"{len(twice)} twice, e.g. {twice[:3]}"
    )
    with world_ups.lock:
        made = {package: set(seqnums) for package, seqnums in world_ups.seen["delivered"].items()}
    with world_amazon.lock:
        packed = {package: set(seqnums) for package, seqnums in world_amazon.seen["ready"].items()}
    unmade = [i for i in ids if not made.get(i)]
    twice_made = {p: sorted(s) for p, s in made.items() if len(s) > 1}
    outcome.check(
        "the world: one UDeliveryMade per order",
        not unmade and not twice_made and set(made) <= set(ids),
        f"{len(unmade)} orders without one, {len(twice_made)} with several "
        f"(e.g. {list(twice_made.items())[:3]}), {len(set(made) - set(ids))} of no order",
    )
    twice_packed = {p: sorted(s) for p, s in packed.items() if len(s) > 1}
    outcome.check(
        "the world: one package packed per order",
        not twice_packed and set(packed) == set(ids),
        f"{len(twice_packed)} packed several times (e.g. {list(twice_packed.items())[:3]}), "
        f"{len(set(ids) - set(packed))} never, {len(set(packed) - set(ids))} of no order",
    )
    for name, database in databases.items():
        ((dead,),) = database.rows(DEAD_LETTERS)
        outcome.check(f"{name}: no dead letters", dead == 0, f"{dead} open")

    def unacked() -> dict[str, int]:
        return {
            name: database.rows(
                "SELECT count(*) FROM messaging_outgoingmessage WHERE acked_at IS NULL"
            )[0][0]
            for name, database in databases.items()
        }

    try:
        wait_until(lambda: not any(unacked().values()), 60, "both outboxes acked", every=0.25)
        left = {}
    except AssertionError:
        left = unacked()
    outcome.check(
        "both outboxes acked (nothing stuck)",
        not left,
        ", ".join(f"{name} {count} unacked" for name, count in left.items()),
    )


# -- the report --------------------------------------------------------------------------


def since(seconds: float | None) -> str:
    return f"over {LINK_WAIT:g} s" if seconds is None else ms(seconds)


def figures(samples: list[float]) -> str:
    if not samples:
        return f"{'-':>10}{'-':>10}"
    return f"{ms(percentile(samples, 0.5)):>10}{ms(max(samples)):>10}"


def table(title: str, count: str, rows: list[tuple[str, list[Takeover]]], goal: bool) -> None:
    print(title)
    print(
        f"   {'side':<8}{count:>7}   {'kill -> first message':<26}"
        f"{'-> first command to world':<26}{'-> Amazon-UPS link up':<26}"
        + (f"goal: first message <= {ms(GOAL)}" if goal else "")
    )
    print(f"   {'':<8}{'':>7}   " + f"{'p50':>10}{'max':>10}      " * 3)
    for name, done in rows:
        first = [t.first_message for t in done]
        verdict = ""
        if goal and first:
            over = sum(f > GOAL for f in first)
            verdict = "met" if not over else f"NOT met: {over} of {len(first)} over"
        print(
            f"   {name:<8}{len(done):>7}   {figures(first)}      "
            f"{figures([t.first_command for t in done])}      "
            f"{figures([t.link_again for t in done if t.link_again is not None])}      "
            f"{verdict}"
        )


def report(outcome: Outcome) -> None:
    by_side = {
        kind: [(name, [t for t in takeovers if t.side == name]) for name in SIDES]
        for kind, takeovers in (("cold", outcome.cold), ("failover", outcome.failovers))
    }
    table(
        "\n1. Baseline: a cold restart (the standby stopped, the only daemon killed and started "
        "again at once)",
        "starts",
        by_side["cold"],
        goal=False,
    )
    table(
        "\n2. Failover: kill -9 of the active daemon while orders flow; the standby takes over "
        f"(it tries for the lead every {STANDBY_POLL:g} s)",
        "kills",
        by_side["failover"],
        goal=True,
    )
    for (name, done), (_, cold) in zip(by_side["failover"], by_side["cold"], strict=True):
        first = [t.first_message for t in done]
        if first and cold:
            saved = percentile([t.first_message for t in cold], 0.5) - percentile(first, 0.5)
            print(f"   {name}: the standby saves {ms(saved)} at p50 over a cold restart")
        if others := [t for t in done if not t.was_standby]:
            print(
                f"   {name}: {len(others)} taken over by another process than the standby: "
                f"pids {[t.by for t in others]}"
            )
        if never := [t for t in done if t.link_again is None]:
            print(
                f"   {name}: after {len(never)} kills the Amazon-UPS link was not up again "
                f"within {LINK_WAIT:g} s (left out of its figures)"
            )
        if odd := [t for t in done if not t.held_world]:
            print(
                f"   {name}: {len(odd)} killed whose row said active but who did not hold the "
                "world's connection"
            )
    if replacement := [t.replacement_ready for t in outcome.failovers]:
        print(
            f"   one leading and one standing by again (the replacement started at the kill): "
            f"p50, max "
            f"{figures(replacement)}"
        )
    print(f"\n3. Exactly once ({len(outcome.placed)} orders)")
    delivered = outcome.statuses.get("delivered", 0)
    print(
        f"   orders placed {len(outcome.placed)} ({outcome.placed_while_killing} while "
        f"daemons were killed), delivered {delivered}, not placed {len(outcome.errors)}; "
        f"the last delivered {outcome.waited:.1f} s after the last was placed"
    )
    for what, ok, detail in outcome.checks:
        print(f"   {'ok  ' if ok else 'FAIL'} {what}{'' if ok else ': ' + detail}")
    if outcome.problem:
        print(f"   NOT FINISHED: {outcome.problem}")
    print(f"   exactly once: {'yes' if outcome.exactly_once else 'NO'}")
    if not outcome.healthy:
        print("   (and a daemon exited by itself: see above and its log)")


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, help="kills per side (default 20; --quick 3)")
    parser.add_argument("--cold", type=int, help="cold restarts per side (default 3; --quick 1)")
    parser.add_argument("--rate", type=float, default=3.0, help="orders per second (default 3)")
    parser.add_argument("--clients", type=int, default=2, help="HTTP clients placing orders")
    parser.add_argument("--simspeed", type=int, default=1_000, help="world simspeed")
    parser.add_argument("--trucks", type=int, default=10, help="trucks UPS brings (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed for orders and pauses")
    parser.add_argument(
        "--gap", type=float, default=1.0, help="a random pause of up to this before a kill (s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="how long the last orders may take (s)"
    )
    parser.add_argument(
        "--var", type=Path, help="keep the logs and the world's state here (default: a "
        "temporary folder, removed at the end)"
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="3 kills, 1 cold restart per side")
    args = parser.parse_args(argv)
    if args.kills is None:
        args.kills = 3 if args.quick else 20
    if args.cold is None:
        args.cold = 1 if args.quick else 3
    if args.kills < 1 or args.cold < 0 or args.rate <= 0 or args.clients < 1:
        parser.error("need --kills >= 1, --cold >= 0, --rate > 0, --clients >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    print(f"machine: {machine()}")
    if not postgres.answers():
        print(f"no PostgreSQL server answers at {postgres.shown()}: nothing to measure")
        return 0
    print(f"database: {postgres_version()}")
    print(
        f"parameters: {args.kills} kills and {args.cold} cold restarts per side, orders at "
        f"{args.rate:g}/s by {args.clients} HTTP clients, simspeed {args.simspeed:,}, "
        f"{args.trucks} trucks{' (--quick)' if args.quick else ''}"
    )
    sys.stdout.flush()
    outcome = Outcome()
    with contextlib.ExitStack() as stack:
        if args.var is None:
            var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="failover-")))
        else:
            var = args.var.resolve()
            var.mkdir(mode=0o700, parents=True, exist_ok=True)
        urls = postgres_or_none(stack, "amazon", "ups")
        assert urls is not None  # the server answered just now
        mask = os.umask(0o077)  # the logs, as private as ``amazon-ups up`` keeps its var/
        try:
            run(args, var, urls, outcome)
        except Exception as error:
            outcome.problem = f"{type(error).__name__}: {error}"
        finally:
            os.umask(mask)
    report(outcome)
    print(f"\n(benchmark took {time.monotonic() - started:.1f} s)")
    return 0 if outcome.exactly_once and outcome.healthy and not outcome.problem else 1


if __name__ == "__main__":
    sys.exit(main())
