"""Form fields both sites use."""

from __future__ import annotations

from django import forms


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
