"""The ``amazon-ups`` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from amazon_ups import supervisor
from amazon_ups.common import private_files
from amazon_ups.protocol.world_messages import Side
from amazon_ups.world.faults import FaultConfig
from amazon_ups.world.limits import HOUR, KiB, Limits, duration
from amazon_ups.world.rules import (
    PackShort,
    PickupWhileTraveling,
    ReconnectResend,
    RepeatedPlaces,
    Rules,
    SimspeedScope,
)
from amazon_ups.world.server import ServerConfig, WorldServer

# Printed on stdout once the world listens; scripts that start it on port 0 read it.
READY = "world ready: UPS port {ups}, Amazon port {amazon}"
_READY_PATTERN = re.compile(rb"world ready: UPS port (\d+), Amazon port (\d+)")
# Printed just before READY when the dashboard is on.
DASHBOARD = "world dashboard: {url} (token for its controls: {token})"
_DASHBOARD_PATTERN = re.compile(rb"world dashboard: (\S+) \(token for its controls: (\S+)\)")


def parse_dashboard(line: bytes) -> tuple[str, str] | None:
    """The dashboard's URL and token in its line, or None if ``line`` is not that line."""
    match = _DASHBOARD_PATTERN.search(line)
    return (match[1].decode(), match[2].decode()) if match else None


def parse_ready(line: bytes) -> dict[Side, int] | None:
    """The ports in the world's ready line, or None if ``line`` is not that line."""
    match = _READY_PATTERN.search(line)
    return {Side.UPS: int(match[1]), Side.AMAZON: int(match[2])} if match else None


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _flakiness(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 99:
        raise argparse.ArgumentTypeError(f"must be a percentage 0-99, not {text}")
    return value


def add_fault_arguments(parser: argparse.ArgumentParser, passed_on: bool = False) -> None:
    """The world's fault options, on ``amazon-ups world`` and, passed on to the world it
    starts, on ``amazon-ups up``."""
    faults = parser.add_argument_group(
        "fault injection" + (" (passed on to the world)" if passed_on else ""),
        "Seeded, so a run with the same --seed makes the same choices.",
    )
    faults.add_argument(
        "--flakiness",
        type=_flakiness,
        default=0,
        help="percent of incoming commands dropped, like the official server (0-99)",
    )
    faults.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    faults.add_argument(
        "--drop-responses",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability that each outgoing result or ack is dropped (it is re-sent)",
    )
    faults.add_argument(
        "--duplicate-responses",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability that each outgoing result or ack is sent twice",
    )
    faults.add_argument(
        "--reorder-responses",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability that an outgoing message's results are shuffled",
    )
    faults.add_argument(
        "--delay-responses",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability that an outgoing message is held back (reorders messages)",
    )
    faults.add_argument(
        "--max-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="longest hold-back for --delay-responses (default 0.5)",
    )


# (option, Rules field, enum, help): where the official world's behaviour is unknown
# (docs/world-simulator.md, "Choices").
CHOICE_OPTIONS = (
    (
        "--pack-short",
        "pack_short",
        PackShort,
        "an APack the warehouse lacks stock for: refuse it (AErr), or let the package "
        "wait until purchases bring the stock",
    ),
    (
        "--pickup-while-traveling",
        "pickup_while_traveling",
        PickupWhileTraveling,
        "a UGoPickup for a truck driving to a warehouse: refuse it (UErr), or redirect the truck",
    ),
    (
        "--repeated-places",
        "repeated_places",
        RepeatedPlaces,
        "a truck or warehouse id brought again when joining a world: accept it at the "
        "place it was first brought, or refuse it ('already exists', as the official world)",
    ),
    (
        "--simspeed-scope",
        "simspeed_scope",
        SimspeedScope,
        "whom a simspeed paces: the whole world (either side sets it), or only the side "
        "that sent it",
    ),
    (
        "--reconnect-resend",
        "reconnect_resend",
        ReconnectResend,
        "the results a reconnecting client had not acked: all re-sent, or only the newest "
        "(the older ones dropped, as the official world was seen to)",
    ),
)


def add_choice_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "choices",
        "Where the official world's behaviour is unknown: our default, and the other reading "
        "(docs/world-simulator.md). Give the same ones after a restart with the same --state.",
    )
    defaults = Rules()
    for option, name, kind, text in CHOICE_OPTIONS:
        default = getattr(defaults, name)
        group.add_argument(
            option,
            dest=name,
            type=kind,
            choices=list(kind),
            default=default,
            help=f"{text} (default {default})",
        )
    group.add_argument(
        "--first-seqnum",
        type=_positive(int),
        metavar="N",
        help="the first result seqnum of a new state file (default: drawn at random from "
        "1000-999999 when the file is made; results count up from it, all worlds together)",
    )
    group.add_argument(
        "--silent-after",
        type=_positive(float),
        default=60.0,
        metavar="SECONDS",
        help="report a connected client that sent nothing this long (a diagnostic; default 60)",
    )


def rules_from(args: argparse.Namespace) -> Rules:
    return Rules(**{name: getattr(args, name) for _, name, *_ in CHOICE_OPTIONS})


def _positive(kind: type) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


# (option, Limits field, type, unit shown, how the default is shown, help)
LIMIT_OPTIONS = (
    (
        "--connect-max-frame",
        "connect_max_frame",
        int,
        "BYTES",
        "the first frame (UConnect/AConnect) may be this big",
    ),
    (
        "--connect-deadline",
        "connect_deadline",
        float,
        "SECONDS",
        "close a connection not connected to a world this long after it opened",
    ),
    (
        "--max-frame",
        "max_frame",
        int,
        "BYTES",
        "any later frame may be this big (a bigger declared length closes the connection)",
    ),
    (
        "--max-commands",
        "max_commands",
        int,
        "N",
        "sub-commands taken from one commands message; the rest get one error, "
        "no ack, and are not run",
    ),
    (
        "--slice-commands",
        "slice_commands",
        int,
        "N",
        "sub-commands run per connection per turn of the event loop, so other "
        "worlds wait at most that long",
    ),
    (
        "--max-unacked",
        "max_unacked",
        int,
        "N",
        "results a world side may leave unacked; past it, its new commands are "
        "not taken (not acked) until it acks",
    ),
    (
        "--max-results-per-message",
        "max_results_per_message",
        int,
        "N",
        "results per outgoing message; the rest follow at once in the next ones",
    ),
    (
        "--max-buffered-in",
        "max_buffered_in",
        int,
        "BYTES",
        "bytes received on one connection and not yet run; past it the connection is cut off",
    ),
    (
        "--max-buffered-out",
        "max_buffered_out",
        int,
        "BYTES",
        "bytes of responses one connection has not read; past it the connection is cut off",
    ),
    (
        "--max-buffered-total",
        "max_buffered_total",
        int,
        "BYTES",
        "bytes held for all connections together, in and out; the connection "
        "that goes past it is cut off",
    ),
    (
        "--max-connections",
        "max_connections",
        int,
        "N",
        'open connections; more are refused ("error: too many connections ...")',
    ),
    (
        "--max-connections-per-address",
        "max_connections_per_address",
        int,
        "N",
        "open connections from one remote address",
    ),
    (
        "--world-idle",
        "world_idle",
        float,
        "SECONDS",
        "retire a world nobody has been connected to for this long",
    ),
    (
        "--max-worlds",
        "max_worlds",
        int,
        "N",
        "worlds kept; to create one more, the longest idle unconnected world is retired",
    ),
    (
        "--summary-every",
        "summary_every",
        float,
        "SECONDS",
        "log each active world's counts (commands, results, errors, drops) this often",
    ),
)


def _shown(value: float | int, unit: str) -> str:
    if unit == "BYTES" and value >= KiB:
        return (
            f"{value} ({value / KiB:g} KiB)"
            if value < KiB * KiB
            else f"{value} ({value / KiB / KiB:g} MiB)"
        )
    if unit == "SECONDS" and value >= 2 * HOUR:
        return f"{value:g} ({duration(value)})"
    return f"{value:g}"


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """What one peer may take from the world; the defaults are far above what a course
    client needs (docs/world-simulator.md, "Limits")."""
    group = parser.add_argument_group(
        "limits", "What each peer may take, so that one cannot starve the other worlds."
    )
    defaults = Limits()
    for option, name, kind, unit, text in LIMIT_OPTIONS:
        group.add_argument(
            option,
            dest=name,
            type=_positive(kind),
            default=getattr(defaults, name),
            metavar=unit,
            help=f"{text} (default {_shown(getattr(defaults, name), unit)})",
        )


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(**{name: getattr(args, name) for _, name, *_ in LIMIT_OPTIONS})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amazon-ups",
        description="A mini-Amazon, a mini-UPS and the simulated world they share.",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="info shows every world's connects, commands and results (default: info)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    world = commands.add_parser(
        "world",
        help="run the world simulator",
        description="Serve the world protocol on two ports, wire-compatible with the official "
        "world simulator. Worlds are kept in --state and survive restarts.",
    )
    world.add_argument("--host", default="127.0.0.1", help="address to listen on")
    world.add_argument("--ups-port", type=int, default=12345, help="port for UPS (default 12345)")
    world.add_argument(
        "--amazon-port", type=int, default=23456, help="port for Amazon (default 23456)"
    )
    world.add_argument(
        "--state",
        default="var/world.sqlite3",
        help="SQLite file holding the worlds (default var/world.sqlite3; ':memory:' keeps nothing)",
    )
    add_fault_arguments(world)
    world.add_argument(
        "--idle-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="close connections silent for this long, like the official world (default 600)",
    )
    dashboard = world.add_argument_group(
        "dashboard",
        "A web page (and JSON) of every world, with live controls (docs/world-simulator.md).",
    )
    dashboard.add_argument(
        "--http-port",
        type=int,
        metavar="PORT",
        help="serve the dashboard on this port (0 picks a free one; default: no dashboard)",
    )
    dashboard.add_argument(
        "--http-host", default="127.0.0.1", help="address of the dashboard (default 127.0.0.1)"
    )
    dashboard.add_argument(
        "--http-token",
        default=os.environ.get("WORLD_DASHBOARD_TOKEN"),
        metavar="TOKEN",
        help="token of the dashboard's controls (default: $WORLD_DASHBOARD_TOKEN, else a "
        "random one, printed at start)",
    )
    dashboard.add_argument(
        "--log-keep",
        type=_positive(int),
        default=20_000,
        metavar="N",
        help="commands and results the dashboard's log keeps, all worlds together (default 20000)",
    )
    add_choice_arguments(world)
    add_limit_arguments(world)
    world.set_defaults(run=run_world)

    up = commands.add_parser(
        "up",
        help="run the whole system: world, both daemons, both web sites",
        description="Prepare the databases (migrate, demo data), start every piece as a "
        "process of its own, restart any that dies, print the URLs; Ctrl-C stops all.",
    )
    supervisor.add_arguments(up)
    add_fault_arguments(up, passed_on=True)
    up.set_defaults(run=supervisor.run)

    for project, port in (("amazon", 8000), ("ups", 8001)):
        site = commands.add_parser(
            project,
            help=f"the {'store' if project == 'amazon' else 'carrier'}: web, daemon, or any "
            "Django management command (migrate, createsuperuser, ...)",
            description=f"'web' serves the site (gunicorn, default port {port}); 'daemon' runs "
            f"the {'fulfilment' if project == 'amazon' else 'dispatch'} daemon; anything else "
            "is a Django management command. Configured by environment variables: "
            "DATABASE_URL, WORLD_HOST, UPS_HOST, ... (see README).",
        )
        site.add_argument(
            "--var",
            metavar="DIR",
            help="the folder `amazon-ups up --var DIR` used (sets AMAZON_UPS_VAR), so that "
            "e.g. createsuperuser reaches that run's database",
        )
        site.add_argument("args", nargs=argparse.REMAINDER, help="web | daemon | COMMAND ...")
        site.set_defaults(run=run_project, project=project, port=port)
    return parser


def run_world(args: argparse.Namespace) -> int:
    try:
        limits = limits_from(args)
    except ValueError as error:  # limits that contradict each other
        build_parser().error(str(error))
    config = ServerConfig(
        host=args.host,
        ups_port=args.ups_port,
        amazon_port=args.amazon_port,
        state=args.state,
        idle_timeout=args.idle_timeout,
        limits=limits,
        rules=rules_from(args),
        first_seqnum=args.first_seqnum,
        silent_after=args.silent_after,
        http_host=args.http_host,
        http_port=args.http_port,
        http_token=args.http_token,
        log_keep=args.log_keep,
        faults=FaultConfig(
            flakiness=args.flakiness,
            drop=args.drop_responses,
            duplicate=args.duplicate_responses,
            reorder=args.reorder_responses,
            delay=args.delay_responses,
            max_delay=args.max_delay,
            seed=args.seed,
        ),
    )
    return asyncio.run(_serve(WorldServer(config)))


def run_project(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"amazon_ups.{args.project}.settings")
    if args.var:
        os.environ["AMAZON_UPS_VAR"] = str(Path(args.var).resolve())
    # What an older version or another umask left readable in var/ is tightened before
    # the site reads or adds to it (the settings only make the folders).
    private_files.tighten_tree(
        private_files.private_dir(Path(os.environ.get("AMAZON_UPS_VAR", "var")).resolve())
    )
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        if args.args[:1] == ["web"]:
            return run_web(args.project, args.port, args.args[1:])
        execute_from_command_line([f"amazon-ups {args.project}", *args.args])
    except ImproperlyConfigured as error:
        # A setting that cannot work (a number that does not parse, a daemon's link
        # without a secret): what to fix, without a traceback around it.
        print(f"amazon-ups {args.project}: {error}", file=sys.stderr)
        return 1
    return 0


def run_web(project: str, default_port: int, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"amazon-ups {project} web")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    options = parser.parse_args(argv)
    import django
    from django.core.management.base import BaseCommand, SystemCheckError

    # gunicorn runs no system checks: without this a bad setting would start a site
    # that fails on its first request rather than stop here saying what to fix.
    django.setup()
    try:
        BaseCommand().check()
    except SystemCheckError as error:
        print(error, file=sys.stderr)
        return 1
    from gunicorn.app.wsgiapp import WSGIApplication

    sys.argv = [
        "gunicorn",
        f"amazon_ups.{project}.wsgi:application",
        f"--bind={options.host}:{options.port}",
        f"--workers={options.workers}",
        f"--threads={options.threads}",
        "--access-logfile=-",
        f"--name=amazon-ups-{project}-web",
        # Its default path is one per machine: two sites (or test runs) would collide.
        "--no-control-socket",
    ]
    WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()
    return 0


async def _serve(server: WorldServer) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    if server.dashboard is not None:
        host = server.dashboard.host
        url = f"http://{'[' + host + ']' if ':' in host else host}:{server.dashboard.port}/"
        print(DASHBOARD.format(url=url, token=server.dashboard.token), flush=True)
    print(READY.format(ups=server.ports[Side.UPS], amazon=server.ports[Side.AMAZON]), flush=True)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    # Before anything is written: databases, world state, mail, pid files.
    private_files.restrict_umask()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command != "world" and importlib.util.find_spec("django") is None:
        # A world-only install (`pip install amazon-ups`): say what to install.
        print(
            f"amazon-ups {args.command}: the sites need the 'sites' extra, which is not "
            "installed here: pip install 'amazon-ups[sites]' (`amazon-ups world` needs only "
            "what is installed)",
            file=sys.stderr,
        )
        return 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
