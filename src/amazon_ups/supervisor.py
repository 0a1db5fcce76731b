"""``amazon-ups up``: the whole system on one machine, under one supervisor.

It prepares both databases (migrate, demo data), then starts five children:
the world simulator, UPS's dispatch daemon, Amazon's fulfilment daemon and the
two web sites, each a process of its own configured by environment variables,
exactly as an operator would start them one by one. Every line they write goes
to ``var/log/<name>.log``; the console gets only what an operator must see (warnings
and errors, a piece that died and its last words) and, last, where everything is
and how to log in. ``--verbose`` shows every line there too (access logs, each
command handled), prefixed with its piece's name. A child that dies is started
again (with backoff), which is also how ``kill -9`` of any piece is survived: its
state is in its database. Ctrl-C (or SIGTERM) stops them all, politely first.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from amazon_ups.common import private_files
from amazon_ups.protocol.session import ResendPolicy

RESTART = ResendPolicy(first=0.5, factor=2.0, ceiling=10.0)
STOP_GRACE = 10.0  # seconds a child gets to stop before it is killed
# The world's fault options (cli.add_fault_arguments adds them to ``up`` too), passed on as given.
WORLD_FAULTS = (
    "flakiness",
    "drop_responses",
    "duplicate_responses",
    "reorder_responses",
    "delay_responses",
    "max_delay",
    "seed",
)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    project: str | None = None  # "amazon" or "ups" for the processes of a Django project
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    pid_file: Path | None = None
    _pump: threading.Thread | None = field(default=None, repr=False)

    def start(self, out: _Output) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops them in order
        )
        self.started_at = time.monotonic()
        if self.pid_file is not None:
            self.pid_file.write_text(str(self.proc.pid))
        self._pump = threading.Thread(target=out.pump, args=(self.name, self.proc), daemon=True)
        self._pump.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._pump is not None:
            self._pump.join(timeout=2)


# A log record as our pieces write it: Python's logging (ours) or gunicorn's own.
_RECORD = re.compile(
    r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<ours>[A-Z]+) "
    r"|\[[^]]+\] \[\d+\] \[(?P<gunicorn>[A-Z]+)\])"
)
# gunicorn's access log: 127.0.0.1 - - [29/Nov/2026:08:15:00 +0000] "GET / HTTP/1.1" 200 ...
_ACCESS = re.compile(r'^\S+ \S+ \S+ \[[^]]+\] "')
_SHOWN_LEVELS = {"WARNING", "ERROR", "CRITICAL"}
LAST_WORDS = 8  # lines of a piece that died shown on the console


class _Output:
    """Children's lines, one whole line at a time: every one to its piece's log file,
    and to the console, prefixed with the piece's name, when it matters (``verbose``:
    every one)."""

    def __init__(self, log_dir: Path | None = None, verbose: bool = True) -> None:
        self._lock = threading.Lock()
        self.width = 6
        self.log_dir = log_dir
        self.verbose = verbose
        self._files: dict[str, TextIO] = {}
        self._showing: dict[str, bool] = {}  # a record's verdict holds for its traceback
        self.last: dict[str, collections.deque[str]] = {}
        self._awaited: dict[tuple[str, str], threading.Event] = {}

    def awaited(self, name: str, fragment: str) -> threading.Event:
        """An event set once piece ``name`` writes a line with ``fragment`` in it."""
        with self._lock:
            return self._awaited.setdefault((name, fragment), threading.Event())

    def say(self, name: str, text: str) -> None:
        with self._lock:
            try:
                sys.stdout.write(f"{name:>{self.width}} | {text}\n")
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):
                # Nobody reads our output any more (the terminal or pipe is gone): the
                # children must still be supervised and stopped, so carry on silently.
                pass

    def log_path(self, name: str) -> Path | None:
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def line(self, name: str, text: str) -> None:
        """One line of piece ``name``: to its log file, and to the console if it matters."""
        self.write(name, text)
        for (awaited, fragment), event in list(self._awaited.items()):
            if awaited == name and fragment in text:
                event.set()
        self.last.setdefault(name, collections.deque(maxlen=LAST_WORDS)).append(text)
        if self.verbose or self._matters(name, text):
            self.say(name, text)

    def _matters(self, name: str, text: str) -> bool:
        if _ACCESS.match(text):
            return False
        if record := _RECORD.match(text):
            level = record.group("ours") or record.group("gunicorn")
            self._showing[name] = level in _SHOWN_LEVELS
        elif text.startswith("Traceback (most recent call last)"):
            self._showing[name] = True  # a crash that no logger reported
        # Anything else (a traceback's lines, a print) goes with the record before it.
        return self._showing.get(name, False)

    def write(self, name: str, text: str) -> None:
        path = self.log_path(name)
        if path is None:
            return
        with self._lock:
            file = self._files.get(name)
            if file is None:
                file = self._files[name] = path.open("a", encoding="utf-8", buffering=1)
            file.write(text + "\n")

    def last_words(self, name: str) -> None:
        """After piece ``name`` died: its last lines, if the console did not show them."""
        if self.verbose or not self.last.get(name):
            return
        self.say("up", f"{name}'s last lines (all of them in {self.log_path(name)}):")
        for text in self.last[name]:
            self.say(name, text)

    def close(self) -> None:
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()

    def pump(self, name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.line(name, raw.decode(errors="replace").rstrip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address every piece listens on")
    parser.add_argument("--amazon-port", type=int, default=8000, help="store web site")
    parser.add_argument("--ups-port", type=int, default=8001, help="carrier web site")
    parser.add_argument("--world-ups-port", type=int, default=12345)
    parser.add_argument("--world-amazon-port", type=int, default=23456)
    parser.add_argument(
        "--world-dashboard",
        type=int,
        metavar="PORT",
        help="serve the world's dashboard on this port (its line, with the token of its "
        "controls, comes in the world's output; default: none)",
    )
    parser.add_argument("--au-port", type=int, default=34567, help="the Amazon-UPS link")
    parser.add_argument(
        "--var",
        default=os.environ.get("AMAZON_UPS_VAR", "var"),
        help="folder for the embedded databases, world state, mail and pid files (default var)",
    )
    parser.add_argument(
        "--amazon-db",
        default=os.environ.get("AMAZON_DATABASE_URL"),
        metavar="URL",
        help="Amazon's DATABASE_URL (default: SQLite in --var)",
    )
    parser.add_argument(
        "--ups-db",
        default=os.environ.get("UPS_DATABASE_URL"),
        metavar="URL",
        help="UPS's DATABASE_URL (default: SQLite in --var)",
    )
    parser.add_argument(
        "--simspeed",
        type=int,
        default=None,
        help="simspeed the daemons ask of the world (default: the world's, 100)",
    )
    parser.add_argument("--trucks", type=int, default=10, help="trucks UPS brings to the world")
    parser.add_argument("--workers", type=int, default=2, help="web worker processes per site")
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="show every piece's lines on the console too (access logs, each command "
        "handled); they always go to --var's log/ folder",
    )
    parser.add_argument(
        "--no-world",
        action="store_true",
        help="use a world already running at WORLD_HOST and the world ports",
    )


def build_children(args: argparse.Namespace) -> list[Child]:
    var = Path(args.var).resolve()
    # var/ is the system's user's alone: databases, secrets, mail (private_files).
    private_files.tighten_tree(private_files.private_dir(var))
    (var / "run").mkdir(mode=0o700, exist_ok=True)
    me = [sys.executable, "-m", "amazon_ups.cli"]
    common = {
        **os.environ,
        "AU_LINK_SECRET_FILE": str(link_secret_file(var)),
        "AMAZON_UPS_VAR": str(var),
        "PYTHONUNBUFFERED": "1",
        "WORLD_HOST": os.environ.get("WORLD_HOST", args.host),
        "WORLD_UPS_PORT": str(args.world_ups_port),
        "WORLD_AMAZON_PORT": str(args.world_amazon_port),
        "UPS_HOST": args.host,
        "UPS_PORT": str(args.au_port),
        "UPS_TRUCKS": str(args.trucks),
    }
    if args.simspeed is not None:
        common["WORLD_SIMSPEED"] = str(args.simspeed)
    # Each site links to the other (and its emails to itself) at these, unless set.
    for name, port in (("AMAZON_PUBLIC_URL", args.amazon_port), ("UPS_PUBLIC_URL", args.ups_port)):
        common.setdefault(name, f"http://{_reachable(args.host)}:{port}")
    amazon_env = _with_database(common, args.amazon_db)
    ups_env = _with_database(common, args.ups_db)
    children = []
    if not args.no_world:
        children.append(
            Child(
                "world",
                [
                    *me,
                    "world",
                    "--host",
                    args.host,
                    "--ups-port",
                    str(args.world_ups_port),
                    "--amazon-port",
                    str(args.world_amazon_port),
                    "--state",
                    str(var / "world.sqlite3"),
                    *world_fault_options(args),
                    *(
                        ["--http-host", args.host, "--http-port", str(args.world_dashboard)]
                        if args.world_dashboard is not None
                        else []
                    ),
                ],
                common,
            )
        )
    children += [
        Child("ups-d", [*me, "ups", "daemon"], ups_env, "ups"),
        Child("amzn-d", [*me, "amazon", "daemon"], amazon_env, "amazon"),
        Child(
            "ups",
            [
                *me,
                "ups",
                "web",
                "--host",
                args.host,
                "--port",
                str(args.ups_port),
                "--workers",
                str(args.workers),
            ],
            ups_env,
            "ups",
        ),
        Child(
            "amazon",
            [
                *me,
                "amazon",
                "web",
                "--host",
                args.host,
                "--port",
                str(args.amazon_port),
                "--workers",
                str(args.workers),
            ],
            amazon_env,
            "amazon",
        ),
    ]
    for child in children:
        child.pid_file = var / "run" / f"{child.name}.pid"
    return children


def _reachable(host: str) -> str:
    """A host a browser can open: listening on every address means this machine's."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def world_fault_options(args: argparse.Namespace) -> list[str]:
    """The world's command-line options for the faults asked of ``up``."""
    options = []
    for name in WORLD_FAULTS:
        options += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return options


def link_secret_file(var: Path) -> Path:
    """The Amazon-UPS link's secret for both daemons: random, made once, owner-only."""
    path = var / "au-link-secret"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
    path.chmod(0o600)
    return path


def _with_database(env: dict[str, str], url: str | None) -> dict[str, str]:
    env = dict(env)
    env.pop("DATABASE_URL", None)
    if url:
        env["DATABASE_URL"] = url
    return env


def prepare(children: list[Child], out: _Output) -> None:
    """Migrate both databases and load the demo data (both idempotent)."""
    me = [sys.executable, "-m", "amazon_ups.cli"]
    envs = {c.project: c.env for c in children if c.project}
    if not out.verbose:
        out.say(
            "up", f"preparing the databases (migrate, demo data; see {out.log_path('prepare')})"
        )
    for project in ("ups", "amazon"):
        for command in (["migrate", "--no-input", "-v", "0"], ["seed_demo"]):
            step = f"{project}: {' '.join(command)}"
            if out.verbose:
                out.say("up", step)
            done = subprocess.run(
                [*me, project, *command], env=envs[project], capture_output=True, text=True
            )
            lines = (done.stdout + done.stderr).splitlines()
            for line in [f"== {step}", *lines]:
                out.write("prepare", line)
            if out.verbose:
                for line in lines:
                    out.say(project, line)
            if done.returncode != 0:
                if not out.verbose:
                    for line in lines[-LAST_WORDS * 2 :]:
                        out.say(project, line)
                raise SystemExit(f"{project} {command[0]} failed (exit {done.returncode})")


def wait_for_port(host: str, port: int, deadline: float, stop: threading.Event) -> bool:
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            stop.wait(0.1)  # polling a port: nothing else can tell us it is open
    return False


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    children = build_children(args)
    log_dir = Path(args.var).resolve() / "log"
    log_dir.mkdir(mode=0o700, exist_ok=True)
    out = _Output(log_dir, verbose=args.verbose)
    try:
        prepare(children, out)
    except SystemExit:
        out.close()
        raise
    try:
        start_and_supervise(args, children, out, stop)
    finally:
        out.say("up", "stopping...")
        # Web first (no new orders), then the daemons, the world once they are gone (they
        # would only log that it went).
        final = time.monotonic() + STOP_GRACE
        for group in ([c for c in children if c.name != "world"], children):
            for child in reversed(group):
                child.terminate()
            for child in reversed(group):
                child.wait(final)
        out.say("up", "stopped")
        out.close()
    return 0


def start_and_supervise(
    args: argparse.Namespace, children: list[Child], out: _Output, stop: threading.Event
) -> None:
    # Each piece is started once those it connects to listen, so that none of them
    # begins by warning that it cannot connect (it would retry, but the console is
    # for what needs a look).
    # (UPS's daemon says when it listens: a probe of its port would count as a stranger.)
    ready = {"world": "world ready:", "ups-d": f"listening on {args.host}:{args.au_port}"}
    for child in children:
        started = out.awaited(child.name, ready[child.name]) if child.name in ready else None
        child.start(out)
        assert child.proc is not None  # started
        out.say("up", f"started {child.name} (pid {child.proc.pid})")
        deadline = time.monotonic() + 30
        while started is not None and not started.is_set() and child.running():
            if stop.is_set() or time.monotonic() > deadline:
                break
            started.wait(0.2)  # in slices: Ctrl-C or the piece's death ends the wait
    deadline = time.monotonic() + 60
    if all(
        wait_for_port(args.host, port, deadline, stop) for port in (args.amazon_port, args.ups_port)
    ):
        for line in ready_lines(args):
            out.say("up", line)
    supervise(children, out, stop)


def ready_lines(args: argparse.Namespace) -> list[str]:
    """What ``up`` prints once both sites answer, last, so that it stays in view: where
    everything is, and how in."""
    var = Path(args.var).resolve()
    lines = [f"world: UPS port {args.world_ups_port}, Amazon port {args.world_amazon_port}"]
    if not args.no_world and any(
        getattr(args, n) for n in WORLD_FAULTS if n not in ("seed", "max_delay")
    ):
        lines.append("world faults: " + " ".join(world_fault_options(args)))
    if not args.verbose:
        lines.append(f"every piece's log: {var / 'log'}/ (--verbose shows it all here)")
    for project, database in (("amazon", args.amazon_db), ("ups", args.ups_db)):
        # The staff user must land in this run's database, wherever --var put it.
        prefix = f"DATABASE_URL=<your --{project}-db URL> " if database else ""
        lines.append(
            f"operators ({project}): {prefix}.venv/bin/amazon-ups {project} --var {var} "
            "createsuperuser, then /operator/ and /admin/"
        )
    sites = [("Amazon (the store)", args.amazon_port), ("UPS (the carrier)", args.ups_port)]
    lines += [f"{label}: http://{args.host}:{port}/" for label, port in sites]
    lines.append("demo shopper / recipient: user demo, password demo-password-123")
    lines.append("demo seller (store): user seller, password seller-password-123")
    lines.append("Ctrl-C stops everything.")
    return lines


def supervise(children: list[Child], out: _Output, stop: threading.Event) -> None:
    due: dict[str, float] = {}
    while not stop.is_set():
        now = time.monotonic()
        for child in children:
            if child.running():
                continue
            if child.name not in due:
                code = child.proc.returncode if child.proc else None
                # A child that ran a while before dying is not in a crash loop.
                if now - child.started_at > 60:
                    child.restarts = 0
                child.restarts += 1
                due[child.name] = now + RESTART.delay(child.restarts)
                if child._pump is not None:
                    child._pump.join(timeout=2)  # its last lines, read to the end
                out.say("up", f"{child.name} exited ({code}); restarting")
                if code:
                    out.last_words(child.name)
            elif now >= due[child.name]:
                del due[child.name]
                child.start(out)
                assert child.proc is not None  # started
                out.say("up", f"restarted {child.name} (pid {child.proc.pid})")
        stop.wait(0.2)  # child exits have no portable wake-up; look five times a second
