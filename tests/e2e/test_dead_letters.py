"""A message that breaks its handler, in the whole system: it is set aside as a dead
letter while the orders around it are delivered and the daemon keeps serving; an
operator sees it on /operator/status.json, fixes the cause, retries it from the admin,
and that order is delivered too.

The break is real: a trigger in UPS's database refuses one package's row, so UPS's
handler of Amazon's PickupRequest fails inside the database, as a bad deploy or bad
data would make it fail. (Amazon's side, a world message set aside and retried, is in
tests/amazon/test_dead_letters.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from amazon_ups.testing.system import (
    Browser,
    System,
    buy,
    query,
    shopper_for,
    status_of,
    wait_until,
)
from tests import poison

POISON = (-37, 41)  # the destination of the one package whose row UPS's database refuses
# Refused by its destination, which the test chooses, rather than by an id it would
# have to guess before the order exists.
CONDITION = f"NEW.dest_x = {POISON[0]} AND NEW.dest_y = {POISON[1]}"
OPERATOR = {"username": "op", "password": "op-password-123"}


def database_of(system: System, database_urls: dict[str, str], site: str) -> str | Path:
    return database_urls.get(site, system.var / f"{site}.sqlite3")


def execute(database: str | Path, statements: list[str]) -> None:
    """Run DDL in a company's database while its processes use it."""
    if str(database).startswith("postgres"):
        import psycopg

        with psycopg.connect(str(database), autocommit=True) as connection:
            for sql in statements:
                connection.execute(sql)
        return
    with contextlib.closing(sqlite3.connect(database, timeout=30, isolation_level=None)) as db:
        for sql in statements:
            db.execute(sql)


def make_operator(system: System, database_urls: dict[str, str], site: str) -> Browser:
    """A superuser made with the site's own command, logged in to its admin."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(AMAZON_UPS_VAR=str(system.var), DJANGO_SUPERUSER_PASSWORD=OPERATOR["password"])
    if site in database_urls:
        env["DATABASE_URL"] = database_urls[site]
    subprocess.run(
        [
            *(sys.executable, "-m", "amazon_ups.cli", site, "createsuperuser", "--noinput"),
            *("--username", OPERATOR["username"], "--email", "op@example.com"),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    operator = Browser(system.url(site, ""), f"{site}_csrftoken")
    operator.get("/admin/login/")
    status, url, _ = operator.post("/admin/login/?next=/admin/", {**OPERATOR, "next": "/admin/"})
    assert status == 200 and "/admin/login/" not in url, "the operator could not log in"
    return operator


def dead_letters(database: str | Path) -> list[tuple]:
    return query(database, "SELECT id, peer, field, seqnum, state, error FROM messaging_deadletter")


@pytest.mark.timeout(400)
def test_a_message_that_breaks_its_handler_is_set_aside_and_retried_after_the_fix(
    start_system, database_urls
):
    system = start_system("--simspeed", "1000", "--trucks", "4")
    database = database_of(system, database_urls, "ups")
    operator = make_operator(system, database_urls, "ups")
    vendor = "postgresql" if str(database).startswith("postgres") else "sqlite"
    execute(database, poison.poison(vendor, "shipments_package", CONDITION))

    shopper = shopper_for(system)
    destinations = [(5, 5), (-12, 3), POISON, (20, -8), (-3, -15)]
    orders = [buy(shopper, quantity=1, x=x, y=y) for x, y in destinations]
    poisoned = orders[2]
    others = [order for order in orders if order != poisoned]

    def statuses() -> Counter:
        return Counter(status_of(shopper, order) for order in others)

    try:
        wait_until(lambda: statuses()["delivered"] == len(others), 120, "the other orders")
        [(letter_id, peer, field, seqnum, state, error)] = wait_until(
            lambda: dead_letters(database), 30, "the dead letter"
        )
        assert (peer, field, state) == ("amazon", "pickups", "open")
        assert poison.POISON_TEXT in error
        # Amazon's side of it waits for a truck that UPS has not sent.
        assert status_of(shopper, poisoned) in {"packing", "packed"}
        # Logged once, though the message was acked and so never came again.
        assert sum("failed and is set aside" in line for line in system.output) == 1

        status = json.loads(operator.get("/operator/status.json"))["dead_letters"]
        assert status["open"] == 1
        assert [(row["id"], row["subject"]) for row in status["newest"]] == [
            (letter_id, f"pickups #{seqnum} from amazon")
        ]

        # The daemon kept serving: an order placed now goes through.
        later = buy(shopper, quantity=1, x=9, y=9)
        wait_until(lambda: status_of(shopper, later) == "delivered", 120, "a later order")

        # The fix, then the retry, as an operator does it in the admin.
        execute(database, poison.cure(vendor, "shipments_package"))
        _, _, page = operator.post(
            "/admin/messaging/deadletter/", {"action": "retry", "_selected_action": letter_id}
        )
        assert "will be retried by the daemon" in page
        wait_until(lambda: status_of(shopper, poisoned) == "delivered", 120, "the retried order")
    except AssertionError:
        # The daemons' lines, without the web's access log of the test's polling.
        print("\n".join([line for line in system.output if '" 200 ' not in line][-300:]))
        raise
    assert [row[4] for row in dead_letters(database)] == ["resolved"]
    assert json.loads(operator.get("/operator/status.json"))["dead_letters"]["open"] == 0
    system.stop()

    amazon = database_of(system, database_urls, "amazon")
    delivered = query(
        amazon,
        "SELECT order_id, COUNT(*) FROM orders_orderevent WHERE status = 'delivered' "
        "GROUP BY order_id",
    )
    assert len(delivered) == len(orders) + 1 and {n for _, n in delivered} == {1}
