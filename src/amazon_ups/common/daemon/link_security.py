"""The Amazon-UPS link's secret and TLS, from settings (docs/amazon-ups-protocol.md, 2.2).

Each daemon takes its ``LinkAuth`` from here once, at start (``ups_auth``,
``amazon_auth``). A link that crosses a network
must be authenticated: without a secret, only a loopback address is allowed, and the
daemon refuses to start otherwise, saying what to set.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from amazon_ups.common.daemon.addresses import Address, parse_addresses
from amazon_ups.common.daemon.links import LinkAuth

logger = logging.getLogger(__name__)

MIN_SECRET_CHARS = 16


def ups_auth(host: str) -> LinkAuth:
    """UPS, listening on ``host``: the secret, and TLS when a certificate is set."""
    return LinkAuth(link_secret(host, "ups"), server_tls(), settings.AU_LINK_HANDSHAKE_TIMEOUT)


def ups_addresses() -> list[Address]:
    """Where Amazon looks for UPS: ``UPS_ADDRESSES``, or else ``UPS_HOST:UPS_PORT``."""
    if not settings.UPS_ADDRESSES:
        return [(settings.UPS_HOST, settings.UPS_PORT)]
    try:
        return parse_addresses(settings.UPS_ADDRESSES)
    except ValueError as error:
        raise ImproperlyConfigured(f"UPS_ADDRESSES: {error}") from None


def amazon_auth(hosts: Sequence[str]) -> LinkAuth:
    """Amazon, connecting to UPS at one of ``hosts``: the secret (which any host off
    loopback needs), and TLS when asked for."""
    host = next((host for host in hosts if not is_loopback(host)), hosts[0])
    return LinkAuth(
        link_secret(host, "amazon"),
        client_tls(),
        settings.AU_LINK_HANDSHAKE_TIMEOUT,
        settings.AU_LINK_TLS_SERVER_NAME or None,
    )


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback one ("" and 0.0.0.0: all)."""
    if host in ("", "0.0.0.0", "::"):
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(
        # An IP address (str) for the IPv4 and IPv6 families getaddrinfo gives here.
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback
        for info in infos
    )


def link_secret(host: str, role: str) -> bytes:
    """The shared secret, as bytes; b"" only for a link on loopback (with a warning).

    ``host`` is where UPS listens (UPS) or where Amazon connects (Amazon)."""
    text = settings.AU_LINK_SECRET
    if not text and settings.AU_LINK_SECRET_FILE:
        path = Path(settings.AU_LINK_SECRET_FILE)
        try:
            text = path.read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(
                f"AU_LINK_SECRET_FILE={path}: cannot read the Amazon-UPS link's secret: {error}"
            ) from None
    if text and len(text) < MIN_SECRET_CHARS:
        raise ImproperlyConfigured(
            f"the Amazon-UPS link's secret is {len(text)} characters long; use at least "
            f"{MIN_SECRET_CHARS} random ones (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    if not text:
        if not is_loopback(host):
            where = "listen on" if role == "ups" else "connect to UPS at"
            raise ImproperlyConfigured(
                f"refusing to {where} {host!r} without a secret: anyone who can reach that "
                "port could pose as the other company. Set AU_LINK_SECRET (or "
                "AU_LINK_SECRET_FILE) to the same random text on both sides, or use a "
                "loopback address."
            )
        logger.warning(
            "AU_LINK_SECRET is not set: the Amazon-UPS link on %s is not authenticated "
            "(allowed on loopback only)",
            host,
        )
    return text.encode()


def server_tls() -> ssl.SSLContext | None:
    """UPS's TLS context, when a certificate is configured."""
    cert, key = settings.AU_LINK_TLS_CERT, settings.AU_LINK_TLS_KEY
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key or None)
    except (OSError, ssl.SSLError) as error:
        raise ImproperlyConfigured(
            f"AU_LINK_TLS_CERT={cert}, AU_LINK_TLS_KEY={key}: {error}"
        ) from None
    return context


def client_tls() -> ssl.SSLContext | None:
    """Amazon's TLS context, when ``AU_LINK_TLS`` is on: UPS's certificate is checked
    against ``AU_LINK_TLS_CA`` (default: the system's authorities)."""
    if not settings.AU_LINK_TLS:
        return None
    try:
        context = ssl.create_default_context(cafile=settings.AU_LINK_TLS_CA or None)
    except (OSError, ssl.SSLError) as error:
        raise ImproperlyConfigured(f"AU_LINK_TLS_CA={settings.AU_LINK_TLS_CA}: {error}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
