"""The store's URLs and two that fail, for the error page tests only."""

from amazon_ups.amazon.urls import urlpatterns as site_urls
from tests.site_contract import with_failing_views

urlpatterns = with_failing_views(site_urls)
