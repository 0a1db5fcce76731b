"""The carrier answers errors with its own pages (tests.site_contract)."""

import pytest
from django.urls import reverse

from tests.site_contract import ErrorPagesContract


@pytest.mark.urls("tests.ups.error_urls")
class TestCarrierErrorPages(ErrorPagesContract):
    frame = "mini-UPS · the carrier of mini-Amazon"
    stylesheet = "ups/ups.css"
    login_url = "accounts:login"

    def way_on_from_404(self, page):
        assert f'action="{reverse("shipments:track")}"' in page

    def way_on_from_403(self, page):
        super().way_on_from_403(page)
        assert f'href="{reverse("shipments:track")}"' in page
