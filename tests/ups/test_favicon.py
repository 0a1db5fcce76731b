"""The carrier's icon: linked from every page, and /favicon.ico for whoever asks for it."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_icon_is_linked_and_served(client):
    page = client.get("/").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)[1]
    icon = client.get(href)
    assert icon.status_code == 200 and icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("/ups/favicon.svg")
