"""Sign up, log in and out, reset a password, and the profile with the account number."""

# Fixtures are shared by importing them from test_views (tests/ups/conftest.py is not
# this suite's to grow), which ruff takes for redefinitions.
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from amazon_ups.ups.accounts.models import Account
from tests.ups.helpers import PASSWORD, login, page_of, pickup

pytestmark = pytest.mark.django_db

SIGNUP = {
    "username": "carol",
    "email": "carol@example.com",
    "password1": "another-long-pass-42",
    "password2": "another-long-pass-42",
}


def test_sign_up_makes_a_user_an_account_number_and_logs_in(client):
    response = client.post("/accounts/signup/", SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    user = get_user_model().objects.get(username="carol")
    assert user.email == "carol@example.com"
    assert user.check_password(SIGNUP["password1"])
    account = Account.objects.get(user=user)
    assert 100_000_000 <= account.number < 1_000_000_000
    page = client.get("/accounts/profile/").content.decode()
    assert f'data-account="{account.number}">{account.number}<' in page
    assert "Give this number to the store" in page
    assert "Welcome" in page  # the message


@pytest.mark.parametrize(
    "change, field, error",
    [
        ({"username": "alice"}, "username", "already exists"),
        ({"email": "ALICE@example.com"}, "email", "already exists"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"email": ""}, "email", "required"),
        ({"password2": "something-else-42"}, "password2", "didn"),
        ({"password1": "12345678", "password2": "12345678"}, "password2", "too common"),
        ({"username": ""}, "username", "required"),
    ],
)
def test_sign_up_refuses_bad_input_clearly(client, alice, change, field, error):
    response = client.post("/accounts/signup/", {**SIGNUP, **change})
    assert response.status_code == 200
    page = response.content.decode()
    assert error in page
    assert f'id="id_{field}_errors"' in page or f'id="id_{field}"' in page
    assert 'aria-invalid="true"' in page
    assert not get_user_model().objects.filter(username="carol").exists()
    assert Account.objects.count() == 1  # alice's


def test_sign_up_form_is_labelled(client):
    page = client.get("/accounts/signup/").content.decode()
    for field in ("username", "email", "password1", "password2"):
        assert f'<label for="id_{field}">' in page


def test_log_in_and_out(client, alice):
    page = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username">' in page and '<label for="id_password">' in page
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/packages/"
    assert client.get("/packages/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # only by POST (CSRF)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/packages/").status_code == 302


def test_a_wrong_password_is_refused(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_log_in_returns_to_the_page_asked_for(client, alice):
    response = client.post(
        "/accounts/login/?next=/map/", {"username": "alice", "password": PASSWORD, "next": "/map/"}
    )
    assert response["Location"] == "/map/"


def test_the_cookies_are_the_carriers_own(client, alice):
    login(client, alice)
    assert "ups_sessionid" in client.cookies


def test_password_reset_by_email(client, alice, settings):
    settings.UPS_PUBLIC_URL = "https://ups.example:8443"
    response = client.post("/accounts/password-reset/", {"email": "alice@example.com"})
    assert response["Location"] == "/accounts/password-reset/sent/"
    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert "mini-UPS" in email.subject
    # The link is made from the site's public URL, never from the request's Host.
    link = re.search(r"https://ups\.example:8443(/accounts/password-reset/\S+/)", email.body)[1]
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    new = "a-brand-new-password-9"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done["Location"] == "/accounts/password-reset/done/"
    logged_in = client.post("/accounts/login/", {"username": "alice", "password": new})
    assert logged_in["Location"] == "/packages/"
    assert "no longer valid" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_email_sends_nothing_and_says_the_same(client, alice):
    response = client.post("/accounts/password-reset/", {"email": "who@example.com"})
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert mail.outbox == []


def test_a_user_without_a_number_can_get_one(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="dave", password=PASSWORD))
    assert "Get my account number" in client.get("/accounts/profile/").content.decode()
    assert client.get("/accounts/profile/number/").status_code == 405
    client.post("/accounts/profile/number/")
    client.post("/accounts/profile/number/")  # twice: still one
    assert Account.objects.filter(user__username="dave").count() == 1


def test_a_package_ordered_with_the_number_is_the_users(client, fleet, alice):
    pickup(5, alice)
    login(client, alice)
    assert f'href="{page_of(5)}"' in client.get("/packages/").content.decode()
