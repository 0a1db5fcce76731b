from __future__ import annotations

from django.db import models
from django.utils import timezone

from amazon_ups.common.models import SavesWhatChanged
from amazon_ups.ups.accounts.models import Account
from amazon_ups.ups.shipments import tracking
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind, PackageStatus
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind, TruckStatus


class Warehouse(models.Model):
    """An Amazon warehouse as the world knows it: one id, one place."""

    id = models.IntegerField(primary_key=True, help_text="Amazon's world warehouse id")
    x = models.IntegerField()
    y = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["x", "y"], name="warehouse_place")]

    def __str__(self) -> str:
        return f"warehouse {self.id} ({self.x}, {self.y})"


class Truck(SavesWhatChanged):
    id = models.IntegerField(primary_key=True, help_text="the world truck id")
    # Moved only by truck_lifecycle.truck_move, which also sets status_changed_at.
    status = models.CharField(max_length=20, choices=TruckStatus, default=TruckStatus.IDLE)
    status_changed_at = models.DateTimeField(default=timezone.now)
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
    report_seqnum = models.BigIntegerField(
        null=True, blank=True, help_text="the world's seqnum of the latest report applied"
    )
    query_seqnum = models.BigIntegerField(
        null=True, blank=True, help_text="our UQuery about it that the world has not answered"
    )
    needs_query = models.BooleanField(
        default=False,
        help_text="what we believe of it is in doubt: ask the world once no command to it "
        "is waiting for an ack",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"truck {self.id}"


class TruckEvent(models.Model):
    """One change of what we believe a truck is doing, and why."""

    truck = models.ForeignKey(Truck, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=TruckEventKind)
    status = models.CharField(max_length=20, choices=TruckStatus, help_text="after the event")
    at = models.DateTimeField(default=timezone.now)
    x = models.IntegerField()
    y = models.IntegerField()
    world_seqnum = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"truck {self.truck_id}: {self.kind}"


class Package(SavesWhatChanged):
    id = models.BigIntegerField(
        primary_key=True, help_text="the id Amazon gave it: the world's shipid and packageid"
    )
    # A default rather than a step of pickup_request, so that no way of making a
    # package (a request, the demo, a test, a shell) leaves one without a number.
    tracking_number = models.CharField(
        max_length=tracking.LENGTH,
        unique=True,
        default=tracking.new_number,
        editable=False,
        help_text="what the recipient types to find it: random, unlike the id",
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="packages")
    dest_x = models.IntegerField()
    dest_y = models.IntegerField()
    # Moved only by package_lifecycle.package_move, which also sets status_changed_at.
    status = models.CharField(
        max_length=20, choices=PackageStatus, default=PackageStatus.CREATED, db_index=True
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    truck = models.ForeignKey(
        Truck, null=True, blank=True, on_delete=models.SET_NULL, related_name="packages"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="packages"
    )
    ups_account = models.BigIntegerField(
        null=True, blank=True, help_text="the account number Amazon passed on, as given"
    )
    request_seqnum = models.BigIntegerField(
        help_text="Amazon's PickupRequest seqnum: an Error about the package names it"
    )
    delivery_seqnum = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="our UGoDeliver carrying it; out for delivery once the world acks it",
    )
    route_position = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="its place in the UGoDeliver of delivery_seqnum: the truck's route order, "
        "for the delivery estimate",
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

    class Meta:
        indexes = [
            # The packages waiting for a truck, per warehouse (serve_warehouse, and the
            # daemon's every turn: warehouses_waiting): not every package the warehouse
            # ever had, as the warehouse's index alone would give.
            models.Index(fields=["status", "warehouse", "truck"], name="package_waiting"),
            # Redirects the world has not answered (the daemon's every turn): the few
            # packages with one.
            models.Index(
                fields=["redirect_seqnum"],
                condition=models.Q(redirect_seqnum__isnull=False),
                name="package_redirect",
            ),
        ]

    def __str__(self) -> str:
        return f"package {self.id}"

    @property
    def tracking_number_grouped(self) -> str:
        return tracking.grouped(self.tracking_number)


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
    kind = models.CharField(max_length=32, choices=PackageEventKind)
    at = models.DateTimeField(default=timezone.now)
    x = models.IntegerField(null=True, blank=True)
    y = models.IntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.package_id}: {self.kind}"
