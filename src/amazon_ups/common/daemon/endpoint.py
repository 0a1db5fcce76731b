"""One peer as the daemon's core sees it (``core.DaemonCore``), without Django, so that
the socket side (``links``) can be used where no Django is set up."""

from __future__ import annotations

from amazon_ups.protocol.channel import Channel


class Endpoint:
    """One peer as the core sees it: a name for logs, the messaging peer key, the
    channel, and how far its outgoing rows have been loaded. ``runner``'s links add
    the socket; a test or a benchmark uses this as it is (always up)."""

    def __init__(self, name: str, channel: Channel, peer: str | None = None) -> None:
        self.name = name  # for logs: "world", "ups", "amazon"
        self.peer = peer  # the messaging peer key; None until known (a world not joined yet)
        self.channel = channel
        self.cursor = 0  # id of the last outgoing row loaded into the channel
        # Connections refused or handshakes failed since the daemon last recorded them.
        self.refusals: list[str] = []
        self.heard_at = 0.0  # when bytes last came from the peer (a Unix time)
        self.sent_at = 0.0  # when the core last gave the shell a frame for it (its ``now``)
        # The peer sent an empty message on this connection: it keeps the link alive, so
        # its silence means it is gone (``silent_after``).
        self.keeps_alive = False

    # Seconds of our silence after which we send an empty message, so that the peer can
    # tell a live link from a frozen peer (the Amazon-UPS protocol allows empty
    # messages, 2.3); None: we never do (the world's protocol has no such message).
    keepalive: float | None = None
    # Seconds of the peer's silence after which the connection is dropped as dead, once
    # its silence means something (``links.Link.silence_deadline``); None: never.
    silent_after: float | None = None

    @property
    def up(self) -> bool:
        return True
