"""The store answers errors with its own pages (tests.site_contract)."""

import pytest
from django.urls import reverse

from tests.site_contract import ErrorPagesContract


@pytest.mark.urls("tests.amazon.error_urls")
class TestStoreErrorPages(ErrorPagesContract):
    frame = "mini-Amazon: a demo store on a simulated world"
    stylesheet = "amazon/site.css"
    login_url = "login"

    def way_on_from_404(self, page):
        assert f'href="{reverse("catalog:product_list")}"' in page and 'role="search"' in page
