from __future__ import annotations

import uuid

from django import forms

from amazon_ups.amazon.cart.models import MAX_QUANTITY
from amazon_ups.amazon.orders.forms import DeliveryForm
from amazon_ups.common.forms import whole_number
from amazon_ups.protocol.limits import INT64_MAX


class AddToCartForm(forms.Form):
    product = whole_number("The product", 1, INT64_MAX, widget=forms.HiddenInput)
    quantity = whole_number("The quantity", 1, MAX_QUANTITY, initial=1)


class UpdateCartForm(forms.Form):
    product = whole_number("The product", 1, INT64_MAX, widget=forms.HiddenInput)
    # 0 takes the product out, as the Remove button does.
    quantity = whole_number("The quantity", 0, MAX_QUANTITY)


class RemoveFromCartForm(forms.Form):
    product = whole_number("The product", 1, INT64_MAX, widget=forms.HiddenInput)


class CheckoutForm(DeliveryForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The checkout page explains what is done with the account id.
        self.fields["ups_account"].widget.attrs["aria-describedby"] = "ups-account-help"

    @classmethod
    def fresh(cls, profile) -> CheckoutForm:
        # A fresh token per form shown: posting this form twice makes one order.
        initial = {"token": uuid.uuid4().hex}
        if profile is not None:
            initial.update(
                dest_x=profile.default_x, dest_y=profile.default_y, ups_account=profile.ups_account
            )
        return cls(initial=initial)
