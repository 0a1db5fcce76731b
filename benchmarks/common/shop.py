"""Shoppers placing orders over HTTP, as the store's Buy button does: several clients
(threads, each its own ``Browser`` logged in as the demo shopper) take the orders of one
seeded plan one at a time, as fast as they can or at a given rate, and retry a failed POST
with the same form token, so that a form posted twice is still one order."""

from __future__ import annotations

import random
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amazon_ups.testing.system import Browser, System, shopper_for

ORDER_PATH = re.compile(r"/orders/(\d+)/")


@dataclass
class Placing:
    """The orders to place, taken by the clients one at a time, and what came of them."""

    orders: list[dict[str, Any]]
    rate: float | None = None  # orders per second, all clients together; None: no limit
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # no more orders, no retries
    next: int = 0
    placed: list[int] = field(default_factory=list)  # order ids, from the redirect
    pages: dict[str, int] = field(default_factory=dict)  # form token -> the order its page shows
    latencies: list[float] = field(default_factory=list)  # seconds per order (POST + page)
    errors: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)  # tokens of the orders given up on
    retries: int = 0
    first_sent: float | None = None
    last_done: float | None = None

    def take(self) -> dict[str, Any] | None:
        """The next order, once it is due (at ``rate``); None when all are taken or the
        placing was stopped."""
        with self.lock:
            if self.next >= len(self.orders) or self.stop.is_set():
                return None
            self.next += 1
            if self.first_sent is None:
                self.first_sent = time.monotonic()
            order = self.orders[self.next - 1]
            due = self.first_sent + (self.next - 1) / self.rate if self.rate else 0.0
        # A schedule, not a condition: wait for the order's time (or for a stop).
        if self.stop.wait(max(0.0, due - time.monotonic())):
            return None
        return order

    def done(self) -> int:
        with self.lock:
            return len(self.placed) + len(self.errors)


def order_plan(count: int, products: list[str], seed: int) -> list[dict[str, Any]]:
    chooser = random.Random(seed)
    return [
        {
            "product": chooser.choice(products),
            "token": uuid.uuid4().hex,  # the form's token: a retried POST makes one order
            "quantity": chooser.randint(1, 3),
            "dest_x": chooser.randint(-100, 100),
            "dest_y": chooser.randint(-100, 100),
        }
        for _ in range(count)
    ]


@dataclass(frozen=True)
class Retry:
    """How a client tries a failed Buy again, always with the same token: at least
    ``attempts`` tries, and more for as long as ``within`` seconds since the first;
    ``before`` (given the attempt number and the last problem) runs before each retry,
    e.g. to wait for the site to answer again."""

    attempts: int = 3
    within: float = 0.0
    before: Callable[[int, str], None] | None = None


def place_one(
    shopper: Browser, order: dict[str, Any], placing: Placing, retry: Retry = Retry()
) -> None:
    """The Buy button: POST the form, follow the redirect to the order page. A failed
    attempt is tried again with the same token (at most one order comes of it)."""
    start = time.perf_counter()
    problem = ""
    attempt = 0
    while True:
        if attempt:
            more_time = time.perf_counter() - start < retry.within
            if placing.stop.is_set() or (attempt >= retry.attempts and not more_time):
                break
            with placing.lock:
                placing.retries += 1
            if retry.before is not None:
                retry.before(attempt, problem)
        attempt += 1
        try:
            status, url, page = shopper.post("/orders/new/", order)
        except Exception as error:  # a timeout or a reset under load: try again
            problem = f"{type(error).__name__}: {error}"
            continue
        match = ORDER_PATH.fullmatch(urllib.parse.urlparse(url).path)
        if status == 200 and match:
            with placing.lock:
                placing.placed.append(int(match[1]))
                placing.pages[order["token"]] = int(match[1])
                placing.latencies.append(time.perf_counter() - start)
                placing.last_done = time.monotonic()
            return
        problem = f"HTTP {status} at {url}: {' '.join(page[:300].split())}"
    with placing.lock:
        placing.errors.append(problem)
        placing.gave_up.append(order["token"])
        placing.last_done = time.monotonic()


def client(shopper: Browser, placing: Placing, retry: Retry = Retry()) -> None:
    while (order := placing.take()) is not None:
        place_one(shopper, order, placing, retry)


def log_in(system: System, count: int) -> tuple[list[Browser], list[str]]:
    """``count`` shoppers, each its own session, logged in in parallel; the products on
    the catalog page."""
    shoppers: list[Browser | None] = [None] * count
    failures: list[str] = []

    def one(index: int) -> None:
        try:
            shoppers[index] = shopper_for(system)
        except Exception as error:
            failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ready = [shopper for shopper in shoppers if shopper is not None]
    if failures or not ready:
        raise RuntimeError(f"{len(failures)} shoppers could not log in, e.g. {failures[:1]}")
    catalog = ready[0].get("/")
    products = sorted(set(re.findall(r'name="product" value="(\d+)"', catalog)), key=int)
    if not products:
        raise RuntimeError("no Buy form on the catalog page")
    return ready, products
