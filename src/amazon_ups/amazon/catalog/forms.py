from __future__ import annotations

from django import forms

from amazon_ups.amazon.catalog.models import Category


class ProductForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        error_messages={"required": "Give the product a name."},
        help_text="Short and plain: it is what shoppers search for.",
    )
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 5})
    )
    category = forms.ModelChoiceField(
        queryset=Category.objects.order_by("name"), required=False, empty_label="(none)"
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the product a name.")
        return name
