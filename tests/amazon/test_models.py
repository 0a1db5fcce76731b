"""Columns that hold enums are wide enough for every value (both databases agree)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from amazon_ups.amazon.orders.models import Order
from tests.support import choices_too_long


def test_every_choice_fits_its_column():
    assert choices_too_long() == []


def test_every_model_change_has_its_migration(db):
    """A model edited without ``makemigrations`` would differ from the database it
    builds; Django says so without writing anything."""
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_rows_saved_together_that_are_gone_are_a_defect(place):
    """As ``save()`` says of a row it changed that is gone: the write would be lost."""
    orders = [place({1: 1}), place({1: 2})]
    for order in orders:
        order.dest_x = 42
    Order.objects.filter(id=orders[1].id).delete()
    with pytest.raises(DatabaseError, match="gone"):
        Order.save_together(orders)
