"""Looking at a running ``amazon-ups up`` (``amazon_ups.testing.system.System``) and its
databases: the children it supervises and what a process is doing, the orders' statuses
and delivery times, the outboxes, fresh PostgreSQL databases, and what is left running
after a stop."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from amazon_ups.testing import postgres
from amazon_ups.testing.system import System, postgres_databases, query

# The children of ``amazon-ups up`` (their pid files in var/run), and what we call them.
CHILDREN = {
    "world": "world",
    "ups-d": "UPS daemon",
    "amzn-d": "Amazon daemon",
    "ups": "UPS web",
    "amazon": "Amazon web",
}
WEB = {"ups", "amazon"}  # gunicorn: the master's workers count with it
# An order's statuses in the order it goes through them (then "failed", off the path).
PIPELINE = ("placed", "packing", "packed", "loading", "loaded", "delivering", "delivered")


# Names of the system calls a sleeping process is found in (x86_64 numbers).
SYSCALLS = {
    0: "read",
    1: "write",
    7: "poll",
    17: "pread64",
    18: "pwrite64",
    23: "select",
    35: "nanosleep",
    44: "sendto",
    45: "recvfrom",
    74: "fsync",
    75: "fdatasync",
    202: "futex",
    230: "clock_nanosleep",
    232: "epoll_wait",
    270: "pselect6",
    271: "ppoll",
    281: "epoll_pwait",
}
RUNNING = "running"


def doing(pid: int) -> str:
    """What process ``pid`` does: RUNNING (on a CPU or runnable), or the name of the
    system call it sleeps in."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    if stat[stat.rindex(")") + 2] == "R":
        return RUNNING
    call = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    return SYSCALLS.get(int(call), f"syscall {call}") if call.isdigit() else call


def status_counts(database: str) -> Counter[str]:
    return Counter(dict(query(database, "SELECT status, count(*) FROM orders_order GROUP BY 1")))


def as_datetime(value: Any) -> datetime:
    # PostgreSQL gives aware datetimes; Django keeps them in SQLite as UTC text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def delivery_times(database: str) -> list[tuple[datetime, datetime]]:
    """(created_at, delivered at) of every delivered order."""
    rows = query(
        database,
        "SELECT o.created_at, MIN(e.at) FROM orders_order o "
        "JOIN orders_orderevent e ON e.order_id = o.id AND e.status = 'delivered' "
        "GROUP BY o.id, o.created_at",
    )
    return [(as_datetime(created), as_datetime(delivered)) for created, delivered in rows]


def stage_times(database: str) -> dict[str, list[float]]:
    """For each status of ``PIPELINE`` but the last, the seconds each delivered order
    spent in it: from when it first reached that status (``placed``: its
    ``created_at``) to when it first reached the next one it went through. Their sum is
    the order's order-to-delivered latency."""
    created = dict(query(database, "SELECT id, created_at FROM orders_order"))
    reached: dict[int, dict[str, datetime]] = {}
    for order_id, status, at in query(
        database,
        "SELECT order_id, status, MIN(at) FROM orders_orderevent GROUP BY order_id, status",
    ):
        reached.setdefault(order_id, {})[status] = as_datetime(at)
    stages: dict[str, list[float]] = {status: [] for status in PIPELINE[:-1]}
    for order_id, times in reached.items():
        if "delivered" not in times or order_id not in created:
            continue
        times["placed"] = as_datetime(created[order_id])
        path = [status for status in PIPELINE if status in times]
        for status, after in itertools.pairwise(path):
            stages[status].append(max(0.0, (times[after] - times[status]).total_seconds()))
    return stages


def outgoing(database: str) -> list[tuple[str, str, int, int]]:
    """(peer, field, messages, acked) from a project's outbox."""
    return query(
        database,
        "SELECT peer, field, count(*), count(acked_at) FROM messaging_outgoingmessage "
        "GROUP BY peer, field ORDER BY peer, field",
    )


def postgres_or_none(stack: contextlib.ExitStack, *names: str) -> dict[str, str] | None:
    """Fresh databases ``names`` (dropped when ``stack`` closes), or None without a server."""
    import pytest  # the harness skips a test when PostgreSQL is not there

    try:
        return stack.enter_context(postgres_databases(*names))
    except pytest.skip.Exception:
        return None


def postgres_version() -> str:
    with contextlib.suppress(Exception):
        (version,) = query(postgres.SERVER_URL, "SHOW server_version")[0]
        (commit,) = query(postgres.SERVER_URL, "SHOW synchronous_commit")[0]
        return f"PostgreSQL {version} (synchronous_commit={commit})"
    return "PostgreSQL"


def stop_leftovers(system: System) -> str:
    """Children of ``amazon-ups up`` still alive after it stopped (it should have stopped
    them): terminated here, by their pids, and named."""
    left = []
    for child in CHILDREN:
        try:
            process = psutil.Process(system.pid(child))
            if "amazon_ups.cli" not in " ".join(process.cmdline()):
                continue  # the pid was reused
        except (OSError, ValueError, psutil.Error):
            continue
        left.append(f"{child} (pid {process.pid})")
        process.terminate()
        try:
            process.wait(10)
        except psutil.TimeoutExpired:
            process.kill()
    return ", ".join(left)
