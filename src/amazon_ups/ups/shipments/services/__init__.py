"""State changes of packages: a package's status moves here and nowhere else (by its
table, ``package_lifecycle``), and so does the owner's redirect.

The daemon calls these inside the transaction in which it records the message that
caused the change (``messaging.first_receipt``), and the messages a change causes,
to the world or to Amazon, are queued (``messaging.send``) in that same transaction:
a change and what it tells others commit together or not at all. By subdomain:

- ``base``: a package's move, its failure, its delivery;
- ``redirect``: the owner changes where a package goes.

Carrier accounts are the accounts app's (``accounts.services``), below this one.

Trucks, what Amazon asks, what the world reports, the fleet and the daemon's periodic
work are the dispatch app's (``dispatch.services``), above this one.
"""

from amazon_ups.ups.shipments.services.base import (
    Item,
    Refused,
    events_of_one_unit,
    events_written_together,
    moves_noted,
    package_lock,
    package_saves_noted,
    package_saves_of_one_unit,
    package_saves_write,
    packages_changed,
    packages_locked_ahead,
    packages_written,
    truck_positions_noted,
    truck_positions_of_one_unit,
    truck_positions_write,
    trucks_locked_ahead,
)
from amazon_ups.ups.shipments.services.redirect import RedirectResult, package_redirect
from amazon_ups.ups.shipper.services import AMAZON

__all__ = [
    "AMAZON",
    "Item",
    "RedirectResult",
    "Refused",
    "events_of_one_unit",
    "events_written_together",
    "moves_noted",
    "package_lock",
    "package_redirect",
    "package_saves_noted",
    "package_saves_of_one_unit",
    "package_saves_write",
    "packages_changed",
    "packages_locked_ahead",
    "packages_written",
    "truck_positions_noted",
    "truck_positions_of_one_unit",
    "truck_positions_write",
    "trucks_locked_ahead",
]
