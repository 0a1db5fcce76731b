"""State changes of the dispatch daemon: trucks and which packages they carry
(``trucks``), what Amazon asks (``requests``), what the world reports (``reports``), our
trucks in a world (``fleet``), which world we are in (``world``) and the periodic work
(``upkeep``). A package's own status moves through ``shipments.services``; the time is
passed in where a rule needs it."""

from amazon_ups.ups.dispatch.services.fleet import fleet_add, fleet_reset, packages_abandon
from amazon_ups.ups.dispatch.services.reports import (
    MAX_PICKUP_REFUSALS,
    deliveries_refused,
    package_delivered,
    pickup_refused,
    query_refused,
    truck_finished,
    truck_reported,
)
from amazon_ups.ups.dispatch.services.requests import ITEMS as package_items
from amazon_ups.ups.dispatch.services.requests import (
    account_check,
    amazon_error,
    load_failed,
    package_loaded,
    packages_created_together,
    packages_created_write,
    pickup_request,
    pickups_read_together,
)
from amazon_ups.ups.dispatch.services.trucks import loads_read_together, serving_together
from amazon_ups.ups.dispatch.services.upkeep import (
    confirm_deliveries,
    depart_overdue,
    queries_send,
    redirects_settle,
    serve_waiting,
    stuck_find,
)
from amazon_ups.ups.dispatch.services.world import world_announced, world_joined

__all__ = [
    "MAX_PICKUP_REFUSALS",
    "account_check",
    "amazon_error",
    "confirm_deliveries",
    "deliveries_refused",
    "depart_overdue",
    "fleet_add",
    "fleet_reset",
    "load_failed",
    "loads_read_together",
    "package_delivered",
    "package_items",
    "package_loaded",
    "packages_abandon",
    "packages_created_together",
    "packages_created_write",
    "pickup_refused",
    "pickup_request",
    "pickups_read_together",
    "queries_send",
    "query_refused",
    "redirects_settle",
    "serve_waiting",
    "serving_together",
    "stuck_find",
    "truck_finished",
    "truck_reported",
    "world_announced",
    "world_joined",
]
