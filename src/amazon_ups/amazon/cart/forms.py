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
    """Where to deliver: typed, clicked on the map (which types for you), or one of the
    shopper's saved addresses, which fills x and y left empty."""

    address = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="A saved address"
    )

    field_order = ["token", "address", "dest_x", "dest_y", "ups_account"]

    def __init__(self, *args, addresses=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.addresses = {address.id: address for address in addresses}
        choice = self.fields["address"]
        assert isinstance(choice, forms.TypedChoiceField)  # this form's own copy of address
        choice.choices = [("", "Choose one…")] + [
            (address.id, f"{address.name} ({address.x}, {address.y})")
            for address in self.addresses.values()
        ]
        if self.is_bound and self.data.get("address"):
            # Without JavaScript nobody copies the address into x and y.
            self.fields["dest_x"].required = self.fields["dest_y"].required = False
        # The checkout page explains what is done with the account id, and the range.
        self.fields["ups_account"].widget.attrs["aria-describedby"] = "ups-account-help"
        for name in ("dest_x", "dest_y"):
            self.fields[name].widget.attrs["aria-describedby"] = "checkout-map-help"
        self.fields["dest_x"].label = "x"

    def clean(self):
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        address = self.addresses.get(data.get("address"))
        if address is not None:
            if data.get("dest_x") is None and "dest_x" not in self.errors:
                data["dest_x"] = address.x
            if data.get("dest_y") is None and "dest_y" not in self.errors:
                data["dest_y"] = address.y
        for name in ("dest_x", "dest_y"):
            if data.get(name) is None and name not in self.errors:
                self.add_error(name, f"Enter {'x' if name == 'dest_x' else 'y'}.")
        return data

    @classmethod
    def fresh(cls, profile, addresses=()) -> CheckoutForm:
        # A fresh token per form shown: posting this form twice makes one order.
        initial = {"token": uuid.uuid4().hex}
        if profile is not None:
            initial.update(
                dest_x=profile.default_x, dest_y=profile.default_y, ups_account=profile.ups_account
            )
        return cls(initial=initial, addresses=addresses)
