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


def _package():
    from django.utils import timezone

    from amazon_ups.ups.shipments.models import Package, Warehouse

    warehouse = Warehouse.objects.create(id=1, x=10, y=0)
    Package.objects.create(
        id=7,
        warehouse=warehouse,
        dest_x=1,
        dest_y=2,
        request_seqnum=1,
        status_changed_at=timezone.now(),
    )
    return Package.objects.get(id=7)


def _three_packages(**fields):
    """Packages 7 (``_package``), 8 and 9, the last two alike but for ``fields``."""
    from amazon_ups.ups.shipments.models import Package

    first = _package()
    for package_id in (8, 9):
        Package.objects.create(
            id=package_id,
            warehouse_id=1,
            dest_x=1,
            dest_y=2,
            request_seqnum=package_id,
            status_changed_at=first.status_changed_at,
            **fields,
        )


def test_a_save_writes_only_what_changed(db):
    """A package (or truck) saves the columns changed since it was read, so a column
    another change wrote meanwhile is left alone."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.ups.shipments.models import Package

    package = _package()
    Package.objects.filter(id=7).update(delivery_seqnum=42)
    package.dest_x = 5
    with CaptureQueriesContext(connection) as saved:
        package.save()
    (update,) = saved.captured_queries
    assert '"dest_x"' in update["sql"] and '"dest_y"' not in update["sql"]
    assert Package.objects.values_list("dest_x", "delivery_seqnum").get(id=7) == (5, 42)
    # What it saved is the database's now: saved again, only updated_at is written.
    package.dest_y = 9
    package.save()
    assert Package.objects.values_list("dest_x", "dest_y").get(id=7) == (5, 9)


def test_a_partial_refresh_keeps_changes_not_saved_yet(db):
    """Django reads a deferred field with ``refresh_from_db(fields=...)``: the other
    fields changed and not saved still count as changed."""
    from amazon_ups.ups.shipments.models import Package

    _package()
    package = Package.objects.only("id", "dest_x", "status").get(id=7)
    package.dest_x = 3
    assert package.dest_y == 2  # read now, by a partial refresh
    package.save()
    assert Package.objects.values_list("dest_x", "dest_y").get(id=7) == (3, 2)
    full = Package.objects.get(id=7)
    full.dest_x = 4
    full.refresh_from_db(fields=["dest_y"])
    full.save()
    assert Package.objects.values_list("dest_x").get(id=7) == (4,)


def test_rows_saved_together_write_one_update_for_alike_changes(db):
    """``save_together`` writes the rows whose changes are alike (same columns, same
    values) in one UPDATE, only those columns (and updated_at); a row that changed other
    columns gets its own; each one's changes are then the database's, as after
    ``save()``, and none is owed a save any more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.ups.shipments.models import Package

    _three_packages()
    Package.objects.filter(id=8).update(delivery_seqnum=42)  # another change, meanwhile
    rows = list(Package.objects.order_by("id"))
    for row in rows:
        row.dest_x = 5
    rows[2].dest_y = 3
    for row in rows:
        row.save_owed = True
    with CaptureQueriesContext(connection) as saved:
        Package.save_together(rows)
    assert not any(row.save_owed for row in rows)
    updates = [q["sql"] for q in saved.captured_queries]
    assert len(updates) == 2, updates
    assert all('"dest_x"' in sql and '"delivery_seqnum"' not in sql for sql in updates)
    assert list(
        Package.objects.order_by("id").values_list("dest_x", "dest_y", "delivery_seqnum")
    ) == [
        (5, 2, None),
        (5, 2, 42),
        (5, 3, None),
    ]
    assert len({row.updated_at for row in rows[:2]}) == 1
    assert rows[0].updated_at == Package.objects.get(id=7).updated_at
    # What they saved is the database's now: nothing but updated_at is written again.
    with CaptureQueriesContext(connection) as again:
        rows[0].save()
    (update,) = again.captured_queries
    assert '"dest_x"' not in update["sql"] and '"updated_at"' in update["sql"]


def test_rows_that_set_the_same_columns_to_values_of_their_own_are_saved_in_one_update(db):
    """Each order's truck and the seqnum of the message that named it, or its tracking
    number: the same columns, a value each. One UPDATE sets each row's own (a CASE on the
    id; PostgreSQL wants it cast), a column they all set alike plainly, a NULL too."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.ups.shipments.models import Package

    _three_packages(delivery_seqnum=5)
    rows = list(Package.objects.order_by("id"))
    for n, row in enumerate(rows):
        row.dest_x = 10 + n
        row.dest_y = 4
        row.delivery_seqnum = None if n == 1 else 20 + n
    with CaptureQueriesContext(connection) as saved:
        Package.save_together(rows)
    (update,) = saved.captured_queries
    assert "CASE" in update["sql"]
    assert list(
        Package.objects.order_by("id").values_list("dest_x", "dest_y", "delivery_seqnum")
    ) == [(10, 4, 20), (11, 4, None), (12, 4, 22)]
    assert len({row.updated_at for row in rows}) == 1
    with CaptureQueriesContext(connection) as again:
        rows[2].save()
    (update,) = again.captured_queries
    assert '"dest_x"' not in update["sql"] and '"delivery_seqnum"' not in update["sql"]


def test_values_of_their_own_of_every_kind_are_set_by_one_case_on_the_key(db):
    """A moment, a text, a row named (a foreign key, NULL for one) and a number, each
    row's own: each column is one ``CASE <key> WHEN ... THEN ...`` (``ValueOfKey``: the
    key compared once per row, not a filter built per row), and each row reads back
    what it set, on either database."""
    import datetime

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.ups.shipments.models import Package, Truck

    _three_packages()
    for truck_id in (1, 2):
        Truck.objects.create(id=truck_id, x=0, y=0)
    Package.objects.update(truck_id=2, route_position=0)
    rows = list(Package.objects.order_by("id"))
    moment = datetime.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
    for n, row in enumerate(rows):
        row.status_changed_at = moment + datetime.timedelta(minutes=n)
        row.failure = f"reason {n}: it's ¼ late"
        row.truck_id = (1, None, 1)[n]
        row.route_position = 10 - n
    with CaptureQueriesContext(connection) as saved:
        Package.save_together(rows)
    (update,) = saved.captured_queries
    key = f'CASE "{Package._meta.db_table}"."id" WHEN'
    assert update["sql"].count(key) == 4, update["sql"]
    assert list(
        Package.objects.order_by("id").values_list(
            "status_changed_at", "failure", "truck_id", "route_position"
        )
    ) == [
        (moment, "reason 0: it's ¼ late", 1, 10),
        (moment + datetime.timedelta(minutes=1), "reason 1: it's ¼ late", None, 9),
        (moment + datetime.timedelta(minutes=2), "reason 2: it's ¼ late", 1, 8),
    ]
