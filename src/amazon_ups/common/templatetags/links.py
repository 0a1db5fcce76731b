"""``{% load links %}``: ``{% absolute_url 'app:name' arg ... %}`` is ``{% url %}`` made
absolute with the site's public URL (``common/links.py``), for emails."""

from __future__ import annotations

from django import template

from amazon_ups.common import links

register = template.Library()


@register.simple_tag
def absolute_url(name: str, *args, **kwargs) -> str:
    return links.own_site_reverse(name, *args, **kwargs)


@register.filter
def tracking_page(number: str) -> str:
    """``{{ number|tracking_page }}``: the carrier's page of that tracking number."""
    return links.carrier_tracking_page(number) if number else ""
