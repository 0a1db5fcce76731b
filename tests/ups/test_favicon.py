"""The carrier's icon (tests.site_contract)."""

from tests.site_contract import FaviconContract


class TestCarrierFavicon(FaviconContract):
    icon = "/ups/favicon.svg"
