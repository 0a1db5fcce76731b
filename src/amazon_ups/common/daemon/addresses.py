"""Where a peer may be: ``host:port`` lists from settings (``UPS_ADDRESSES``).

Several daemons of one side may run on several hosts, one of them active (``lead``);
the other side is given every address and tries them in turn (``links.DialLink``).
"""

from __future__ import annotations

MAX_PORT = 65535

Address = tuple[str, int]  # (host, port)


def parse_addresses(text: str) -> list[Address]:
    """The addresses of ``"host:port, host:port"`` (an IPv6 host in brackets:
    ``[::1]:34567``), in order; raises ``ValueError`` saying which one is wrong."""
    addresses: list[Address] = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            raise ValueError("an empty address (two commas, or one at an end)")
        host, colon, port_text = item.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise ValueError(f"{item!r}: put an IPv6 address in brackets, [::1]:34567")
        if not colon or not host:
            raise ValueError(f"{item!r} is not host:port")
        if not port_text.isascii() or not port_text.isdigit():
            raise ValueError(f"{item!r}: the port is not a number")
        port = int(port_text)
        if not 1 <= port <= MAX_PORT:
            raise ValueError(f"{item!r}: the port is not from 1 to {MAX_PORT}")
        if (host, port) in addresses:
            raise ValueError(f"{item!r} is given twice")
        addresses.append((host, port))
    return addresses


def shown(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
