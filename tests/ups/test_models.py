"""Columns that hold enums are wide enough for every value (both databases agree)."""

from __future__ import annotations

from tests.support import choices_too_long


def test_every_choice_fits_its_column():
    assert choices_too_long() == []
