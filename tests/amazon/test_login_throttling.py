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


BEHIND_ONE_PROXY = "10.0.0.9"  # the proxy's own address: what every request comes from


@pytest.fixture
def one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1


def login_through_proxy(client, username: str, forwarded_for: str):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": "wrong-guess"},
        REMOTE_ADDR=BEHIND_ONE_PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_behind_a_proxy_the_client_it_saw_is_locked_out_not_the_proxy(
    client, one_proxy, shopper, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        last = login_through_proxy(client, "shopper", "198.51.100.7")
    assert last.status_code == 429
    # Another client behind the same proxy is not locked out.
    assert login_through_proxy(client, "shopper", "198.51.100.8").status_code == 200


def test_an_address_a_client_writes_itself_in_the_header_is_not_believed(
    client, one_proxy, shopper, settings
):
    """The proxy appends the address it saw: entries before it are the client's own."""
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        last = login_through_proxy(client, "shopper", f"203.0.113.{attempt}, 198.51.100.7")
    assert last.status_code == 429
