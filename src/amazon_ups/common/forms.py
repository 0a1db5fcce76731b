"""Form fields both sites use."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


def whole_number(name: str, low: int, high: int, **kwargs) -> forms.IntegerField:
    """An integer field whose every error names the field and says what is allowed."""
    between = f"{name} must be a whole number between {low} and {high}."
    return forms.IntegerField(
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
