"""Shared test helpers: a world server in a real subprocess, and ready-made clients."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from amazon_ups.protocol.world_messages import Side
from amazon_ups.world.client import WorldClient

FAST = 100_000  # simspeed at which a whole order flow takes milliseconds

READY = re.compile(rb"world ready: UPS port (\d+), Amazon port (\d+)")


@dataclass
class WorldProcess:
    """``amazon-ups world`` running as its own process, on free ports."""

    state: Path
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    ports: dict[Side, int] = field(default_factory=dict)
    log: Path | None = None

    def start(self, timeout: float = 20.0) -> WorldProcess:
        self.log = self.state.with_suffix(".log")
        command = [
            sys.executable,
            "-m",
            "amazon_ups.cli",
            "world",
            "--ups-port",
            "0",
            "--amazon-port",
            "0",
            "--state",
            str(self.state),
            *self.args,
        ]
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log_file)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"world exited early; log: {self.log.read_text()}")
            if match := READY.search(line):
                self.ports = {Side.UPS: int(match[1]), Side.AMAZON: int(match[2])}
                return self
        raise TimeoutError("world did not say it was ready")

    def kill(self) -> None:
        """kill -9: no clean shutdown, no final snapshot."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log_file.close()

    def stop(self) -> int:
        """Ctrl-C / SIGTERM: a clean shutdown."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self._log_file.close()
        return code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


async def connect_pair(
    ports: dict[Side, int],
    trucks: Iterable[tuple[int, int, int]] = ((1, 0, 0), (2, 0, 0)),
    warehouses: Iterable[tuple[int, int, int]] = ((1, 10, 10), (2, -20, 5)),
    simspeed: int | None = FAST,
    host: str = "127.0.0.1",
) -> tuple[WorldClient, WorldClient]:
    """UPS creates a world with ``trucks``; Amazon joins it with ``warehouses``."""
    ups = await WorldClient.open(Side.UPS, host, ports[Side.UPS], places=trucks)
    amazon = await WorldClient.open(
        Side.AMAZON, host, ports[Side.AMAZON], world_id=ups.world_id, places=warehouses
    )
    if simspeed is not None:
        ups.set_simspeed(simspeed)
        amazon.set_simspeed(simspeed)
    return ups, amazon
