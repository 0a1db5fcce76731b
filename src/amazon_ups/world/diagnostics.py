"""What a client does wrong, noticed by the world and kept per world side as data.

A team running its own store or carrier against our world reads here the list of its
protocol mistakes: results it never acked (and the re-sends they cost), one seqnum used
for two different commands, acks for seqnums the world never gave out, commands refused
and why, a connection silent for long. The engine records them as it runs (sans-IO,
like the rest of it); the server adds silence, which only it can see; the log and the
dashboard show them. Like the summary counts, they are not state: a restarted world
starts a fresh list.

Bounded: each kind of mistake with one cause is one ``Finding`` (a count, the first and
last time, the latest example), so a client repeating a mistake a million times costs
one entry; the digests kept to recognise a reused seqnum are capped too.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from enum import StrEnum

# A result re-sent this many times without an ack is reported (with the default re-send
# policy, about 3 s after it was first sent).
UNACKED_AFTER_SENDS = 5
# The last commands of a world side are kept as (seqnum, digest) in a ring of this many
# slots, indexed by seqnum (a power of two): 8 KiB a side, two stores per command, so
# that a reused seqnum is recognised for the commands of about the last RECENT seqnums.
RECENT = 512
RING_MASK = RECENT - 1
# Distinct findings kept per world side; past it only counts grow.
FINDINGS_KEPT = 200

_NUMBERS = re.compile(r"-?\d+")


class Mistake(StrEnum):
    UNACKED = "result never acked"
    SEQNUM_REUSED = "one seqnum for two different commands"
    SEQNUM_OLD = "an old seqnum again"
    UNKNOWN_ACK = "ack for a seqnum the world never gave out"
    REFUSED = "command refused"
    SILENT = "connection silent"


@dataclass(slots=True)
class Finding:
    kind: Mistake
    cause: str  # the mistake with its numbers left out: what makes two findings one
    count: int
    first_at: float
    last_at: float
    example: str  # the latest occurrence, numbers and all

    def as_dict(self) -> dict:
        return {
            "kind": self.kind.name.lower(),
            "what": self.kind.value,
            "cause": self.cause,
            "count": self.count,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "example": self.example,
        }


@dataclass
class ClientDiagnostics:
    """One world side's mistakes."""

    findings: dict[tuple[Mistake, str], Finding] = field(default_factory=dict)
    # The ring of recent commands (see RECENT); the engine fills it inline, as a method
    # call per command cost the world's throughput more than the two stores.
    seqnums: array = field(default_factory=lambda: array("q", [0]) * RECENT)
    digests: array = field(default_factory=lambda: array("q", [0]) * RECENT)

    def note(
        self, kind: Mistake, example: str, now: float, cause: str | None = None
    ) -> Finding | None:
        """Record one occurrence; returns the finding if it is new (worth a log line).
        Its cause is the example with its numbers left out, unless given."""
        cause = _NUMBERS.sub("N", example) if cause is None else cause
        key = (kind, cause)
        found = self.findings.get(key)
        if found is not None:
            found.count += 1
            found.last_at = now
            found.example = example
            return None
        if len(self.findings) >= FINDINGS_KEPT:
            return None
        found = self.findings[key] = Finding(kind, cause, 1, now, now, example)
        return found

    def repeat(self, seqnum: int, digest: int) -> Mistake | None:
        """What a repeat of ``seqnum`` says about the client, if anything: the ring's slot
        holds that seqnum with another digest (another command under a used number), or
        a newer seqnum (it comes back RECENT or more commands later: a client numbering
        again from an old value; a re-send so late is possible, but rare)."""
        slot = seqnum & RING_MASK
        known = self.seqnums[slot]
        if known == seqnum:
            return Mistake.SEQNUM_REUSED if self.digests[slot] != digest else None
        return Mistake.SEQNUM_OLD if known > seqnum and known != 0 else None

    def total(self) -> int:
        return sum(f.count for f in self.findings.values())

    def as_list(self) -> list[dict]:
        return [
            f.as_dict() for f in sorted(self.findings.values(), key=lambda f: (-f.last_at, f.kind))
        ]
