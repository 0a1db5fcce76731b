"""Orders. An order is also its package: its id is the world's shipid and UPS's package
id. The tracking number a shopper follows it by is UPS's, told in PackageRegistered:
the id counts 1, 2, 3..., and a tracking number must not be guessable."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from amazon_ups.amazon.catalog.models import Product, Warehouse
from amazon_ups.amazon.orders.lifecycle import OrderEventKind, OrderStatus
from amazon_ups.common.models import SavesWhatChanged


class Order(SavesWhatChanged):
    Status = OrderStatus

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Moved only by lifecycle.order_move, which also sets status_changed_at.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    status_changed_at = models.DateTimeField(default=timezone.now)
    dest_x = models.IntegerField()
    dest_y = models.IntegerField()
    ups_account = models.BigIntegerField(null=True, blank=True)
    # One per Buy form shown: a form posted twice finds the order it made the first time.
    token = models.CharField(max_length=64, unique=True)

    # Set by the fulfilment daemon when it takes the order in.
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, null=True, blank=True)
    world_id = models.BigIntegerField(null=True, blank=True)
    # The truck of the latest TruckArrived (and that message's seqnum: the latest wins).
    truck_id = models.IntegerField(null=True, blank=True)
    truck_seqnum = models.BigIntegerField(null=True, blank=True)
    # The truck of the APutOnTruck the world has not answered yet (None: no load under way).
    loading_truck_id = models.IntegerField(null=True, blank=True)
    destination_seqnum = models.BigIntegerField(null=True, blank=True)
    failure = models.TextField(blank=True)
    # UPS's, opaque to us (protocol 5.12); empty until UPS has accepted the package.
    tracking_number = models.CharField(max_length=64, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "warehouse"], name="order_status_warehouse")]
        constraints = [
            models.UniqueConstraint(
                fields=["tracking_number"],
                condition=~models.Q(tracking_number=""),
                name="order_tracking_number_unique",
            )
        ]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", args=[self.id])

    @property
    def total(self) -> Decimal:
        """What the order costs (not charged: a demo store), from its lines' own prices."""
        return sum((line.total for line in self.lines.all()), Decimal("0.00"))

    @property
    def waiting_for_stock(self) -> bool:
        return self.status == self.Status.PLACED and self.warehouse_id is not None


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    count = models.IntegerField()
    # The unit price when the order was placed: a later price change is not the order's.
    price = models.DecimalField(max_digits=7, decimal_places=2, default=Decimal("0.00"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="orderline_unique_product"),
            models.CheckConstraint(condition=models.Q(count__gt=0), name="orderline_count_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.count} x {self.product}"

    @property
    def total(self) -> Decimal:
        return self.price * self.count


class OrderEvent(models.Model):
    """One step of an order's history, shown to the shopper with its time."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=OrderEventKind.choices)
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, help_text="the order's status after it"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} at {self.at:%H:%M:%S}"

    @property
    def what(self) -> str:
        """What happened, in the shopper's words: the note, or else the kind's label."""
        return self.note or self.get_kind_display()
