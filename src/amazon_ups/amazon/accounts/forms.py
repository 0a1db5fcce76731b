from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from amazon_ups.common.forms import whole_number
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN, INT64_MAX


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        required=True,
        help_text="For order emails and for resetting a forgotten password.",
        error_messages={"required": "Enter an email address."},
    )
    is_seller = forms.BooleanField(
        required=False,
        label="I want to sell on mini-Amazon",
        help_text="Sellers list their own products and see the orders for them.",
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        # One account per address, so a password reset reaches exactly one account.
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email


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
        x, y = data.get("default_x"), data.get("default_y")
        if (x is None) != (y is None) and not self.errors:
            raise forms.ValidationError(
                "Give both x and y for a default delivery address, or neither."
            )
        return data
