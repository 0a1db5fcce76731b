"""``amazon-ups world`` for the world benchmarks: ``amazon_ups.testing.world``'s process,
started at once, logging warnings only, and showing them when it stops."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from amazon_ups.testing import world


class WorldProcess(world.WorldProcess):
    def __init__(
        self,
        directory: Path,
        name: str,
        profile: Path | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(directory / f"{name}.sqlite3", args, env, profile, log_level="warning")
        self.start()

    def stop(self, timeout: float = 120.0) -> int:
        code = super().stop(timeout)
        warnings = self.log.read_text().strip()
        if code != 0 or warnings:
            print(f"  world exited with {code}; its log:\n{warnings[-3000:]}", file=sys.stderr)
        return code
