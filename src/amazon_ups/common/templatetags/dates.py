"""``{% load dates %}``: ``{{ moment|when }}`` writes a moment as a ``<time>`` element in
the one format of both sites (common/dates.py); ``{{ moment|human_datetime }}`` is the
text alone, for where an element cannot go; ``{{ seconds|duration }}`` a span of time
for people (``3 min 5 s``, common/dwell.py)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html

from amazon_ups.common import dates, dwell

register = template.Library()


@register.filter
def when(value: datetime | str | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_html(
        '<time datetime="{}" data-local>{}</time>',
        value.isoformat(),
        dates.human_datetime(value),
    )


register.filter("human_datetime", dates.human_datetime)


register.filter("duration", dwell.human_duration)
