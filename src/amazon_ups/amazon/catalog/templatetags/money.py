"""``{{ price|money }}``: one way to write an amount, ``$1,234.50``."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()

CENT = Decimal("0.01")


@register.filter
def money(value) -> str:
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        return ""
    return f"-${-amount:,}" if amount < 0 else f"${amount:,}"
