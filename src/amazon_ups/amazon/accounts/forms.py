from __future__ import annotations

from django import forms

from amazon_ups.common import forms as common_forms
from amazon_ups.common.forms import whole_number
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN, INT64_MAX


class SignUpForm(common_forms.SignUpForm):
    is_seller = forms.BooleanField(
        required=False,
        label="I want to sell on mini-Amazon",
        help_text="Sellers list their own products and see the orders for them.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].help_text = "For order emails and for resetting a forgotten password."


class ProfileForm(forms.Form):
    default_x = whole_number(
        "x", INT32_MIN, INT32_MAX, required=False, label="Default delivery x (optional)"
    )
    default_y = whole_number(
        "y", INT32_MIN, INT32_MAX, required=False, label="Default delivery y (optional)"
    )
    ups_account = whole_number(
        "The UPS account id",
        1,
        INT64_MAX,
        required=False,
        label="UPS account id (optional)",
        help_text="Orders are linked to this UPS account, so you can follow them on UPS too.",
    )

    def clean(self):
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        x, y = data.get("default_x"), data.get("default_y")
        if (x is None) != (y is None) and not self.errors:
            raise forms.ValidationError(
                "Give both x and y for a default delivery address, or neither."
            )
        return data


class AddressForm(forms.Form):
    name = forms.CharField(
        max_length=40, label="Name", help_text='For you to tell it apart, e.g. "home".'
    )
    x = whole_number("x", INT32_MIN, INT32_MAX, label="x")
    y = whole_number("y", INT32_MIN, INT32_MAX, label="y")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the address a name.")
        return name


class UpsAccountForm(forms.Form):
    """The account id a checkout page asks about as the shopper types it."""

    number = whole_number("The UPS account id", 1, INT64_MAX)
