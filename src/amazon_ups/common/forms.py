"""Form fields both sites use."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from amazon_ups.common.parsing import parse_int
from amazon_ups.protocol.limits import INT64_MAX


class WholeNumberField(forms.IntegerField):
    """Django's IntegerField, but reading only ASCII digits (``int()`` also takes "٣")
    and refusing text too long for its bounds before converting it."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        # A well-formed number somewhat out of range is left to the min/max validators,
        # whose message says what is allowed; without bounds, a database's int64 is.
        low = -(10**100) if self.min_value is not None else -INT64_MAX - 1
        high = 10**100 if self.max_value is not None else INT64_MAX
        number = parse_int(str(value).strip(), low, high)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number


def whole_number(name: str, low: int, high: int, **kwargs) -> forms.IntegerField:
    """An integer field whose every error names the field and says what is allowed."""
    between = f"{name} must be a whole number between {low} and {high}."
    return WholeNumberField(
        min_value=low,
        max_value=high,
        error_messages={
            "invalid": f"{name} must be a whole number.",
            "min_value": between,
            "max_value": between,
            "required": f"Enter {name}.",
        },
        **kwargs,
    )


class SignUpForm(UserCreationForm):
    """Username, email (required, one account per address, so a password reset reaches
    exactly one account) and the password twice. Each site words the email's help."""

    email = forms.EmailField(required=True, error_messages={"required": "Enter an email address."})

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email
