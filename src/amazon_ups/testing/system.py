"""The whole system as its users run it: ``amazon-ups up`` in a subprocess, on free
ports, with a fresh var folder, and a small browser (cookies, CSRF) to drive it."""

from __future__ import annotations

import contextlib
import html
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from amazon_ups.testing import postgres
from amazon_ups.testing.waiting import wait_until


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different ports free now: each is held until all are chosen, since a
    port let go may be the next one handed out (two pieces of one system given the
    same port: the UPS web's found taken by UPS's own link listener, which then
    answered the browser)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


@dataclass
class System:
    """``amazon-ups up`` with its own ports and var folder."""

    var: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    log_file: Path | None = None  # the output is also written here, line by line as it comes
    # Every piece's lines on the output (up --verbose), for the tests and benchmarks that
    # read them; False: the console an operator sees by default.
    verbose: bool = True

    def start(self, timeout: float = 90.0) -> System:
        names = ("amazon", "ups", "world-ups", "world-amazon", "au")
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        command = [
            sys.executable,
            "-m",
            "amazon_ups.cli",
            "up",
            "--var",
            str(self.var),
            "--amazon-port",
            str(self.ports["amazon"]),
            "--ups-port",
            str(self.ports["ups"]),
            "--world-ups-port",
            str(self.ports["world-ups"]),
            "--world-amazon-port",
            str(self.ports["world-amazon"]),
            "--au-port",
            str(self.ports["au"]),
            "--workers",
            "1",
            *(["--verbose"] if self.verbose else []),
            *self.extra_args,
        ]
        proc = self.proc = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()
        wait_until(
            lambda: self.said("Ctrl-C stops everything.") or proc.poll() is not None,
            timeout,
            "amazon-ups up to be ready",
        )
        if self.proc.poll() is not None:
            raise RuntimeError("amazon-ups up exited:\n" + "\n".join(self.output[-80:]))
        return self

    def _collect(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with contextlib.ExitStack() as stack:
            sink = None
            if self.log_file is not None:
                sink = stack.enter_context(self.log_file.open("a", encoding="utf-8", buffering=1))
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                self.output.append(line)
                if sink is not None:
                    sink.write(line + "\n")

    def said(self, text: str) -> bool:
        return any(text in line for line in self.output)

    def url(self, site: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[site]}{path}"

    def pid(self, child: str) -> int:
        return int((self.var / "run" / f"{child}.pid").read_text())

    def kill(self, child: str) -> int:
        """kill -9 one piece; the supervisor starts it again. Returns the old pid."""
        pid = self.pid(child)
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_group(self, child: str) -> int | None:
        """kill -9 one piece with every process it started (a web site's workers too), as
        if its machine died; the supervisor starts it again. Returns the pid killed, or None
        when the piece is not running just now (dead and not started again yet)."""
        try:
            pid = self.pid(child)
        except (FileNotFoundError, ValueError):
            return None
        if not self._running_child(pid):
            return None  # its pid file names a process that is gone (or, later, another's)
        os.killpg(pid, signal.SIGKILL)  # each child leads a process group of its own
        return pid

    def _running_child(self, pid: int) -> bool:
        """Is ``pid`` a live (not zombie) child of this ``amazon-ups up``?"""
        import psutil

        try:
            process = psutil.Process(pid)
            return (
                self.proc is not None
                and process.ppid() == self.proc.pid
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def restarted(self, child: str, old_pid: int) -> bool:
        try:
            return self.pid(child) != old_pid
        except (FileNotFoundError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log(self, last: int = 120) -> str:
        return "\n".join(self.output[-last:])


class Browser:
    """Cookies and CSRF tokens, like a browser, over plain HTTP."""

    def __init__(self, base: str, csrf_cookie: str) -> None:
        self.base = base
        self.csrf_cookie = csrf_cookie
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, data: dict[str, Any] | None = None) -> tuple[int, str, str]:
        """(status, final URL, body) of a GET, or of a POST when ``data`` is given."""
        body = None
        if data is not None:
            data = {"csrfmiddlewaretoken": self.csrf_token(), **data}
            body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(self.base + path, data=body)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read().decode(errors="replace")

    def get(self, path: str) -> str:
        status, _, text = self.request(path)
        assert status == 200, (path, status, text[:2000])
        return text

    def post(self, path: str, data: dict[str, Any]) -> tuple[int, str, str]:
        return self.request(path, data)

    def csrf_token(self) -> str:
        for cookie in self.cookies:
            if cookie.name == self.csrf_cookie:
                assert cookie.value is not None  # Django's CSRF cookie has a value
                return cookie.value
        raise AssertionError(f"no {self.csrf_cookie} cookie yet: GET a page with a form first")


def attribute(page: str, element_id: str, name: str) -> str | None:
    """The value of attribute ``name`` on the element with id ``element_id``."""
    match = re.search(rf'<[^>]*\bid="{re.escape(element_id)}"[^>]*>', page)
    if not match:
        return None
    value = re.search(rf'\b{name}="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None


@contextlib.contextmanager
def postgres_databases(*names: str) -> Iterator[dict[str, str]]:
    """Fresh PostgreSQL databases, dropped afterwards; skips the test when no server answers."""
    import pytest

    if not postgres.answers():
        pytest.skip(f"no PostgreSQL server answers at {postgres.shown()}")
    suffix = uuid.uuid4().hex[:8]
    databases = {name: f"e2e_{name}_{suffix}" for name in names}
    try:
        for database in databases.values():
            postgres.create(database)
        yield {name: postgres.database_url(database) for name, database in databases.items()}
    finally:
        for database in databases.values():
            postgres.drop(database)


def query(database: str | Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` from a PostgreSQL URL or a SQLite file (read-only checks)."""
    if str(database).startswith("postgres"):
        import psycopg

        with psycopg.connect(str(database)) as connection:
            return connection.execute(sql).fetchall()
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as connection:
        return connection.execute(sql).fetchall()


# -- the store, as a shopper uses it --------------------------------------------------

DEMO = {"username": "demo", "password": "demo-password-123"}


def shopper_for(system: System) -> Browser:
    shopper = Browser(system.url("amazon", ""), "amazon_csrftoken")
    shopper.get("/accounts/login/")
    status, url, _ = shopper.post("/accounts/login/", DEMO)
    assert status == 200 and "/accounts/login/" not in url, "the demo shopper could not log in"
    return shopper


def buy(shopper: Browser, quantity: int, x: int, y: int) -> str:
    """Buy the first product in the catalog; returns the order page's path."""
    catalog = shopper.get("/")
    product = re.search(r'name="product" value="(\d+)"', catalog)
    assert product, "no Buy form on the catalog page"
    status, url, page = shopper.post(
        "/orders/new/",
        {
            "product": product.group(1),
            "token": uuid.uuid4().hex,
            "quantity": quantity,
            "dest_x": x,
            "dest_y": y,
        },
    )
    assert status == 200 and re.fullmatch(r"/orders/\d+/", urllib.parse.urlparse(url).path), page[
        :2000
    ]
    return urllib.parse.urlparse(url).path


TRACKING_NUMBER = re.compile(r'<span id="tracking-number">([^<]+)</span>')


def tracking_number_of(shopper: Browser, order_path: str, timeout: float = 60) -> str:
    """The UPS tracking number the order page shows, once UPS has told the store, as
    UPS keeps it (the page shows it in groups of four)."""
    found: list[str] = []

    def shown() -> bool:
        match = TRACKING_NUMBER.search(shopper.get(order_path))
        if match:
            found.append(match.group(1))
        return bool(match)

    wait_until(shown, timeout, "UPS's tracking number on the order page")
    return found[-1].replace(" ", "")


def status_of(shopper: Browser, order_path: str) -> str | None:
    return attribute(shopper.get(order_path), "order-status", "data-status")
