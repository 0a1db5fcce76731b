"""Carrier accounts moved from the shipments app to the accounts app (shipments 0009,
ups_accounts 0001) without touching the table: a database made before keeps its
accounts and the packages' links to them, and goes on numbering new ones."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from amazon_ups.ups.accounts import services as accounts
from amazon_ups.ups.accounts.models import Account
from amazon_ups.ups.shipments.models import Package

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("shipments", "0008_route_position_redirect_confirmed"), ("ups_accounts", None)]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state([node for node in target if node[1] is not None]).apps


@pytest.fixture
def latest():
    """The latest migrations, applied again after the test."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    yield latest
    migrate(latest)


def test_accounts_and_their_packages_survive_the_move(latest):
    old = migrate(BEFORE)
    User = old.get_model("auth", "User")
    OldAccount = old.get_model("shipments", "Account")
    Warehouse = old.get_model("shipments", "Warehouse")
    OldPackage = old.get_model("shipments", "Package")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    account = OldAccount.objects.create(user=alice, number=123_456_789)
    OldAccount.objects.create(user=bob, number=987_654_321)
    warehouse = Warehouse.objects.create(id=1, x=10, y=0)
    OldPackage.objects.create(
        id=7, warehouse=warehouse, dest_x=0, dest_y=0, request_seqnum=1, account=account
    )

    migrate(latest)

    assert dict(Account.objects.values_list("user__username", "number")) == {
        "alice": 123_456_789,
        "bob": 987_654_321,
    }
    package = Package.objects.select_related("account__user").get(id=7)
    assert package.account is not None and package.account.user.username == "alice"
    assert list(Account.objects.get(number=123_456_789).packages.all()) == [package]
    # New accounts go on from the same table (its ids included, on PostgreSQL).
    carol = accounts.account_create(get_user_model().objects.create_user("carol"))
    assert Account.objects.count() == 3
    assert carol.user.ups_account == carol

    # And back: the old state reads the same rows.
    old = migrate(BEFORE)
    OldAccount = old.get_model("shipments", "Account")
    assert OldAccount.objects.count() == 3
    assert old.get_model("shipments", "Package").objects.get(id=7).account.number == 123_456_789
