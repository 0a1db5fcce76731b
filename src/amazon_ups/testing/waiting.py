"""Waiting for a condition that nothing announces (another process's database, a page
over HTTP, a server's counters): look again every ``every`` seconds until a deadline.
Where an event can be awaited instead (a peer's ``wait_for``), await that."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def wait_until(
    condition: Callable[[], Any], timeout: float = 20.0, what: str = "", every: float = 0.05
) -> Any:
    """``condition()`` once it is truthy; ``AssertionError`` naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(every)
    return value


async def wait_until_async(
    condition: Callable[[], Any], timeout: float = 20.0, what: str = "", every: float = 0.01
) -> Any:
    """``wait_until`` in an event loop, which keeps running while it waits."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(every)
    return value
