"""Giving freed memory back to the system, with glibc's allocator.

A peer's big frame, or many connections' buffers, briefly need megabytes; once they are
closed, Python frees those objects, but glibc may keep the pages: a block it got from
the heap rather than from ``mmap`` only goes back when everything above it is free too,
and glibc raises its ``mmap`` threshold (up to 32 MiB) each time a big mapped block is
freed, so the next big buffers land on the heap. A long-running world would then stay at
the high-water mark of its worst minute. Two calls prevent that:

- ``tune()``, once: a fixed ``mmap`` threshold, so every buffer past it is mapped on its
  own and unmapped when freed (setting it also turns off the raising);
- ``trim()``, after a burst is over: ``malloc_trim(0)`` returns the free pages inside
  the heap and the arenas.

Both do nothing where glibc is not the C library (macOS, musl): there the figures may
stay higher, nothing else changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 256 * 1024

_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _libc.malloc_trim  # noqa: B018 - glibc only
    _libc.mallopt  # noqa: B018
except (OSError, AttributeError):
    _libc = None


def tune() -> None:
    if _libc is not None and not _libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        logger.warning("mallopt(M_MMAP_THRESHOLD) refused; memory may return to the system late")


def trim() -> None:
    if _libc is not None:
        _libc.malloc_trim(0)
