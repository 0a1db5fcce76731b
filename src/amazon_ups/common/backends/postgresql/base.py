"""Django's PostgreSQL backend with a connection health check that costs no round trip.

``CONN_HEALTH_CHECKS`` makes Django check a kept connection before a request's first
query, so that one closed by the server (a restart, ``pg_terminate_backend``, an idle
timeout) is opened again instead of failing the request. Django checks with a
``SELECT 1``: a round trip to the server on every request, a tenth of the statements a
shopper's order costs the web. A server closing a session says so on its socket (an
error message, then the end of the stream), and says nothing unasked to an idle session
otherwise; so an idle connection with nothing to read is as good as it was after its last
statement, and only one with something to read (the goodbye, or a rare notice) is asked
with ``SELECT 1``, which reads what came and decides.

A host that vanished without a word (its network cut) leaves nothing to read either way;
``SELECT 1`` would have waited on it just as the request's first query now does, for
as long as the connection's keep-alive settings allow (``settings.DEAD_PEER_*``).
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if not hasattr(select, "poll"):  # not on this platform: Django's round trip
            return super().is_usable()
        poller = select.poll()
        try:
            poller.register(connection.fileno(), select.POLLIN)
            said = poller.poll(0)
        except (OSError, ValueError):  # its socket already gone
            return False
        return not said or super().is_usable()
