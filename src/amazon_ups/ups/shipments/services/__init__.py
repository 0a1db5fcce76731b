"""State changes of packages, trucks and accounts: statuses move here and nowhere else.

The daemon calls these inside the transaction in which it records the message that
caused the change (``messaging.first_receipt``), and the messages a change causes,
to the world or to Amazon, are queued (``messaging.send``) in that same transaction:
a change and what it tells others commit together or not at all. The periodic work
(``upkeep``) runs each item in a transaction of its own.

Every status moves by a table: ``package_lifecycle`` for packages, ``truck_lifecycle``
for trucks. By subdomain:

- ``requests``: what Amazon asks (carry a package, an account, loaded, load failed);
- ``dispatching``: which truck goes for which package, departures, cargo;
- ``reports``: what the world tells of trucks and deliveries, and queries about trucks;
- ``redirect``: the owner changes where a package goes;
- ``upkeep``: the daemon's periodic work, and what waits far too long;
- ``fleet``, ``accounts``: our trucks in a world; carrier accounts.
"""

from amazon_ups.ups.shipments.services.accounts import account_create, demo_user_ensure
from amazon_ups.ups.shipments.services.base import Item, Refused
from amazon_ups.ups.shipments.services.fleet import fleet_add, fleet_reset, packages_abandon
from amazon_ups.ups.shipments.services.redirect import RedirectResult, package_redirect
from amazon_ups.ups.shipments.services.reports import (
    MAX_PICKUP_REFUSALS,
    deliveries_refused,
    package_delivered,
    pickup_refused,
    query_refused,
    truck_finished,
    truck_reported,
)
from amazon_ups.ups.shipments.services.requests import (
    account_check,
    amazon_error,
    load_failed,
    package_loaded,
    pickup_request,
)
from amazon_ups.ups.shipments.services.upkeep import (
    confirm_deliveries,
    depart_overdue,
    queries_send,
    redirects_settle,
    serve_waiting,
    stuck_find,
)
from amazon_ups.ups.shipper.services import AMAZON

__all__ = [
    "AMAZON",
    "MAX_PICKUP_REFUSALS",
    "Item",
    "RedirectResult",
    "Refused",
    "account_check",
    "account_create",
    "amazon_error",
    "confirm_deliveries",
    "deliveries_refused",
    "demo_user_ensure",
    "depart_overdue",
    "fleet_add",
    "fleet_reset",
    "load_failed",
    "package_delivered",
    "package_loaded",
    "package_redirect",
    "packages_abandon",
    "pickup_refused",
    "pickup_request",
    "queries_send",
    "query_refused",
    "redirects_settle",
    "serve_waiting",
    "stuck_find",
    "truck_finished",
    "truck_reported",
]
