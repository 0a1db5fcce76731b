"""``amazon-ups world`` as a process of its own for the world benchmarks, with its
memory and CPU time at hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from amazon_ups.cli import parse_dashboard, parse_ready


class WorldProcess:
    """``amazon-ups world`` on free ports, optionally under cProfile; ``args`` are more
    options of ``amazon-ups world``, ``env`` more environment variables."""

    def __init__(
        self,
        directory: Path,
        name: str,
        profile: Path | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log_path = directory / f"{name}.log"
        profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
        command = [
            sys.executable,
            *profiler,
            "-m",
            "amazon_ups.cli",
            "--log-level",
            "warning",
            "world",
            "--ups-port",
            "0",
            "--amazon-port",
            "0",
            "--state",
            str(directory / f"{name}.sqlite3"),
            *args,
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        environment = None if env is None else {**os.environ, **env}
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, env=environment
        )
        assert self.proc.stdout is not None
        self.dashboard: str | None = None  # its URL, with --http-port
        line = self.proc.stdout.readline()
        if dashboard := parse_dashboard(line):
            self.dashboard = dashboard[0]
            line = self.proc.stdout.readline()
        ports = parse_ready(line)
        if ports is None:
            self.proc.kill()
            raise RuntimeError(f"world did not start: {line!r}; {self.log_path.read_text()}")
        self.ports = ports
        self.ps = psutil.Process(self.proc.pid)

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        warnings = self.log_path.read_text().strip()
        if code != 0 or warnings:
            print(f"  world exited with {code}; its log:\n{warnings[-3000:]}", file=sys.stderr)
