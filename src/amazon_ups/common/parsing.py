"""Whole numbers taken from a request: a query string, a form, a session key.

``str.isdigit()`` says yes to "²" and "٣", which ``int()`` refuses or reads in
another script, and ``int()`` reads "9" * 5000 into a number no database column
holds: both ended as a 500. Every whole number a request brings goes through
``parse_int`` instead, with the range of the column it is meant for
(``protocol.limits``), so anything else is simply "not a number" to the caller.
"""

from __future__ import annotations

import re

# ASCII digits only: ``\d`` and ``int()`` also take every other script's digits.
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def parse_int(text: object, minimum: int, maximum: int) -> int | None:
    """The number ``text`` spells, if it is ASCII digits with an optional sign and
    lies in ``minimum..maximum``; None for anything else (whitespace included: the
    caller strips where a person may have typed a space)."""
    if not isinstance(text, str):
        return None
    # The longest bound's digits, a sign and a few leading zeros: longer text cannot be
    # in range, and is refused before int() spends time on it.
    longest = max(len(str(abs(minimum))), len(str(abs(maximum)))) + 4
    if len(text) > longest or not _WHOLE_NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None
