"""How fast the store's web site answers shoppers, next to the cheapest request the same
server answers.

    .venv/bin/python benchmarks/store_web.py [--clients 50] [--seconds 10] [--workers 2]
        [--threads 4] [--products 2000] [--database sqlite|postgres|both] [--runs 1]
        [--quick]

1. A fresh database (SQLite in a temporary folder, or a fresh PostgreSQL database on the
   server at TEST_POSTGRES_URL, default 127.0.0.1:5432) is migrated and seeded: the demo
   catalog plus ``--products`` more products with words in their names and descriptions,
   and one shopper per client.
2. The Amazon site is served as ``amazon-ups amazon web`` serves it (gunicorn, ``--workers``
   processes with ``--threads`` threads each). No daemon runs: placing an order never waits
   on one, and the benchmark measures the web alone.
3. ``--clients`` threads, each a shopper with its own cookies and one kept-alive
   connection, send requests back to back for ``--seconds`` s per phase:
   - baseline: ``/healthz`` (no database, no template);
   - search: ``/?q=WORD`` (the full-text search of catalog/search.py over names and
     descriptions, paginated; some words match many products, some none, and those
     go through its typo correction);
   - product page: ``/products/ID/`` of a random product;
   - checkout: add a random product to the cart, open the checkout form, place the order
     (three requests; each timed on its own, and the three together).
4. Figures per phase: requests per second, latency p50/p90/p99/max, errors, and the
   ratio to the baseline; CPU used by the server and by the clients (on 2 cores the
   clients take a share; the baseline shows the ceiling of this harness). After the
   checkout phase, the orders in the database are counted against the redirects seen.
   Last, each page against the issue's goals (``GOAL_SHARE``, ``GOAL_P99``), ok or
   MISSED: a checkout is weighed whole, its three requests one after the other; and the
   machine's CPU each page (or whole checkout) costs, against the most its share allows
   (the baseline's CPU per request divided by the share). With
   ``--runs R``, each database runs R times, in turn, and the goals are weighed on each
   figure's median.

Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``tests`` importable
    sys.path.insert(0, str(ROOT))

from amazon_ups.testing.system import postgres_databases  # noqa: E402
from benchmarks.common.report import machine, percentile  # noqa: E402

PASSWORD = "bench-password-123"
WORDS = ["kettle", "lamp", "blue", "steel", "garden", "Travel", "mug", "zebra", "socks", "desk"]
CSRF_COOKIE = "amazon_csrftoken"
TOKEN = re.compile(r'name="token" value="([^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the database --------------------------------------------------------------------------


def prepare_database(env: dict[str, str], products: int, shoppers: int) -> list[int]:
    """Migrate and seed in a child process (Django is set up once per process); returns
    the ids of the products."""
    script = f"""
import django, random
django.setup()
from django.core.management import call_command
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
call_command("migrate", verbosity=0)
call_command("seed_demo", verbosity=0)
from amazon_ups.amazon.catalog.models import Category, Product
categories = list(Category.objects.all()) or [None]
words = {WORDS!r} + ["plain", "red", "oak", "cotton", "solar", "ceramic", "wool", "glass"]
rng = random.Random(1)
start = (Product.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
Product.objects.bulk_create(
    Product(
        id=start + i,
        name=" ".join(rng.sample(words, 2)).title() + f" {{i}}",
        world_name=f"bench product {{i}}",
        description="A " + " ".join(rng.sample(words, 4)) + " thing.",
        category=rng.choice(categories),
    )
    for i in range({products})
)
User = get_user_model()
hashed = make_password({PASSWORD!r})
User.objects.bulk_create(
    User(username=f"bench{{i}}", email=f"bench{{i}}@example.com", password=hashed)
    for i in range({shoppers})
)
print(",".join(str(i) for i in Product.objects.values_list("id", flat=True)))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "amazon_ups.amazon.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"could not prepare the database:\n{result.stderr}")
    return [int(i) for i in result.stdout.strip().splitlines()[-1].split(",")]


def count_orders(env: dict[str, str]) -> int:
    script = (
        "import django; django.setup()\n"
        "from amazon_ups.amazon.orders.models import Order\n"
        "print(Order.objects.filter(user__username__startswith='bench').count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "amazon_ups.amazon.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())


# -- one shopper ---------------------------------------------------------------------------


class Shopper:
    """A kept-alive connection with cookies: what a browser tab does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, data: dict | None = None) -> tuple[int, str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
            headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                text = response.read().decode(errors="replace")
                break
            except (http.client.HTTPException, OSError):
                # The server closed a kept-alive connection between two requests.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, text

    def csrf(self) -> str:
        return self.cookies.get(CSRF_COOKIE, "")

    def log_in(self, username: str) -> None:
        status, page = self.request("GET", "/accounts/login/")
        status, page = self.request(
            "POST",
            "/accounts/login/",
            {"csrfmiddlewaretoken": self.csrf(), "username": username, "password": PASSWORD},
        )
        if status != 302:
            raise SystemExit(f"{username} could not log in ({status}): {page[:500]}")


# -- phases --------------------------------------------------------------------------------


@dataclass
class Timings:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    placed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies.setdefault(name, []).append(seconds)
            if not ok:
                self.errors[name] = self.errors.get(name, 0) + 1


def timed(timings: Timings, name: str, call, expect: int = 200):
    start = time.perf_counter()
    try:
        status, text = call()
    except (OSError, http.client.HTTPException) as error:
        timings.add(name, time.perf_counter() - start, False)
        return None, str(error)
    timings.add(name, time.perf_counter() - start, status == expect)
    return status, text


def baseline(shopper: Shopper, rng: random.Random, timings: Timings, _products) -> None:
    timed(timings, "baseline: /healthz", lambda: shopper.request("GET", "/healthz"))


def search(shopper: Shopper, rng: random.Random, timings: Timings, _products) -> None:
    query = urllib.parse.quote(rng.choice(WORDS))
    timed(timings, "search", lambda: shopper.request("GET", f"/?q={query}"))


def product_page(shopper: Shopper, rng: random.Random, timings: Timings, products) -> None:
    product = rng.choice(products)
    timed(timings, "product page", lambda: shopper.request("GET", f"/products/{product}/"))


def checkout(shopper: Shopper, rng: random.Random, timings: Timings, products) -> None:
    start = time.perf_counter()
    add = {
        "csrfmiddlewaretoken": shopper.csrf(),
        "product": rng.choice(products),
        "quantity": rng.randint(1, 3),
    }
    status, _ = timed(
        timings, "checkout: add to cart", lambda: shopper.request("POST", "/cart/add/", add), 302
    )
    if status != 302:
        return
    status, page = timed(
        timings, "checkout: form", lambda: shopper.request("GET", "/cart/checkout/")
    )
    token = TOKEN.search(page or "")
    if status != 200 or not token:
        return
    order = {
        "csrfmiddlewaretoken": shopper.csrf(),
        "token": token.group(1),
        "dest_x": rng.randint(-100, 100),
        "dest_y": rng.randint(-100, 100),
        "ups_account": "",
    }
    status, _ = timed(
        timings,
        "checkout: place order",
        lambda: shopper.request("POST", "/cart/checkout/", order),
        302,
    )
    if status == 302:
        with timings.lock:
            timings.placed += 1
        timings.add("checkout: all three", time.perf_counter() - start, True)


PHASES = [
    ("baseline", baseline),
    ("search", search),
    ("product page", product_page),
    ("checkout", checkout),
]


def run_phase(name, work, shoppers, products, seconds) -> tuple[Timings, float]:
    timings = Timings()
    stop = threading.Event()
    start_line = threading.Barrier(len(shoppers) + 1)

    def client(index: int, shopper: Shopper) -> None:
        rng = random.Random(index)
        start_line.wait()
        while not stop.is_set():
            work(shopper, rng, timings, products)

    threads = [
        threading.Thread(target=client, args=(i, s), daemon=True) for i, s in enumerate(shoppers)
    ]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < seconds:
        done = sum(len(v) for v in timings.latencies.values())
        if sys.stderr.isatty():
            sys.stderr.write(f"\r  {name:<14} {elapsed:5.1f}/{seconds:.0f} s  {done:7d} requests")
            sys.stderr.flush()
        stop.wait(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    done = sum(len(v) for v in timings.latencies.values())
    sys.stderr.write(f"\r  {name:<14} {elapsed:5.1f} s  {done:7d} requests, done\n")
    sys.stderr.flush()
    return timings, elapsed


# -- the server ----------------------------------------------------------------------------


def wait_for_server(port: int, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the web server exited while starting")
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        time.sleep(0.1)  # polling a server that is starting: nothing else tells us
    raise SystemExit(f"the web server did not answer within {timeout} s")


def server_cpu(server: psutil.Process) -> float:
    total = 0.0
    for process in [server, *server.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def machine_cpu() -> float:
    """CPU seconds the machine's cores have been busy, since it started (guest time is in
    user time already; time stolen by a hypervisor was not ours)."""
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))


def bench(args, env: dict[str, str], label: str) -> list[Figure]:
    print(
        f"\n## {label}: {args.clients} clients, {args.seconds:.0f} s per phase, "
        f"gunicorn {args.workers} workers x {args.threads} threads"
    )
    sys.stderr.write(f"preparing the {label} database ({args.products} extra products)...\n")
    products = prepare_database(env, args.products, args.clients)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amazon_ups.cli",
            "--log-level",
            "warning",
            "amazon",
            "web",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "amazon_ups.amazon.settings"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_server(port, server)
        shoppers = [Shopper(port) for _ in range(args.clients)]
        for index, shopper in enumerate(shoppers):
            shopper.log_in(f"bench{index}")
        watcher = psutil.Process(server.pid)
        me = psutil.Process()
        rows: list[Row] = []
        placed = 0
        for name, work in PHASES:
            server_before, me_before = server_cpu(watcher), sum(me.cpu_times()[:2])
            machine_before = machine_cpu()
            timings, elapsed = run_phase(name, work, shoppers, products, args.seconds)
            server_used = server_cpu(watcher) - server_before
            me_used = sum(me.cpu_times()[:2]) - me_before
            machine_used = machine_cpu() - machine_before
            placed += timings.placed
            for request, latencies in timings.latencies.items():
                errors = timings.errors.get(request, 0)
                rows.append(
                    Row(request, latencies, errors, elapsed, server_used, me_used, machine_used)
                )
        orders = count_orders(env)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)

    baseline_rate = rows[0].rate
    print()
    print(
        "| request | req/s | vs baseline | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| CPU s server / clients |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        latencies = row.latencies
        print(
            f"| {row.request} | {row.rate:,.0f} | {row.rate / baseline_rate:.1%} "
            f"| {percentile(latencies, 0.5) * 1000:.1f} | {percentile(latencies, 0.9) * 1000:.1f}"
            f" | {percentile(latencies, 0.99) * 1000:.1f} | {max(latencies) * 1000:.1f} "
            f"| {row.errors} | {row.server_cpu:.1f} / {row.client_cpu:.1f} |"
        )
    print(
        f"\nOrders placed (redirects seen): {placed}; orders in the database: {orders}"
        f"{'' if placed == orders else '  <-- MISMATCH'}"
    )
    print(f"Mean latency of the baseline: {statistics.mean(rows[0].latencies) * 1000:.1f} ms")
    weighed = figures(rows)
    print_goals(f"Goals ({args.clients} clients)", weighed)
    return weighed


@dataclass(frozen=True)
class Row:
    """One request's figures in its phase."""

    request: str
    latencies: list[float]
    errors: int
    seconds: float  # the phase's
    server_cpu: float  # CPU seconds of the server over the phase
    client_cpu: float
    # CPU seconds of the whole machine over the phase: the server, the clients, the
    # database server and whatever else runs.
    machine_cpu: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


# The goals: each page's rate as a share of /healthz's, with 50 clients, and its
# p99. A checkout is weighed whole (the three requests a shopper makes to buy, one
# after the other), as the baseline of 2.9% was; each of its requests must
# answer within the p99.
GOAL_SHARE = {"search": 0.25, "product page": 0.40, "checkout": 0.15}
GOAL_P99 = 0.250


@dataclass(frozen=True)
class Figure:
    """What a request is weighed by: its rate as a share of the baseline's, and its p99
    in seconds; of one run, or each the median of several runs'."""

    request: str
    share: float
    p99: float
    # CPU seconds of the whole machine per request, or per whole checkout for its "all
    # three": every phase runs out of the same cores, so a page reaches a share of the
    # baseline's rate only by costing at most the baseline's CPU divided by that share.
    cpu: float


def figures(rows: list[Row]) -> list[Figure]:
    """One run's figures (its first row is the baseline's)."""
    baseline = rows[0].rate
    return [
        Figure(
            r.request,
            r.rate / baseline,
            percentile(r.latencies, 0.99),
            r.machine_cpu / max(1, len(r.latencies)),
        )
        for r in rows
    ]


def median_figures(runs: list[list[Figure]]) -> list[Figure]:
    """Each request's share, p99 and CPU, the median of the runs' (a machine shared with others
    slows a run in bursts: one run's figures move by a quarter from the next)."""
    requests = list(dict.fromkeys(f.request for run in runs for f in run))
    return [
        Figure(
            request,
            statistics.median(f.share for run in runs for f in run if f.request == request),
            statistics.median(f.p99 for run in runs for f in run if f.request == request),
            statistics.median(f.cpu for run in runs for f in run if f.request == request),
        )
        for request in requests
    ]


def goals(weighed: list[Figure]) -> list[str]:
    """Each page's figures against the goals, a line each: ``ok`` or ``MISSED``; and what
    the page costs of the machine's CPU against what its share allows (the baseline's
    cost divided by the share), which says how far a missed share is from its goal."""
    baseline = weighed[0]
    lines = []
    for page, share in GOAL_SHARE.items():
        mine = [f for f in weighed if f.request == page or f.request.startswith(page + ":")]
        if not mine:
            continue
        whole = next(f for f in mine if f.request in (page, f"{page}: all three"))
        asked = [f for f in mine if f is not whole] or [whole]
        slowest = max(asked, key=lambda f: f.p99)
        lines.append(
            f"{page:<13} {whole.share:6.1%} of /healthz >= {share:.0%} "
            f"{verdict(whole.share >= share)}; p99 {slowest.p99 * 1000:,.0f} ms < "
            f"{GOAL_P99 * 1000:.0f} ms {verdict(slowest.p99 < GOAL_P99)}"
            + (f" (the slowest: {slowest.request})" if len(asked) > 1 else "")
            + f"; CPU {whole.cpu * 1000:.2f} ms {'a checkout' if whole.request != page else 'each'}"
            f" (at most {baseline.cpu / share * 1000:.2f} for {share:.0%})"
        )
    return lines


def print_goals(title: str, weighed: list[Figure]) -> None:
    print(f"\n{title}:")
    for line in goals(weighed):
        print(f"  {line}")


def verdict(met: bool) -> str:
    return "ok" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--runs", type=int, default=1, help="runs of each database, in turn")
    parser.add_argument("--quick", action="store_true", help="3 s per phase, 500 products")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.products = 3.0, 500
    print(f"# Store web benchmark\nmachine: {machine()}")
    runs: dict[str, list[list[Figure]]] = {}
    for number in range(1, args.runs + 1):
        # Each database in turn, run after run: a slow spell of the machine falls on both.
        for env, label in fresh_sites(args.database, "store-web-"):
            if args.runs > 1:
                label = f"{label}, run {number} of {args.runs}"
            runs.setdefault(label.split(",")[0], []).append(bench(args, env, label))
    if args.runs > 1:
        for label, of_kind in runs.items():
            print(f"\n## {label}: the median of {len(of_kind)} runs\n")
            print("| request | vs baseline | p99 ms |")
            print("|---|---|---|")
            median = median_figures(of_kind)
            for figure in median:
                print(f"| {figure.request} | {figure.share:.1%} | {figure.p99 * 1000:.1f} |")
            print_goals(f"Goals ({args.clients} clients), on the medians", median)


def fresh_sites(database: str, prefix: str) -> Iterator[tuple[dict[str, str], str]]:
    """For each database kind asked for (``sqlite``, ``postgres`` or ``both``): the
    environment of a store on a fresh one (its own var folder, named ``prefix``..., and
    secret key; on PostgreSQL a new database, dropped after), and the kind's name."""
    kinds = ["sqlite", "postgres"] if database == "both" else [database]
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=prefix) as var:
            env = {**os.environ, "AMAZON_UPS_VAR": var, "DJANGO_SECRET_KEY": uuid.uuid4().hex}
            env.pop("DATABASE_URL", None)
            if kind == "sqlite":
                yield env, "SQLite"
                continue
            with postgres_databases("store") as urls:
                yield {**env, "DATABASE_URL": urls["store"]}, "PostgreSQL"


if __name__ == "__main__":
    main()
