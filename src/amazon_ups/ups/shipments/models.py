from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Warehouse(models.Model):
    """An Amazon warehouse as the world knows it: one id, one place."""

    id = models.IntegerField(primary_key=True, help_text="Amazon's world warehouse id")
    x = models.IntegerField()
    y = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["x", "y"], name="warehouse_place")]

    def __str__(self) -> str:
        return f"warehouse {self.id} ({self.x}, {self.y})"


class TruckStatus(models.TextChoices):
    # The world's own words, lower-cased (it sends them upper-case).
    IDLE = "idle", "Idle"
    TRAVELING = "traveling", "Traveling to a warehouse"
    ARRIVE_WAREHOUSE = "arrive warehouse", "At a warehouse"
    LOADING = "loading", "Loading"
    DELIVERING = "delivering", "Delivering"


class Truck(models.Model):
    id = models.IntegerField(primary_key=True, help_text="the world truck id")
    status = models.CharField(max_length=20, choices=TruckStatus, default=TruckStatus.IDLE)
    x = models.IntegerField(default=0)
    y = models.IntegerField(default=0)
    warehouse = models.ForeignKey(
        Warehouse,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="trucks",
        help_text="where it is heading or standing, while it serves a pickup",
    )
    loading_deadline = models.DateTimeField(
        null=True,
        blank=True,
        help_text="standing at a warehouse with some packages loaded: if no other package "
        "is loaded before this, it leaves with what it has",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"truck {self.id}"


class Account(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ups_account"
    )
    number = models.BigIntegerField(unique=True, help_text="what a shopper gives the store")

    def __str__(self) -> str:
        return f"account {self.number}"


class PackageStatus(models.TextChoices):
    CREATED = "created", "Label created"
    TRUCK_DISPATCHED = "truck dispatched", "Truck on its way to the warehouse"
    TRUCK_AT_WAREHOUSE = "truck at warehouse", "Truck at the warehouse"
    LOADED = "loaded", "Loaded on the truck"
    OUT_FOR_DELIVERY = "out for delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Cannot be delivered"


# How far along each status is. A message may only move a package to a higher
# rank, so late and repeated messages change nothing. Failed is final except
# that a delivery still wins: the world's fact beats our bookkeeping.
STATUS_RANK = {
    PackageStatus.CREATED: 0,
    PackageStatus.TRUCK_DISPATCHED: 1,
    PackageStatus.TRUCK_AT_WAREHOUSE: 2,
    PackageStatus.LOADED: 3,
    PackageStatus.OUT_FOR_DELIVERY: 4,
    PackageStatus.FAILED: 5,
    PackageStatus.DELIVERED: 6,
}


class Package(models.Model):
    id = models.BigIntegerField(
        primary_key=True, help_text="the id Amazon gave it: the world's shipid and packageid"
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="packages")
    dest_x = models.IntegerField()
    dest_y = models.IntegerField()
    status = models.CharField(
        max_length=20, choices=PackageStatus, default=PackageStatus.CREATED, db_index=True
    )
    truck = models.ForeignKey(
        Truck, null=True, blank=True, on_delete=models.SET_NULL, related_name="packages"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="packages"
    )
    ups_account = models.BigIntegerField(
        null=True, blank=True, help_text="the account number Amazon passed on, as given"
    )
    announced = models.BooleanField(
        default=False, help_text="a TruckArrived was sent for the truck standing there now"
    )
    request_seqnum = models.BigIntegerField(
        help_text="Amazon's PickupRequest seqnum: an Error about the package names it"
    )
    delivery_seqnum = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="our UGoDeliver carrying it; out for delivery once the world acks it",
    )
    redirect_seqnum = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="our UGoDeliver re-sending it to a new place while out for delivery, "
        "until the world has answered it",
    )
    redirect_from_x = models.IntegerField(
        null=True, blank=True, help_text="where the world takes it if the redirect is too late"
    )
    redirect_from_y = models.IntegerField(null=True, blank=True)
    delivery_unsettled_truck = models.IntegerField(
        null=True,
        blank=True,
        help_text="the world delivered it (by this truck) while a redirect was unanswered: "
        "where is settled with the redirect",
    )
    pickup_refusals = models.PositiveSmallIntegerField(default=0)
    failure = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"package {self.id}"


class PackageItem(models.Model):
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="items")
    product_id = models.BigIntegerField()
    description = models.CharField(max_length=300)
    count = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.count} x {self.description}"


class PackageEvent(models.Model):
    """One line of a package's timeline, with where it happened when that is known."""

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20)
    at = models.DateTimeField(default=timezone.now)
    x = models.IntegerField(null=True, blank=True)
    y = models.IntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.package_id}: {self.kind}"
