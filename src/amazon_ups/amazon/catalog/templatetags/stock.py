"""``{{ stock|stock_badge }}``: how many we hold of a product, in words (a
``selectors.StockStatus``), written one way for the lists, the seller's page and the
product page, whose view fills it in per request (``views.product_detail``)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def stock_badge(stock) -> SafeString:
    return format_html('<span class="stock" data-stock="{}">{}</span>', stock.level, stock.text)
