"""The static files' URLs on pages (common/staticfiles.py): as Django gives them, worked
out once per process."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import storage as django_storage
from django.contrib.staticfiles.storage import staticfiles_storage
from django.templatetags.static import static
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_static_url_is_djangos_and_worked_out_once(client, catalog, monkeypatch):
    worked_out: list[str] = []
    djangos = django_storage.StaticFilesStorage.url

    def counted(self, name):
        worked_out.append(name)
        return djangos(self, name)

    monkeypatch.setattr(django_storage.StaticFilesStorage, "url", counted)
    getattr(staticfiles_storage, "_urls", {}).clear()  # kept by an earlier test
    for _ in range(3):
        page = client.get(reverse("catalog:product_list")).content.decode()
        assert f'href="{static("amazon/site.css")}"' in page
    assert static("amazon/site.css") == "/static/amazon/site.css"
    assert worked_out.count("amazon/site.css") == 1
