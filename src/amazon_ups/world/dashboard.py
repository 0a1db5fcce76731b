"""The world dashboard: ``amazon-ups world --http-port N``, a web page and JSON.

Every world: its map (warehouses, trucks with their status, packages), its connections
(since when, last frame, results waiting for an ack and how often each was sent), its
client diagnostics, and a live log of commands and results that filters by package,
truck and kind (``messagelog.py``), exported as JSON lines. Controls, behind the token
printed at start: flakiness and response faults, simspeed, pause and resume the
world's clock, retire the world.

A thin shell, standard library only: a small HTTP/1.1 server on the world's own event
loop (asyncio streams), so it reads the engine between two turns with no lock and costs
nothing while nobody asks. Every control that changes a world goes through the journal
like any other input (a simspeed is a commands message, pause/resume/retire entries of
their own), so a restarted world replays it; fault settings are the server's, not the
world's, and last until the process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from dataclasses import asdict, replace
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from amazon_ups.protocol.world_messages import DIALECTS, Side
from amazon_ups.world.journal import Entry, EntryKind, retire_entry
from amazon_ups.world.limits import RetireReason
from amazon_ups.world.messagelog import rows
from amazon_ups.world.outbox import ResultOutbox

if TYPE_CHECKING:
    from amazon_ups.world.server import WorldServer

logger = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024  # a request's line, headers and body together
REQUEST_TIMEOUT = 10.0
LOG_PAGE = 500  # log entries per JSON answer, the newest
PACKAGES_SHOWN = 1000  # packages listed per world, the newest


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, text: str) -> None:
        super().__init__(text)
        self.status = status


class Dashboard:
    def __init__(self, server: WorldServer, host: str, port: int, token: str) -> None:
        self.server = server
        self.host, self.port = host, port
        self.token = token
        self._listener: asyncio.Server | None = None
        self._page = (
            resources.files("amazon_ups.world") / "static" / "dashboard.html"
        ).read_bytes()

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._listener.sockets[0].getsockname()[1]
        logger.info("world dashboard on http://%s:%d/", self.host, self.port)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()

    # -- HTTP ----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                method, target, headers, body = await _read_request(reader)
            status, content_type, payload = self._answer(method, target, headers, body)
        except BadRequest as error:
            status, content_type = error.status, "application/json"
            payload = json.dumps({"error": str(error)}).encode()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            return
        except Exception:  # a bug must not stop the world: say so, keep serving
            logger.exception("dashboard request failed")
            status, content_type = HTTPStatus.INTERNAL_SERVER_ERROR, "application/json"
            payload = b'{"error": "internal error, see the world\'s log"}'
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[HTTPStatus, str, bytes]:
        url = urlsplit(target)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "GET" and parts == []:
            return HTTPStatus.OK, "text/html; charset=utf-8", self._page
        if parts[:1] != ["api"]:
            raise BadRequest(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
        if method == "GET" and parts == ["api", "worlds"]:
            return _json(self.worlds())
        if len(parts) < 3 or parts[1] != "worlds":
            raise BadRequest(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
        world_id = _integer(parts[2], "world id")
        if world_id not in self.server.engine.worlds:
            raise BadRequest(HTTPStatus.NOT_FOUND, f"world {world_id} does not exist")
        rest = parts[3:]
        if method == "GET" and rest == []:
            return _json(self.world(world_id))
        if method == "GET" and rest == ["log"]:
            return _json(self.log(world_id, query))
        if method == "GET" and rest == ["log.jsonl"]:
            lines = "".join(json.dumps(e) + "\n" for e in self.entries(world_id, query, None))
            return HTTPStatus.OK, "application/x-ndjson", lines.encode()
        if method == "POST" and len(rest) == 1:
            self._authorize(headers)
            try:
                fields = json.loads(body or b"{}")
            except ValueError as error:
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {error}") from None
            if not isinstance(fields, dict):
                raise BadRequest(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            return _json(self.control(world_id, rest[0], fields))
        raise BadRequest(HTTPStatus.NOT_FOUND, f"no such page: {method} {url.path}")

    def _authorize(self, headers: dict[str, str]) -> None:
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise BadRequest(
                HTTPStatus.FORBIDDEN, "controls need the token the world printed at start"
            )

    # -- what it shows -------------------------------------------------------------------

    def worlds(self) -> dict:
        engine, links = self.server.engine, self.server.links
        return {
            "now": time.time(),
            "first_seqnum": self.server.journal.first_seqnum,
            "next_seqnum": engine.next_result_seqnum,
            "logging": self.server.message_log is not None,
            "worlds": [
                {
                    "id": world.id,
                    "trucks": len(world.trucks),
                    "warehouses": len(world.warehouses),
                    "packages": len(world.packages),
                    "connected": sorted(str(side) for side in Side if (world.id, side) in links),
                    "paused": world.paused_at is not None,
                    "mistakes": sum(engine.diagnose(world.id, side).total() for side in Side),
                }
                for world in engine.worlds.values()
            ],
        }

    def world(self, world_id: int) -> dict:
        engine = self.server.engine
        world = engine.worlds[world_id]
        now = time.time() if world.paused_at is None else world.paused_at
        destinations = {
            stop.packageid: (stop.x, stop.y) for t in world.trucks.values() for stop in t.route
        }
        packages = list(world.packages.values())[-PACKAGES_SHOWN:]
        return {
            "id": world_id,
            "now": time.time(),
            "paused": world.paused_at is not None,
            "simspeed": {str(side): world.simspeed[side] for side in Side},
            "faults": asdict(self.server.faults_for(world_id)),
            "rules": {k: str(v) for k, v in asdict(engine.rules).items()},
            "warehouses": [
                {"id": w.id, "x": w.x, "y": w.y, "stock": {str(p): n for p, n in w.stock.items()}}
                for w in world.warehouses.values()
            ],
            "trucks": [
                {
                    "id": t.id,
                    "x": (position := t.position(now))[0],
                    "y": position[1],
                    "status": str(t.status),
                    "warehouse": t.warehouse,
                    "stops": len(t.route),
                }
                for t in world.trucks.values()
            ],
            "packages": [
                {
                    "id": p.shipid,
                    "status": str(p.status),
                    "warehouse": p.warehouse,
                    "truck": p.truck,
                    "destination": destinations.get(p.shipid),
                }
                for p in packages
            ],
            "package_count": len(world.packages),
            "connections": [self._connection(world_id, side) for side in Side],
            "diagnostics": {
                str(side): {
                    "resent": world.sessions[side].outbox.resent,
                    "findings": engine.diagnose(world_id, side).as_list(),
                }
                for side in Side
            },
        }

    def _connection(self, world_id: int, side: Side) -> dict:
        outbox = self.server.engine.worlds[world_id].sessions[side].outbox
        waiting = [
            {"seqnum": r.seqnum, "kind": r.field, "sends": outbox.sends(r.seqnum)}
            for r in cast(ResultOutbox, outbox).items(limit=100)
        ]
        out: dict[str, Any] = {
            "side": str(side),
            "connected": False,
            "unacked": len(outbox),
            "waiting": waiting,
        }
        link = self.server.links.get((world_id, side))
        if link is not None:
            out.update(
                connected=True,
                peer=link.peer,
                since=link.since,
                last_frame=time.time() - (time.monotonic() - link.last_heard),
                dropped=0 if link.faults is None else link.faults.dropped,
            )
        return out

    def entries(self, world_id: int, query: dict[str, str], limit: int | None) -> list[dict]:
        """The log's rows (a sub-command, a result, a message's acks) of a world's
        messages after message ``after``, filtered by package, truck and kind."""
        message_log = self.server.message_log
        if message_log is None:
            return []
        after = _integer(query.get("after", "0"), "after")
        package = _integer(query["package"], "package") if query.get("package") else None
        truck = _integer(query["truck"], "truck") if query.get("truck") else None
        world = self.server.engine.worlds[world_id]
        unacked = {side: world.sessions[side].outbox for side in Side}
        kind = query.get("kind") or None
        return rows(message_log, world_id, unacked, after, package, truck, kind, limit)

    def log(self, world_id: int, query: dict[str, str]) -> dict:
        message_log = self.server.message_log
        return {
            "world": world_id,
            "last_id": 0 if message_log is None else message_log.last_id,
            "entries": self.entries(world_id, query, LOG_PAGE),
        }

    # -- controls --------------------------------------------------------------------------

    def control(self, world_id: int, action: str, fields: dict) -> dict:
        server = self.server
        now = time.time()
        if action == "faults":
            known = {"flakiness", "drop", "duplicate", "reorder", "delay", "max_delay"}
            unknown = set(fields) - known
            if unknown:
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"unknown fault {sorted(unknown)}")
            try:
                config = replace(server.faults_for(world_id), **fields)
            except (TypeError, ValueError) as error:
                raise BadRequest(HTTPStatus.BAD_REQUEST, str(error)) from None
            server.set_faults(world_id, config)
            logger.info("world %d: faults set from the dashboard: %s", world_id, config)
            return {"faults": asdict(config)}
        if action == "simspeed":
            simspeed = fields.get("simspeed")
            if not isinstance(simspeed, int) or not 0 <= simspeed < 2**32:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "simspeed must be an integer 0-4294967295")
            for side in Side:
                body = DIALECTS[side].commands(simspeed=simspeed).SerializeToString()
                server.submit(Entry(EntryKind.COMMANDS, side, world_id, now, body))
            return {"simspeed": simspeed}
        if action in ("pause", "resume"):
            kind = EntryKind.PAUSE if action == "pause" else EntryKind.RESUME
            server.submit(Entry(kind, None, world_id, now, b""))
            return {"paused": server.engine.worlds[world_id].paused_at is not None}
        if action == "retire":
            server.drop_links(world_id)
            server.world_faults.pop(world_id, None)
            if server.message_log is not None:
                server.message_log.forget(world_id)
            server.submit(retire_entry(world_id, RetireReason.DASHBOARD, 0.0, 0, now))
            server.journal.snapshot(server.engine)
            return {"retired": world_id}
        raise BadRequest(HTTPStatus.NOT_FOUND, f"no such control: {action}")


def _json(data: Any) -> tuple[HTTPStatus, str, bytes]:
    return HTTPStatus.OK, "application/json", json.dumps(data).encode()


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"{what} must be a number, not {text!r}") from None


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers too long") from None
    if len(head) > MAX_REQUEST:
        raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers too long")
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _ = lines[0].split(" ", 2)
    except ValueError:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "not an HTTP request") from None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    length = _integer(headers.get("content-length", "0"), "Content-Length")
    if not 0 <= length <= MAX_REQUEST:
        raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too big")
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body
