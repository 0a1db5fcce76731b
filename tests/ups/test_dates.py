"""Moments on the pages are written one way (common/dates.py) in a <time> element that
carries the ISO value; the operators' page too."""

import re
from datetime import UTC, datetime

import pytest
from django.template import engines

from amazon_ups.common.messaging.models import LinkState
from tests.support import HUMAN_TIME

MOMENT = datetime(2026, 11, 9, 8, 5, 59, tzinfo=UTC)


def test_the_filter_writes_a_time_element_with_the_iso_value():
    template = engines["django"].from_string("{% load dates %}{{ at|when }}|{{ none|when }}")
    html = template.render({"at": MOMENT, "none": None})
    assert html == (
        '<time datetime="2026-11-09T08:05:59+00:00" data-local>9 Nov 2026, 08:05 UTC</time>|'
    )


@pytest.mark.django_db
def test_the_operator_page_writes_moments_for_people(admin_client):
    LinkState.objects.create(peer="world", connected=True, detail="world 1")
    page = admin_client.get("/operator/").content.decode()
    assert re.search(
        rf'<time datetime="\d{{4}}-\d\d-\d\dT[^"]+" data-local>{HUMAN_TIME}</time>', page
    )
    data = admin_client.get("/operator/status.json").json()
    datetime.fromisoformat(data["links"][0]["since"])  # machines keep ISO 8601
