"""Settings of the carrier. Shared ones, and the environment variables, are in
``amazon_ups.common.settings``."""

import os
from pathlib import Path

from amazon_ups.common.settings import *  # noqa: F403
from amazon_ups.common.settings import (
    COMMON_APPS,
    databases,
    email,
    env_float,
    env_int,
    secret_key,
)

PROJECT = "ups"
SECRET_KEY = secret_key(PROJECT)
ROOT_URLCONF = "amazon_ups.ups.urls"
WSGI_APPLICATION = "amazon_ups.ups.wsgi.application"
DATABASES = databases(PROJECT)
# What /operator/ lists as waiting far longer than usual (STUCK_AFTER).
OPERATOR_STUCK = "amazon_ups.ups.shipments.selectors.stuck_for_operators"
OPERATOR_DASHBOARD = "amazon_ups.ups.shipments.selectors.dashboard_for_operators"
OPERATOR_COUNTS = "amazon_ups.ups.shipments.selectors.counts_for_operators"
globals().update(email(PROJECT))

INSTALLED_APPS = [
    *COMMON_APPS,
    "amazon_ups.ups.shipper",
    "amazon_ups.ups.shipments",
    "amazon_ups.ups.dispatch",
    "amazon_ups.ups.accounts",
]

# Separate cookie names: both sites run on localhost in the demo.
SESSION_COOKIE_NAME = "ups_sessionid"
CSRF_COOKIE_NAME = "ups_csrftoken"

# How many trucks UPS brings when it creates a world.
UPS_TRUCKS = env_int("UPS_TRUCKS", 10)

# The site's frame (base.html, the auth pages) and its stylesheet belong to no one app.
_HERE = Path(__file__).resolve().parent
TEMPLATES = [{**TEMPLATES[0], "DIRS": [_HERE / "templates"]}]  # noqa: F405
STATICFILES_DIRS = [_HERE / "static"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "shipments:mine"
LOGOUT_REDIRECT_URL = "shipments:home"

# How dispatch works (ups/dispatch/planning.Policy). "naive" is the benchmark's
# baseline: one package per truck, the first free truck.
UPS_DISPATCH = os.environ.get("UPS_DISPATCH", "smart")
# The most packages one truck takes on one trip, and how many it takes at a warehouse
# while another truck is free (beyond that, the burst is spread over free trucks).
UPS_TRUCK_CAPACITY = env_int("UPS_TRUCK_CAPACITY", 50)
UPS_TRUCK_SHARE = env_int("UPS_TRUCK_SHARE", 10)
# Seconds a truck with packages on board waits for the next load before it leaves with
# what it has; the packages not ready go to the next truck.
UPS_LOADING_WAIT = env_float("UPS_LOADING_WAIT", 5)
