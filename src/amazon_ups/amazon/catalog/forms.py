from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from amazon_ups.amazon.catalog import images
from amazon_ups.amazon.catalog.models import MAX_PRICE, Category
from amazon_ups.amazon.catalog.selectors import ProductSort


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
    price = forms.DecimalField(
        min_value=Decimal("0.00"),
        max_value=MAX_PRICE,
        max_digits=7,
        decimal_places=2,
        required=False,
        label="Price (USD)",
        help_text="Shown to shoppers; no payment is taken in this demo store. "
        "Empty: free (new) or unchanged (edit).",
        error_messages={
            "invalid": "Write the price as a number, like 12.50.",
            "min_value": "A price cannot be negative.",
            "max_value": f"At most {MAX_PRICE}, please.",
            "max_decimal_places": "At most two digits after the point (cents).",
            "max_digits": f"At most {MAX_PRICE}, please.",
            "max_whole_digits": f"At most {MAX_PRICE}, please.",
        },
    )
    image = forms.FileField(
        required=False,
        label="Picture (optional)",
        help_text=(
            f"PNG, JPEG, WEBP or GIF, at most {images.MAX_BYTES // 1024 // 1024} MB and "
            f"{images.MAX_SIDE} pixels a side. Without one, the store draws one."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}
        ),
    )
    # Shown only once the name turns out to be taken (seller_views): a warning, not a ban.
    list_anyway = forms.BooleanField(
        required=False, label="List it anyway under this name", widget=forms.HiddenInput
    )

    def __init__(self, *args, ask_duplicate: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if ask_duplicate:
            self.fields["list_anyway"].widget = forms.CheckboxInput()

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the product a name.")
        return name

    def clean_image(self) -> images.CheckedImage | None:
        upload = self.cleaned_data.get("image")
        if not upload:
            return None
        # The size first, so a huge upload is never read into memory.
        if upload.size > images.MAX_BYTES:
            raise ValidationError(
                f"The picture is {upload.size / 1024 / 1024:.1f} MB; at most "
                f"{images.MAX_BYTES // 1024 // 1024} MB, please."
            )
        return images.check_upload(upload.read())


class CatalogQueryForm(forms.Form):
    """The catalog's query string; anything it cannot read falls back to the default."""

    sort = forms.ChoiceField(choices=ProductSort.choices, required=False, label="Sort by")
    available = forms.BooleanField(required=False, label="In stock only")

    def options(self) -> tuple[ProductSort | None, bool]:
        """The sort asked for (None: the default, which depends on the query) and
        whether only products in stock are wanted."""
        if not self.is_valid():
            return None, False
        sort = self.cleaned_data["sort"]
        return (ProductSort(sort) if sort else None), self.cleaned_data["available"]
