"""Fault injection, for testing how peers cope with a bad network.

``--flakiness P`` drops each incoming sub-command with probability P% before the
world sees it (not acked, not run), like the official server's drop rate.
Acks, simspeed and disconnect are never dropped. On the way out, each result
and each ack may be dropped (the world re-sends results until acked), sent
twice, or shuffled within its message, and a whole message may be held back
for a random delay, which also reorders messages. Every choice comes from a
random generator seeded with (seed, world, side), so a run repeats.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from google.protobuf.message import Message

from amazon_ups.protocol.world_messages import DIALECTS, AnyResponses, Side


@dataclass(frozen=True)
class FaultConfig:
    flakiness: int = 0  # percent of incoming sub-commands dropped, 0-99
    drop: float = 0.0  # probability that an outgoing result or ack is dropped
    duplicate: float = 0.0  # ... is sent twice
    reorder: float = 0.0  # probability that a message's results are shuffled
    delay: float = 0.0  # probability that a message is held back
    max_delay: float = 0.5  # seconds, for held-back messages
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.flakiness <= 99:
            raise ValueError(f"flakiness must be 0-99, not {self.flakiness}")
        for name in ("drop", "duplicate", "reorder", "delay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability 0-1, not {getattr(self, name)}")
        if self.max_delay < 0:
            raise ValueError(f"max_delay must not be negative, not {self.max_delay}")

    @property
    def active(self) -> bool:
        return bool(self.flakiness or self.drop or self.duplicate or self.reorder or self.delay)


class Faults:
    """The faults of one world side; None-like (no effect) when nothing is configured."""

    def __init__(self, config: FaultConfig, world_id: int, side: Side) -> None:
        self.config = config
        self.side = side
        self._rng = random.Random(f"{config.seed}:{world_id}:{side}")
        self.dropped = 0  # sub-commands dropped by flakiness on this connection

    def filter_commands(self, commands: Message) -> int:
        """Drop sub-commands in place; returns how many were dropped."""
        if not self.config.flakiness:
            return 0
        dropped = 0
        for field_name in DIALECTS[self.side].command_fields:
            repeated = getattr(commands, field_name)
            drops = [self._rng.randrange(100) < self.config.flakiness for _ in repeated]
            for index in reversed(range(len(drops))):
                if drops[index]:
                    del repeated[index]
            dropped += sum(drops)
        self.dropped += dropped
        return dropped

    def mangle_responses(self, responses: AnyResponses) -> AnyResponses | None:
        """Drop, duplicate and shuffle parts of an outgoing message; None if nothing is left."""
        config = self.config
        if not (config.drop or config.duplicate or config.reorder):
            return responses
        out = type(responses)()
        if responses.HasField("finished"):
            out.finished = responses.finished
        for field in responses.DESCRIPTOR.fields:
            if not field.is_repeated:
                continue
            items = list(getattr(responses, field.name))
            kept = []
            for item in items:
                if self._rng.random() < config.drop:
                    continue
                kept.append(item)
                if self._rng.random() < config.duplicate:
                    kept.append(item)
            if len(kept) > 1 and self._rng.random() < config.reorder:
                self._rng.shuffle(kept)
            getattr(out, field.name).extend(kept)
        return out if out.ListFields() else None

    def hold_back(self) -> float:
        """Seconds to hold the next message back (0 = send now)."""
        if self.config.delay and self._rng.random() < self.config.delay:
            return self._rng.uniform(0, self.config.max_delay)
        return 0.0
