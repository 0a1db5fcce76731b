"""Login throttling on the store and its admin (django-axes): real login POSTs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.db.models import F

from tests.support import HUMAN_TIME, failed_login, login_until_locked

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
PASSWORD = "a-long-password-1"  # the shopper fixture's
ELSEWHERE = "203.0.113.9"


def fail(client, path=LOGIN, username="shopper", address="127.0.0.1"):
    return failed_login(client, username, path, address)


def log_in(client, username="shopper", password=PASSWORD, address="127.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def lock_out(client, **where):
    return login_until_locked(client, **{"username": "shopper", **where})


def test_failures_lock_the_username_at_that_address_with_a_page_saying_until_when(client, shopper):
    locked = lock_out(client)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many login attempts" in page and "mini-Amazon" in page
    assert re.search(rf"Try again after <strong><time [^>]+ data-local>{HUMAN_TIME}</time>", page)
    assert "(in 15 minutes)" in page
    assert int(locked["Retry-After"]) == 15 * 60
    # Even the right password waits now.
    assert log_in(client).status_code == 429
    assert "_auth_user_id" not in client.session


def test_another_username_from_the_same_address_is_not_locked(client, shopper, other_shopper):
    lock_out(client)
    assert log_in(client, "other", "a-long-password-2").status_code == 302


def test_the_same_username_from_elsewhere_is_not_locked(client, shopper):
    # An attacker failing with someone's name does not lock that person out.
    lock_out(client, address=ELSEWHERE)
    assert log_in(client).status_code == 302


def test_a_successful_login_clears_the_count(client, shopper):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        fail(client)
    assert log_in(client).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert fail(client).status_code == 200
    assert log_in(client).status_code == 302


def test_after_the_cool_off_the_login_works_again(client, shopper):
    lock_out(client)
    # The attempts were made a cool-off ago.
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert log_in(client).status_code == 302


def test_the_limit_and_wait_come_from_the_settings(client, shopper, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    assert fail(client).status_code == 200
    locked = fail(client)
    assert locked.status_code == 429
    assert "(in 1 minute)" in locked.content.decode() and locked["Retry-After"] == "60"


def test_the_admin_login_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert fail(client, ADMIN_LOGIN, "boss").status_code == 200
    assert fail(client, ADMIN_LOGIN, "boss").status_code == 429
    right = client.post(ADMIN_LOGIN, {"username": "boss", "password": PASSWORD})
    assert right.status_code == 429
    assert "Too many login attempts" in right.content.decode()


@pytest.mark.parametrize("username", ["<b>x</b>", "x" * 200])
def test_the_page_shows_any_username_safely(client, db, username):
    page = lock_out(client, username=username).content.decode()
    assert "<b>x</b>" not in page


def test_a_password_reset_and_a_sign_up_still_work_from_a_locked_address(client, shopper):
    shopper.email = "shopper@example.com"
    shopper.save()
    lock_out(client)
    sent = client.post("/accounts/password/reset/", {"email": "shopper@example.com"})
    assert sent["Location"] == "/accounts/password/reset/sent/"
    assert len(mail.outbox) == 1
    signed_up = client.post(
        "/accounts/signup/",
        {
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert signed_up.status_code == 302
    assert client.session["_auth_user_id"]
