"""Login throttling on the carrier's site and its admin (tests.site_contract)."""

import pytest

from tests.site_contract import LoginThrottlingContract
from tests.ups.helpers import PASSWORD


class TestCarrierLoginThrottling(LoginThrottlingContract):
    site_name = "mini-UPS"
    after_login = "/packages/"
    after_sign_up = "/accounts/profile/"
    password_reset = "/accounts/password-reset/"

    @pytest.fixture
    def user(self, alice):
        return ("alice", PASSWORD)

    @pytest.fixture
    def other_user(self, bob):
        return ("bob", PASSWORD)
