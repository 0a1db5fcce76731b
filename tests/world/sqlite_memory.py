"""SQLite's own count of the memory it holds, for the tests of what the journal keeps."""

from __future__ import annotations

import ctypes
import ctypes.util
import sqlite3
from collections.abc import Callable

import pytest


def sqlite_memory_used() -> Callable[[], int]:
    """``sqlite3_memory_used``, if the library found is the one Python runs (on some
    systems Python has its own copy linked in: then the calling test is skipped)."""
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        pytest.skip("no libsqlite3 to ask")
    library = ctypes.CDLL(name)
    library.sqlite3_libversion.restype = ctypes.c_char_p
    if library.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        pytest.skip("Python's sqlite3 is not the system's libsqlite3")
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return library.sqlite3_memory_used
