"""The store's icon (tests.site_contract)."""

from tests.site_contract import FaviconContract


class TestStoreFavicon(FaviconContract):
    icon = "/amazon/favicon.svg"
