"""Login throttling on the store and its admin (tests.site_contract)."""

import pytest

from tests.site_contract import LoginThrottlingContract


class TestStoreLoginThrottling(LoginThrottlingContract):
    site_name = "mini-Amazon"
    after_login = "/"
    after_sign_up = "/"
    password_reset = "/accounts/password/reset/"

    @pytest.fixture
    def user(self, shopper):
        shopper.email = "shopper@example.com"
        shopper.save()
        return ("shopper", "a-long-password-1")

    @pytest.fixture
    def other_user(self, other_shopper):
        return ("other", "a-long-password-2")
