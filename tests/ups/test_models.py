"""Columns that hold enums are wide enough for every value (both databases agree)."""

from __future__ import annotations

from tests.support import choices_too_long


def test_every_choice_fits_its_column():
    assert choices_too_long() == []


def test_every_model_change_has_its_migration(db):
    """A model edited without ``makemigrations`` would differ from the database it
    builds; Django says so without writing anything."""
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
