from __future__ import annotations

from django import forms

from amazon_ups.amazon.fulfilment.services import MAX_RESTOCK
from amazon_ups.common.forms import whole_number
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN


class RestockForm(forms.Form):
    warehouse = whole_number("The warehouse", INT32_MIN, INT32_MAX, widget=forms.HiddenInput)
    count = whole_number("The number of units", 1, MAX_RESTOCK, initial=10, label="Units")
