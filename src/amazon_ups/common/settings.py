"""Settings shared by the two Django projects (``amazon_ups.amazon``, ``amazon_ups.ups``).

Each project's settings module starts with ``from amazon_ups.common.settings import *``
and adds its own apps and URLs. What differs between machines comes from the
environment:

- ``DATABASE_URL``: e.g. ``postgres://postgres@127.0.0.1:5432/amazon``; without it,
  an embedded SQLite file in ``AMAZON_UPS_VAR`` (default ``./var``).
- ``DJANGO_SECRET_KEY``: required in production; for local runs a random key is
  kept in ``AMAZON_UPS_VAR/secret-<project>``.
- ``DJANGO_PRODUCTION=1``: HTTPS-only cookies, HSTS, no debug; ``DJANGO_DEBUG=1``
  for development; ``DJANGO_ALLOWED_HOSTS`` (comma-separated).
- ``EMAIL_URL``-style settings: ``EMAIL_BACKEND`` and ``EMAIL_HOST`` etc.; by default
  emails are written as files under ``AMAZON_UPS_VAR/mail-<project>``.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, overload

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from amazon_ups.common.private_files import private_dir, restrict_umask


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


N = TypeVar("N", int, float)


@overload
def env_int(name: str, default: int) -> int: ...
@overload
def env_int(name: str, default: None) -> int | None: ...
def env_int(name: str, default: int | None) -> int | None:
    """``name`` as a whole number; ``default`` when unset or empty. A bad value stops
    the import with the variable's name, not a bare ValueError traceback; its range is
    for the system checks, which can say all that is wrong at once."""
    return _env_number(name, default, int, "a whole number")


@overload
def env_float(name: str, default: float) -> float: ...
@overload
def env_float(name: str, default: None) -> float | None: ...
def env_float(name: str, default: float | None) -> float | None:
    """``name`` as a number (``2.5``); ``default`` when unset or empty."""
    return _env_number(name, default, float, "a number")


def _env_number(name: str, default: N | None, kind: Callable[[str], N], what: str) -> N | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    # "inf" and "nan" parse as floats but mean no duration (and timedelta refuses inf).
    if value is None or not math.isfinite(value):
        raise ImproperlyConfigured(f"{name} must be {what}, got {text!r}")
    return value


VAR_DIR = Path(os.environ.get("AMAZON_UPS_VAR", "var")).resolve()
# The SQLite files (and their -wal, -shm), the secret keys and the emails the sites
# write are their user's alone, however a site was started (the CLI sets it too).
restrict_umask()
PRODUCTION = env_bool("DJANGO_PRODUCTION")
DEBUG = env_bool("DJANGO_DEBUG") and not PRODUCTION
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")


def secret_key(project: str) -> str:
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_PRODUCTION is set: DJANGO_SECRET_KEY must be set too (the same on "
            "every web host of the site, e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')"
        )
    path = VAR_DIR / f"secret-{project}"
    if not path.exists():
        private_dir(VAR_DIR)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEAD_PEER_IDLE, DEAD_PEER_PROBES, DEAD_PEER_AFTER = 4, 6, 10  # seconds, probes 1 s apart
DEAD_PEER_CLIENT = {  # libpq's, for this process's end
    "keepalives": 1,
    "keepalives_idle": DEAD_PEER_IDLE,
    "keepalives_interval": 1,
    "keepalives_count": DEAD_PEER_PROBES,
    "tcp_user_timeout": DEAD_PEER_AFTER * 1000,
}
DEAD_PEER_SERVER = {  # the server's, for its end of this session
    "tcp_keepalives_idle": DEAD_PEER_IDLE,
    "tcp_keepalives_interval": 1,
    "tcp_keepalives_count": DEAD_PEER_PROBES,
    "tcp_user_timeout": DEAD_PEER_AFTER * 1000,
}


# psycopg's own default: a statement that ran this often on a connection is prepared.
PREPARE_THRESHOLD = 5


def databases(project: str) -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    default: dict[str, Any]
    if url:
        default = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    else:
        private_dir(VAR_DIR)
        default = {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / f"{project}.sqlite3"}
    if default["ENGINE"] == "django.db.backends.sqlite3":
        # Django's, whose write transactions queue host-wide (``backends/sqlite3``).
        default["ENGINE"] = "amazon_ups.common.backends.sqlite3"
    if default["ENGINE"].endswith("sqlite3"):
        # Each web thread keeps its connection between requests, as DATABASE_URL's
        # PostgreSQL does: opening the file and setting its pragmas cost as much as a
        # page's own work (UPS's tracking form, in-process: 2.25-3.25 -> 1.35-1.95 ms).
        default.setdefault("CONN_MAX_AGE", 60)
        default.setdefault("OPTIONS", {}).update(
            {
                # WAL lets the web read while the daemon writes; IMMEDIATE takes the
                # write lock up front, so two writers queue instead of deadlocking.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            }
        )
    elif default["ENGINE"].endswith("postgresql"):
        # Django's, but its health check costs no round trip (``backends/postgresql``).
        if default["ENGINE"] == "django.db.backends.postgresql":
            default["ENGINE"] = "amazon_ups.common.backends.postgresql"
        # Parameters bound by the server, not inlined in the SQL, and a statement run
        # PREPARE_THRESHOLD times on a connection prepared (Django turns psycopg's
        # preparing off unless told): PostgreSQL then plans each of a daemon's
        # statements once per connection instead of once per query (the server spent 40%
        # less CPU per order). Behind a pooler that shares server sessions between
        # clients and cannot keep prepared statements (PgBouncer's transaction mode
        # before 1.21), ``?prepare_threshold=none`` in DATABASE_URL turns it off.
        options = default.setdefault("OPTIONS", {})
        options.setdefault("server_side_binding", True)
        threshold = options.get("prepare_threshold", PREPARE_THRESHOLD)
        options["prepare_threshold"] = None if str(threshold).lower() == "none" else threshold
        # A host that is gone or cut off keeps its session, and a daemon's lead with it
        # (``daemon/lead.py``), until the server notices; the kernel's TCP keep-alives
        # would take two hours. Probes on both ends after DEAD_PEER_IDLE s of silence
        # make it about DEAD_PEER_AFTER s; so does the timeout on unacknowledged data.
        for name, value in DEAD_PEER_CLIENT.items():
            options.setdefault(name, value)
        server = " ".join(f"-c {name}={value}" for name, value in DEAD_PEER_SERVER.items())
        options["options"] = f"{options.get('options', '')} {server}".strip()
    return {"default": default}


def email(project: str) -> dict:
    backend = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    if backend.endswith("filebased.EmailBackend"):
        # Made here, private, rather than by the backend with the process's umask:
        # these emails carry live password-reset links.
        private_dir(VAR_DIR / f"mail-{project}")
    return {
        "EMAIL_BACKEND": backend,
        "EMAIL_FILE_PATH": VAR_DIR / f"mail-{project}",
        "EMAIL_HOST": os.environ.get("EMAIL_HOST", "localhost"),
        "EMAIL_PORT": env_int("EMAIL_PORT", 25),
        "EMAIL_HOST_USER": os.environ.get("EMAIL_HOST_USER", ""),
        "EMAIL_HOST_PASSWORD": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "EMAIL_USE_TLS": env_bool("EMAIL_USE_TLS"),
        "DEFAULT_FROM_EMAIL": os.environ.get("DEFAULT_FROM_EMAIL", f"{project}@localhost"),
    }


COMMON_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "amazon_ups.common",
    "amazon_ups.common.messaging",
    "amazon_ups.common.mail",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout found during the login into its page.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes), on each site's login and its admin's: after
# LOGIN_FAILURE_LIMIT failed logins for one username from one address, each no more
# than LOGIN_COOLOFF_MINUTES after the one before, that pair waits LOGIN_COOLOFF_MINUTES
# (counted again from each attempt made while waiting) and gets a 429 page saying
# until when. Username and address together: an attacker elsewhere cannot lock a real
# user out by failing with their name, nor lock out everyone behind one address. The
# price: guesses at one account spread over many addresses are not stopped by this.
# A successful login clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_HTTP_RESPONSE_CODE = 429
# Each site's own page, in its look (templates/locked_out.html of each project).
AXES_LOCKOUT_CALLABLE = "amazon_ups.common.throttling.lockout_response"
AXES_LOCKOUT_TEMPLATE = "locked_out.html"
# Behind reverse proxies that each add the address they saw to X-Forwarded-For, how
# many there are: the client is then that many entries from its end (what a client
# sends itself is further left, and ignored). 0: the address that connected.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "amazon_ups.common.throttling.client_address"
# Error pages are each site's 400/403/404/500.html; a refused form, its 403_csrf.html.
CSRF_FAILURE_VIEW = "amazon_ups.common.errors.csrf_failure"

# Each web process keeps rendered fragments (a product's card, keyed by everything the
# card shows, so a change is never served stale) and the catalog's words for typos, in
# its own memory: nothing there is state another process needs. ``fragments``: whole
# parts of pages (common/fragments.py), keyed by what they show; a bounded number, since
# a search's words are part of its key (a product page keeps two: its content, a few KB,
# and its stock).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    },
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments",
        "OPTIONS": {"MAX_ENTRIES": 5_000},
    },
}

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's built-in widgets through its Jinja2 templates of them, three times faster;
# the admin's through the Django engine (common/renderers.py). Pages are Django templates.
FORM_RENDERER = "amazon_ups.common.renderers.JinjaWidgets"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Django's, with each file's URL worked out once per process.
    "staticfiles": {"BACKEND": "amazon_ups.common.staticfiles.StaticFilesStorage"},
}
# Served by WhiteNoise from the apps' static folders: no collectstatic step, no CDN.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # What load balancers and Prometheus ask of each web process directly, over the
    # private network: answered, not redirected to an https:// it does not serve.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^operator/metrics$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
}

# Where the daemons find their peers (see docs/architecture.md).
WORLD_HOST = os.environ.get("WORLD_HOST", "127.0.0.1")
WORLD_UPS_PORT = env_int("WORLD_UPS_PORT", 12345)
WORLD_AMAZON_PORT = env_int("WORLD_AMAZON_PORT", 23456)
# Which side creates the world and tells the other: "ups" (default) or "amazon".
WORLD_CREATOR = os.environ.get("WORLD_CREATOR", "ups")
# Join this world instead of creating one (e.g. one made by another team's UPS).
WORLD_ID = env_int("WORLD_ID", None)
# The Amazon-UPS link: UPS listens here, Amazon connects here.
UPS_HOST = os.environ.get("UPS_HOST", "127.0.0.1")
UPS_PORT = env_int("UPS_PORT", 34567)
# Amazon: every address UPS's daemons may listen on, "host:port" separated by commas
# (e.g. one per UPS daemon host; only the active one listens), tried in turn until
# one answers the link's handshake. Unset: UPS_HOST:UPS_PORT.
UPS_ADDRESSES = os.environ.get("UPS_ADDRESSES", "")
# Where people reach each site (scheme, host, port; an optional path prefix): the
# links between the two sites and every link in an email are made from these, never
# from a request's Host. The defaults are what `amazon-ups up` serves.
AMAZON_PUBLIC_URL = os.environ.get("AMAZON_PUBLIC_URL", "http://127.0.0.1:8000")
UPS_PUBLIC_URL = os.environ.get("UPS_PUBLIC_URL", "http://127.0.0.1:8001")
# Metrics for Prometheus: each site serves /operator/metrics to its staff and to a
# scraper that sends ``Authorization: Bearer <METRICS_TOKEN>`` (unset: staff only); a
# daemon serves its own on DAEMON_METRICS_HOST:DAEMON_METRICS_PORT (unset: none).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
DAEMON_METRICS_HOST = os.environ.get("DAEMON_METRICS_HOST", "127.0.0.1")
DAEMON_METRICS_PORT = env_int("DAEMON_METRICS_PORT", None)
# Simspeed the daemons ask the world for (None: leave the world's own).
WORLD_SIMSPEED = env_int("WORLD_SIMSPEED", None)
# Seconds a daemon lets pass from the start of a turn that worked in its database
# (received messages, or looked) before its next turn, gathering what comes meanwhile
# (common/daemon/runner.py): a turn's cost is much the same for one order as for ten,
# so under load fewer, larger turns cost less per order. 0: a turn as soon as anything
# comes.
DAEMON_GATHER_SECONDS = env_float("DAEMON_GATHER_SECONDS", 0.1)
# Seconds an order, package or truck may stay in one waiting state before its daemon
# calls it stuck: logs it once, shows it to operators, and asks the world about it.
STUCK_AFTER = env_float("STUCK_AFTER", 300)
# The Amazon-UPS link's shared secret (docs/amazon-ups-protocol.md, 2.2): the text of
# AU_LINK_SECRET, or of the file AU_LINK_SECRET_FILE; the same on both sides. Without
# one the daemons speak only over loopback. `amazon-ups up` makes one in var/.
AU_LINK_SECRET = os.environ.get("AU_LINK_SECRET", "")
AU_LINK_SECRET_FILE = os.environ.get("AU_LINK_SECRET_FILE", "")
# Seconds a new connection has to prove itself before it is closed.
AU_LINK_HANDSHAKE_TIMEOUT = env_float("AU_LINK_HANDSHAKE_TIMEOUT", 5)
# Optional TLS under the handshake: UPS serves with this certificate (PEM) and key;
# Amazon turns it on with AU_LINK_TLS=1 and checks UPS's certificate against
# AU_LINK_TLS_CA (default: the system's authorities) for AU_LINK_TLS_SERVER_NAME
# (default UPS_HOST).
AU_LINK_TLS_CERT = os.environ.get("AU_LINK_TLS_CERT", "")
AU_LINK_TLS_KEY = os.environ.get("AU_LINK_TLS_KEY", "")
AU_LINK_TLS = env_bool("AU_LINK_TLS")
AU_LINK_TLS_CA = os.environ.get("AU_LINK_TLS_CA", "")
AU_LINK_TLS_SERVER_NAME = os.environ.get("AU_LINK_TLS_SERVER_NAME", "")
