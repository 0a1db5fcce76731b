from django import forms

from amazon_ups.common.forms import WholeNumberField
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN
from amazon_ups.ups.shipments import tracking
from amazon_ups.ups.shipments.models import PackageStatus
from amazon_ups.ups.shipments.tracking import InvalidTrackingNumber


class GridCoordinate(WholeNumberField):
    def __init__(self, **kwargs) -> None:
        super().__init__(
            min_value=INT32_MIN,
            max_value=INT32_MAX,
            error_messages={
                "required": "Enter a whole number.",
                "invalid": "Enter a whole number, like 12 or -4.",
                "min_value": f"The grid starts at {INT32_MIN}.",
                "max_value": f"The grid ends at {INT32_MAX}.",
            },
            **kwargs,
        )
        # A plain text box with a numeric keypad: browsers' number boxes would hide
        # a typo behind their own message.
        self.widget = forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"})


class RedirectForm(forms.Form):
    x = GridCoordinate(label="New x")
    y = GridCoordinate(label="New y")


class PackageFilterForm(forms.Form):
    STATES = [("", "All"), ("in_transit", "On its way"), ("delivered", "Delivered")]

    q = forms.CharField(label="Tracking number", required=False, max_length=40)
    state = forms.ChoiceField(label="Show", choices=STATES, required=False)
    status = forms.ChoiceField(
        label="Status", choices=[("", "Any status"), *PackageStatus.choices], required=False
    )

    def clean_q(self) -> str | None:
        text = self.cleaned_data["q"]
        if not text.strip():
            return None
        try:
            return tracking.parse(text)
        except InvalidTrackingNumber as error:
            raise forms.ValidationError(str(error)) from None
