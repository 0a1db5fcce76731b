"""``amazon-ups world`` as a process of its own, on free ports: for the tests (a restart,
a kill -9) and the benchmarks (its memory and CPU time, a profile)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from amazon_ups.cli import parse_dashboard, parse_ready
from amazon_ups.protocol.world_messages import Side


class WorldProcess:
    """``state``: the world's SQLite file (its log goes next to it, ``.log``); ``args``:
    more options of ``amazon-ups world``; ``env``: more environment variables;
    ``profile``: run under cProfile, writing there."""

    def __init__(
        self,
        state: Path,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        profile: Path | None = None,
        log_level: str | None = None,
    ) -> None:
        self.state = state
        self.args = list(args)
        self.env = dict(env or {})
        self.profile = profile
        self.log_level = log_level
        self.log = state.with_suffix(".log")
        self.proc: subprocess.Popen | None = None
        self.ports: dict[Side, int] = {}
        self.dashboard: str | None = None  # its URL, with --http-port
        self.token: str | None = None  # what its controls ask for

    def start(self, timeout: float = 20.0) -> WorldProcess:
        profiler = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        level = ["--log-level", self.log_level] if self.log_level else []
        command = [
            sys.executable,
            *profiler,
            "-m",
            "amazon_ups.cli",
            *level,
            "world",
            "--ups-port",
            "0",
            "--amazon-port",
            "0",
            "--state",
            str(self.state),
            *self.args,
        ]
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in stop() or kill()
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env={**os.environ, **self.env} if self.env else None,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"world exited early; log: {self.log.read_text()}")
            if dashboard := parse_dashboard(line):
                self.dashboard, self.token = dashboard
            if ports := parse_ready(line):
                self.ports = ports
                return self
        self.proc.kill()
        raise TimeoutError("world did not say it was ready")

    def kill(self) -> None:
        """kill -9: no clean shutdown, no final snapshot."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log_file.close()

    def stop(self, timeout: float = 20.0) -> int:
        """Ctrl-C / SIGTERM: a clean shutdown (kill -9 past ``timeout``)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log_file.close()
        return code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- for the benchmarks (psutil is a development dependency) ---------------------

    def rss(self) -> int:
        import psutil

        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss

    def cpu(self) -> float:
        """Seconds of CPU time the world has used, user and system."""
        import psutil

        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system
