"""Counts per world side, logged as one INFO line per active world every so often.

Each command and result is logged at DEBUG only: at INFO, a peer sending thousands of
commands a second would make the log the bottleneck (and fill the disk). The summary
says what an operator needs: how much each world did, how much failed, and how much
the world left out (``--flakiness`` drops, commands past the limits).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class Tally:
    commands: int = 0  # sub-commands run (repeats excluded)
    repeats: int = 0  # sub-commands whose seqnum was seen before: acked, not run
    results: int = 0  # results produced (errors included)
    errors: int = 0  # of which AErr/UErr
    dropped: int = 0  # sub-commands dropped by --flakiness
    refused: int = 0  # sub-commands not taken: past --max-commands or --max-unacked

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def line(self) -> str:
        parts = [f"{self.commands} commands", f"{self.results} results", f"{self.errors} errors"]
        if self.repeats:
            parts.append(f"{self.repeats} repeats")
        parts.append(f"{self.dropped} dropped by flakiness")
        if self.refused:
            parts.append(f"{self.refused} refused over limits")
        return ", ".join(parts)


class Throttle:
    """At most one log line per ``every`` seconds for one kind of trouble; the lines
    held back are counted and told with the next one."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = float("-inf")
        self.held_back = 0

    def allow(self, now: float) -> int | None:
        """None: hold this line back; else log it, with this many held back since."""
        if now - self.last < self.every:
            self.held_back += 1
            return None
        self.last = now
        held, self.held_back = self.held_back, 0
        return held
