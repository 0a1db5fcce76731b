"""Settings of the store. Shared ones, and the environment variables, are in
``amazon_ups.common.settings``."""

import os
from pathlib import Path

from amazon_ups.common.settings import *  # noqa: F403
from amazon_ups.common.settings import (
    COMMON_APPS,
    VAR_DIR,
    databases,
    email,
    env_int,
    secret_key,
)

PROJECT = "amazon"
SECRET_KEY = secret_key(PROJECT)
ROOT_URLCONF = "amazon_ups.amazon.urls"
WSGI_APPLICATION = "amazon_ups.amazon.wsgi.application"
DATABASES = databases(PROJECT)
# What /operator/ lists as waiting far longer than usual (STUCK_AFTER).
OPERATOR_STUCK = "amazon_ups.amazon.orders.selectors.stuck_for_operators"
OPERATOR_DASHBOARD = "amazon_ups.amazon.orders.selectors.dashboard_for_operators"
OPERATOR_COUNTS = "amazon_ups.amazon.orders.selectors.counts_for_operators"
globals().update(email(PROJECT))

INSTALLED_APPS = [
    *COMMON_APPS,
    "amazon_ups.amazon.carrier",
    "amazon_ups.amazon.accounts",
    "amazon_ups.amazon.catalog",
    "amazon_ups.amazon.orders",
    "amazon_ups.amazon.cart",
    "amazon_ups.amazon.fulfilment",
]

# Units of each listed product the fulfilment daemon buys for each warehouse when it
# joins a new world (whose warehouses are empty); 0: none, the first orders buy them.
INITIAL_STOCK = env_int("INITIAL_STOCK", 20)

# Sellers' product pictures (catalog/images.py): files 0600 in a 0700 folder, served by
# the store's own view, never as a folder. With several web hosts, a folder they all
# share (e.g. an NFS mount): AMAZON_MEDIA_DIR.
MEDIA_DIR = Path(os.environ.get("AMAZON_MEDIA_DIR") or VAR_DIR / "media-amazon")

SESSION_COOKIE_NAME = "amazon_sessionid"
CSRF_COOKIE_NAME = "amazon_csrftoken"

# The site's frame (base.html, the login page) and its stylesheet belong to no one app.
_HERE = Path(__file__).resolve().parent
TEMPLATES = [{**TEMPLATES[0], "DIRS": [_HERE / "templates"]}]  # noqa: F405
# cart_count on every page, for the nav bar.
TEMPLATES[0]["OPTIONS"] = {
    **TEMPLATES[0]["OPTIONS"],
    "context_processors": [
        *TEMPLATES[0]["OPTIONS"]["context_processors"],
        "amazon_ups.amazon.cart.context_processors.cart",
    ],
}
STATICFILES_DIRS = [_HERE / "static"]

# The user of a request comes with the profile and the cart's units, in one query
# (cart/backends.py); login throttling first, as in common.settings.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "amazon_ups.amazon.cart.backends.ShopperBackend",
]

# Sessions are read on every request: from a cache in front of the database (Django's
# cached_db: written to both, read from the cache first, each entry kept as long as its
# session). Reading a file costs a tenth of a query. The cache is files in VAR_DIR
# (private, as everything there), which every web process on this host shares, so a
# login or logout in one worker is seen by the others at once. Web processes on several
# hosts must not each keep their own (a logout on one host would leave the session alive
# on another): SESSION_CACHE=none reads every session from the database.
SESSION_CACHE = os.environ.get("SESSION_CACHE", "host").lower()
if SESSION_CACHE == "host":
    CACHES = {
        **CACHES,  # noqa: F405
        "sessions": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "sessions-amazon"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        },
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    SESSION_CACHE_ALIAS = "sessions"
else:
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
