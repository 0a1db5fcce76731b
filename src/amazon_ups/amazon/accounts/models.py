"""What the store remembers about a shopper beyond Django's user: where to deliver by
default, the UPS account to link orders to, and whether they sell."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# The world's coordinates are int32 and UPS account ids int64 (protocol and world spec).
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN, INT64_MAX

_int32 = [MinValueValidator(INT32_MIN), MaxValueValidator(INT32_MAX)]


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    default_x = models.IntegerField(null=True, blank=True, validators=_int32)
    default_y = models.IntegerField(null=True, blank=True, validators=_int32)
    ups_account = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(INT64_MAX)],
        help_text="the shopper's UPS account id, linked to their orders",
    )
    is_seller = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ups_account__isnull=True) | models.Q(ups_account__gt=0),
                name="profile_ups_account_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"profile of {self.user}"

    @property
    def has_default_address(self) -> bool:
        return self.default_x is not None and self.default_y is not None


class Address(models.Model):
    """A place a shopper named to deliver to again ("home", "office"), chosen at checkout."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="addresses"
    )
    name = models.CharField(max_length=40)
    x = models.IntegerField(validators=_int32)
    y = models.IntegerField(validators=_int32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="address_name_per_user")
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.x}, {self.y})"


class UserStamp(models.Model):
    """A value that database triggers change, in the writer's own transaction, whenever
    what the web keeps of a user changes: the user's row (password, name, active, staff,
    last login...) or the profile (migration 0003). Every way of writing them (a
    service, the admin, a bulk update, a password changed in another process) changes
    it, none can forget. The web keeps a request's user per process under the stamp it
    was read with (``backends.py``) and reads only the stamp while it holds: a changed
    user is read again, never served old.

    Drawn at random, as the catalog's version: a rolled-back transaction or a database
    restored never brings back a value a process keeps a user under. No foreign key: a
    user's row goes away before the stamp the triggers write for it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="stamp",
    )
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"stamp {self.value} of user {self.user_id}"
