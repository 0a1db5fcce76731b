from __future__ import annotations

import uuid

from django import forms

from amazon_ups.amazon.orders.services import MAX_COUNT
from amazon_ups.common.forms import whole_number
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN, INT64_MAX


class DeliveryForm(forms.Form):
    """Where an order goes (int32 coordinates, as the world takes them) and the UPS
    account it may be linked to; ``token`` makes a form posted twice one order."""

    token = forms.CharField(max_length=64, widget=forms.HiddenInput)
    dest_x = whole_number("x", INT32_MIN, INT32_MAX, label="Deliver to x")
    dest_y = whole_number("y", INT32_MIN, INT32_MAX, label="y")
    ups_account = whole_number(
        "The UPS account id",
        1,
        INT64_MAX,
        required=False,
        label="UPS account id (optional)",
    )


class PlaceOrderForm(DeliveryForm):
    product = whole_number("The product", 1, INT64_MAX, widget=forms.HiddenInput)
    quantity = whole_number("The quantity", 1, MAX_COUNT, initial=1)

    field_order = ["product", "token", "quantity", "dest_x", "dest_y", "ups_account"]

    @classmethod
    def for_product(cls, product_id: int) -> PlaceOrderForm:
        # A fresh token per form shown: posting this form twice makes one order.
        # Several of these share a page: ids per product keep labels pointing right.
        return cls(
            initial={"product": product_id, "token": uuid.uuid4().hex},
            auto_id=f"p{product_id}_%s",
        )
