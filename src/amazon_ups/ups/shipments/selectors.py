"""Reads of packages and trucks, for the web pages."""

from __future__ import annotations

from django.db.models import QuerySet

from amazon_ups.ups.shipments.models import Package, PackageEvent, PackageItem, Truck


def package_list() -> QuerySet[Package]:
    return Package.objects.select_related("warehouse").order_by("-created_at", "-id")


def package_get(package_id: int) -> Package | None:
    return Package.objects.select_related("warehouse", "truck").filter(id=package_id).first()


def package_events(package: Package) -> QuerySet[PackageEvent]:
    return package.events.order_by("at", "id")


def package_items(package: Package) -> QuerySet[PackageItem]:
    return package.items.order_by("id")


def truck_list() -> QuerySet[Truck]:
    return Truck.objects.select_related("warehouse").order_by("id")


def truck_ids() -> set[int]:
    return set(Truck.objects.values_list("id", flat=True))
