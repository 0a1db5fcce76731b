"""What a client does wrong, noticed by the world and kept per world side as data.

A team running its own store or carrier against our world reads here the list of its
protocol mistakes: results it never acked (and the re-sends they cost), one seqnum used
for two different commands, acks for seqnums the world never sent it, commands refused
and why, a connection silent for long. The engine records them as it runs (sans-IO,
like the rest of it); the server adds silence, which only it can see; the log and the
dashboard show them. Like the summary counts, they are not state: a restarted world
starts a fresh list.

Bounded: each kind of mistake with one cause is one ``Finding`` (a count, the first and
last time, the latest example), so a client repeating a mistake a million times costs
one entry; the digests kept to recognise a reused seqnum, and the acks remembered to
tell an old ack from an unknown one, are capped too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

# A result re-sent this many times without an ack is reported (with the default re-send
# policy, about 3 s after it was first sent).
UNACKED_AFTER_SENDS = 5
# Seqnums whose command digest is kept (at least; up to twice as many), per world side,
# to recognise a reused one.
DIGESTS_KEPT = 10_000
# Acked result seqnums remembered per world side: a repeated ack of one of them is normal
# (the world may re-send a result the client had already acked), any other is unknown.
ACKS_KEPT = 10_000
# Distinct findings kept per world side; past it only counts grow.
FINDINGS_KEPT = 200

_NUMBERS = re.compile(r"-?\d+")


class Mistake(StrEnum):
    UNACKED = "result never acked"
    SEQNUM_REUSED = "one seqnum for two different commands"
    UNKNOWN_ACK = "ack for a seqnum the world never sent"
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
    # Plain dicts, cut back to the newest entries when twice too long: cheaper per
    # command than an OrderedDict, or than dropping the oldest key one at a time (a
    # dict finds its first key by skipping the slots of the keys deleted before it).
    _digests: dict[int, int] = field(default_factory=dict)
    _acked: dict[int, None] = field(default_factory=dict)

    def note(self, kind: Mistake, example: str, now: float) -> Finding | None:
        """Record one occurrence; returns the finding if it is new (worth a log line)."""
        cause = _NUMBERS.sub("N", example)
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

    def remember(self, seqnum: int, field_name: str, body: bytes) -> None:
        """A new command ran under ``seqnum``: keep its digest."""
        digests = self._digests
        # hash() is salted per process: fine, the digests live only in this one.
        digests[seqnum] = hash((field_name, body))
        if len(digests) > 2 * DIGESTS_KEPT:
            self._digests = dict(list(digests.items())[-DIGESTS_KEPT:])

    def reused(self, seqnum: int, field_name: str, body: bytes) -> bool:
        """A repeat of ``seqnum``: whether it is a different command from the first."""
        known = self._digests.get(seqnum)
        return known is not None and known != hash((field_name, body))

    def acked(self, seqnum: int) -> None:
        acks = self._acked
        acks[seqnum] = None
        if len(acks) > 2 * ACKS_KEPT:
            self._acked = dict.fromkeys(list(acks)[-ACKS_KEPT:])

    def acked_before(self, seqnum: int) -> bool:
        return seqnum in self._acked

    def total(self) -> int:
        return sum(f.count for f in self.findings.values())

    def as_list(self) -> list[dict]:
        return [
            f.as_dict() for f in sorted(self.findings.values(), key=lambda f: (-f.last_at, f.kind))
        ]
