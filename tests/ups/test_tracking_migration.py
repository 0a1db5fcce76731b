"""Packages recorded before tracking numbers existed get one each when the carrier's
database is migrated (shipments 0005-0007)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from amazon_ups.ups.shipments import tracking

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("shipments", "0004_lifecycle")]
AFTER = [("shipments", "0007_package_tracking_number_unique")]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def old_database():
    """The carrier's database as it was before tracking numbers; put back after."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    yield migrate(BEFORE)
    migrate(latest)


def test_the_migration_gives_every_existing_package_a_number_of_its_own(old_database):
    Warehouse = old_database.get_model("shipments", "Warehouse")
    Package = old_database.get_model("shipments", "Package")
    warehouse = Warehouse.objects.create(id=1, x=10, y=0)
    for package_id in range(1, 26):
        Package.objects.create(
            id=package_id, warehouse=warehouse, dest_x=0, dest_y=0, request_seqnum=package_id
        )

    apps = migrate(AFTER)

    Package = apps.get_model("shipments", "Package")
    numbers = dict(Package.objects.values_list("id", "tracking_number"))
    assert set(numbers) == set(range(1, 26))
    assert len(set(numbers.values())) == 25
    for number in numbers.values():
        assert tracking.parse(number) == number
    with pytest.raises(IntegrityError), transaction.atomic():
        Package.objects.filter(id=2).update(tracking_number=numbers[1])
