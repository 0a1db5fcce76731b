"""Accounts: sign up, log in and out, passwords, the profile."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core import mail
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from amazon_ups.amazon.accounts import selectors, services
from amazon_ups.amazon.accounts.models import Profile, UserStamp
from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.cart.backends import ShopperBackend
from amazon_ups.amazon.cart.models import Cart
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2

pytestmark = pytest.mark.django_db

SIGNUP = reverse("signup")
PROFILE = reverse("profile")
PASSWORD = "correct-horse-battery-9"


def sign_up(client, **fields):
    data = {
        "username": "alice",
        "email": "alice@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(fields)
    return client.post(SIGNUP, {k: v for k, v in data.items() if v is not None})


def test_signing_up_makes_a_shopper_who_is_logged_in(client):
    page = client.get(SIGNUP).content.decode()
    for name in ("username", "email", "password1", "password2", "is_seller"):
        assert f'name="{name}"' in page
    assert '<label for="id_email">Email' in page

    response = sign_up(client)

    assert response.status_code == 302 and response.url == "/"
    user = get_user_model().objects.get(username="alice")
    assert user.email == "alice@example.com"
    assert user.password.startswith("md5$") and PASSWORD not in user.password  # hashed
    assert selectors.profile_of(user).is_seller is False
    page = client.get("/").content.decode()
    assert "Log out (alice)" in page and "Welcome, alice" in page
    assert reverse("sell:home") not in page  # no seller link for a shopper


def test_signing_up_as_a_seller_leads_to_the_seller_area(client):
    response = sign_up(client, is_seller="on")
    assert response.status_code == 302 and response.url == reverse("sell:home")
    assert selectors.is_seller(get_user_model().objects.get(username="alice"))
    assert client.get(response.url).status_code == 200
    assert f'href="{reverse("sell:home")}"' in client.get("/").content.decode()


def test_signing_up_goes_back_where_the_shopper_was_but_never_off_site(client):
    assert sign_up(client, next="/products/1/").url == "/products/1/"
    client.post(reverse("logout"))
    response = sign_up(
        client, username="bob", email="bob@example.com", next="https://evil.example/"
    )
    assert response.url == "/"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": None}, "Enter an email address."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"password2": "something-else-42"}, "The two password fields didn"),
        ({"password1": "short", "password2": "short"}, "This password is too short."),
        ({"password1": "12345678901", "password2": "12345678901"}, "entirely numeric"),
        ({"username": ""}, "This field is required."),
        ({"username": "bad name!"}, "Enter a valid username."),
    ],
)
def test_bad_sign_ups_are_explained_next_to_the_field(client, fields, message):
    response = sign_up(client, **fields)
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page.replace("&#x27;", "'")
    assert 'role="alert"' in page
    assert not get_user_model().objects.filter(username="alice").exists()


def test_a_username_or_email_is_taken_once(client, django_user_model):
    django_user_model.objects.create_user("alice", "Alice@Example.com", "x-password-123")
    page = sign_up(client, username="alice2").content.decode()
    assert "An account with this email address already exists." in page
    page = sign_up(client, email="new@example.com").content.decode()
    assert "A user with that username already exists." in page
    assert django_user_model.objects.count() == 1


def test_login_and_logout(client, shopper):
    page = client.get(reverse("login")).content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    assert f'href="{reverse("password_reset")}"' in page

    bad = client.post(reverse("login"), {"username": "shopper", "password": "wrong"})
    assert bad.status_code == 200
    assert "Please enter a correct username and password" in bad.content.decode()
    assert "_auth_user_id" not in client.session

    response = client.post(
        reverse("login"),
        {"username": "shopper", "password": "a-long-password-1", "next": "/orders/"},
    )
    assert response.status_code == 302 and response.url == "/orders/"
    assert "Log out (shopper)" in client.get("/").content.decode()

    # Logging out takes a POST (a link could be followed by anything).
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    page = client.get("/").content.decode()
    assert "Log out" not in page and f'href="{reverse("login")}"' in page


def test_a_session_ended_is_ended_in_its_cache_too(client, shopper):
    # Sessions are read from a cache shared by the web processes (settings): a logout,
    # or a session gone from the database, must not live on there.
    client.force_login(shopper)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert caches[settings.SESSION_CACHE_ALIAS].get(SessionStore.cache_key_prefix + cookie)
    assert client.post(reverse("logout")).status_code == 302
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert "Log out" not in replay.get("/").content.decode()
    assert not caches[settings.SESSION_CACHE_ALIAS].get(SessionStore.cache_key_prefix + cookie)


def test_login_needs_the_csrf_token(shopper):
    client = Client(enforce_csrf_checks=True)
    form = {"username": "shopper", "password": "a-long-password-1"}
    assert client.post(reverse("login"), form).status_code == 403
    page = client.get(reverse("login")).content.decode()
    form["csrfmiddlewaretoken"] = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    assert client.post(reverse("login"), form).status_code == 302


def test_changing_the_password(client, shopper):
    client.force_login(shopper)
    url = reverse("password_change")
    wrong = client.post(
        url,
        {"old_password": "nope", "new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert "Your old password was entered incorrectly" in wrong.content.decode()

    response = client.post(
        url,
        {
            "old_password": "a-long-password-1",
            "new_password1": PASSWORD,
            "new_password2": PASSWORD,
        },
    )
    assert response.status_code == 302 and response.url == reverse("password_change_done")
    assert "Password changed" in client.get(response.url).content.decode()
    shopper.refresh_from_db()
    assert shopper.check_password(PASSWORD)
    # Still logged in after the change (the session hash was updated).
    assert client.get(PROFILE).status_code == 200


def test_password_change_needs_a_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_resetting_a_forgotten_password_by_email(client, django_user_model, settings):
    settings.AMAZON_PUBLIC_URL = "https://shop.example"
    user = django_user_model.objects.create_user("carol", "carol@example.com", "old-password-77")
    response = client.post(reverse("password_reset"), {"email": "carol@example.com"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["carol@example.com"]
    assert email.subject == "Reset your mini-Amazon password"
    # The link is made from the site's public URL, never from the request's Host.
    link = re.search(r"https://shop\.example(/accounts/password/reset/\S+/)", email.body)[1]

    # The link leads to a form (Django swaps the token for one in the session first).
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    form_url = form_page.redirect_chain[-1][0]
    done = client.post(
        form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD}, follow=True
    )
    assert "Password set" in done.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

    # Used once, the link no longer works.
    assert "This link does not work" in client.get(link, follow=True).content.decode()
    # And the new password logs in.
    client.post(reverse("logout"))
    response = client.post(reverse("login"), {"username": "carol", "password": PASSWORD})
    assert response.status_code == 302


def test_a_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert mail.outbox == []


# The profile.


def test_the_profile_needs_a_login(client):
    response = client.get(PROFILE)
    assert response.status_code == 302 and response.url == f"/accounts/login/?next={PROFILE}"
    response = client.post(PROFILE, {"default_x": 1, "default_y": 2})
    assert response.status_code == 302 and not Profile.objects.exists()


def test_the_profile_saves_and_shows_the_defaults(client, shopper):
    client.force_login(shopper)
    assert selectors.profile_of(shopper) is None  # made on first save
    response = client.post(
        PROFILE, {"default_x": "-2147483648", "default_y": "2147483647", "ups_account": "42"}
    )
    assert response.status_code == 302 and response.url == PROFILE
    profile = selectors.profile_of(shopper)
    assert (profile.default_x, profile.default_y, profile.ups_account) == (-(2**31), 2**31 - 1, 42)
    page = client.get(PROFILE).content.decode()
    assert 'value="-2147483648"' in page and 'value="42"' in page
    assert "Your profile is saved." in page

    # Emptying the fields clears them.
    client.post(PROFILE, {"default_x": "", "default_y": "", "ups_account": ""})
    profile.refresh_from_db()
    assert (profile.default_x, profile.default_y, profile.ups_account) == (None, None, None)


def test_a_ups_account_saved_on_the_profile_is_checked_with_ups_once(client, shopper):
    client.force_login(shopper)
    client.post(PROFILE, {"default_x": "1", "default_y": "2", "ups_account": "42"})
    client.post(PROFILE, {"default_x": "3", "default_y": "4", "ups_account": "42"})
    checks = OutgoingMessage.objects.filter(peer="ups", field="account_checks")
    [check] = checks  # asked once: the second save did not change the account
    assert au_pb2.AccountCheck.FromString(bytes(check.body)).ups_account == 42
    page = client.get(PROFILE).content.decode()
    assert 'data-state="checking"' in page

    with transaction.atomic():
        carrier.account_status_record(au_pb2.AccountStatus(seqnum=1, ups_account=42, exists=True))
    assert 'data-state="linked"' in client.get(PROFILE).content.decode()
    client.post(PROFILE, {"default_x": "3", "default_y": "4", "ups_account": "43"})
    assert checks.all().count() == 2  # a fresh query: ``checks`` holds its first result


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"default_x": 2**31}, "x must be a whole number between -2147483648 and 2147483647."),
        ({"default_y": -(2**31) - 1}, "y must be a whole number between -2147483648 and"),
        ({"default_x": "ten"}, "x must be a whole number."),
        ({"default_y": "1.5"}, "y must be a whole number."),
        ({"default_x": "1e3"}, "x must be a whole number."),
        ({"ups_account": -3}, "The UPS account id must be a whole number between 1 and"),
        ({"ups_account": 0}, "The UPS account id must be a whole number between 1 and"),
        ({"ups_account": 2**63}, "The UPS account id must be a whole number between 1 and"),
        ({"ups_account": "abc"}, "The UPS account id must be a whole number."),
        ({"default_y": ""}, "Give both x and y for a default delivery address, or neither."),
    ],
)
def test_bad_profile_input_is_explained_and_saves_nothing(client, shopper, fields, message):
    client.force_login(shopper)
    data = {"default_x": 3, "default_y": 4, "ups_account": 7}
    data.update(fields)
    response = client.post(PROFILE, data)
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert 'role="alert"' in page
    assert not Profile.objects.exists()


def test_profile_update_validates_like_the_form(shopper):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.profile_update(shopper, default_x=2**31, default_y=0, ups_account=None)
    with pytest.raises(ValidationError):
        services.profile_update(shopper, default_x=0, default_y=0, ups_account=-1)
    profile = services.profile_update(shopper, default_x=1, default_y=-1, ups_account=None)
    assert selectors.profile_of(shopper) == profile and profile.has_default_address


def test_profile_of_anonymous_is_none():
    from django.contrib.auth.models import AnonymousUser

    assert selectors.profile_of(AnonymousUser()) is None
    assert selectors.profile_of(None) is None


@pytest.mark.django_db(transaction=True)
def test_a_ups_account_asked_about_from_the_web_wakes_the_daemon(settings, tmp_path):
    """The checkout page asking as the id is typed, or a profile given a new id, writes a
    question for UPS and wakes the fulfilment daemon once it commits: the daemon reads
    its outbox when woken (or when it wrote there itself), not at every look."""
    import select

    from amazon_ups.common.daemon.wakeup import Waker, channel_of
    from amazon_ups.testing.waiting import wait_until

    settings.VAR_DIR = tmp_path
    user = get_user_model().objects.create_user("asker", password="a-long-password-3")
    waker = Waker(channel_of("amazon"))
    try:
        fd = waker.fileno()
        assert fd is not None

        def woken() -> bool:
            return bool(select.select([fd], [], [], 0)[0])

        for ask in (
            lambda: services.ups_account_ask(77),
            lambda: services.profile_update(user, default_x=1, default_y=1, ups_account=78),
        ):
            asked = OutgoingMessage.objects.filter(field="account_checks").count()
            with transaction.atomic():
                ask()
            assert OutgoingMessage.objects.filter(field="account_checks").count() == asked + 1
            wait_until(woken, 5, "the wake-up")
            waker.drain()
    finally:
        waker.close()


# -- the request's user, kept per process under its stamp (accounts/backends.py) ----------

SHOPPER_BACKEND = "amazon_ups.amazon.cart.backends.ShopperBackend"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user, backend=SHOPPER_BACKEND)
    return client


def statements_of(client, path: str = "/") -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        page = client.get(path).content.decode()
    return page, [query["sql"] for query in captured.captured_queries]


def test_a_kept_user_is_read_as_its_stamp_and_cart_alone_while_nothing_of_it_changes(shopper):
    Profile.objects.create(user=shopper)
    client = logged_in(shopper)
    page, first = statements_of(client)
    assert any("accounts_profile" in sql for sql in first) and "Log out (shopper)" in page
    page, second = statements_of(client)
    # The stamp and the cart's units: no profile, no user's columns.
    (user_read,) = [sql for sql in second if "accounts_userstamp" in sql]
    assert "accounts_profile" not in user_read and '"auth_user"."password"' not in user_read
    assert "cart_cart" in user_read and "Log out (shopper)" in page


def each_request_gets_its_own_copy(shopper):
    backend = ShopperBackend()
    backend.get_user(shopper.pk)  # read and kept
    first, second = backend.get_user(shopper.pk), backend.get_user(shopper.pk)
    assert first is not second and first.profile is not second.profile
    first.profile.is_seller = True
    assert not second.profile.is_seller and not backend.get_user(shopper.pk).profile.is_seller


def test_each_request_gets_its_own_copy_of_a_kept_user(shopper):
    Profile.objects.create(user=shopper)
    each_request_gets_its_own_copy(shopper)


@pytest.mark.parametrize(
    "change",
    [
        # As another process would make them: nothing in this one hears of them.
        lambda user: (
            get_user_model()
            .objects.filter(pk=user.pk)
            .update(password=make_password("another-long-password"))
        ),
        lambda user: get_user_model().objects.filter(pk=user.pk).update(is_active=False),
    ],
    ids=["password changed", "deactivated"],
)
def test_a_password_changed_or_a_user_deactivated_elsewhere_ends_a_kept_session(shopper, change):
    client = logged_in(shopper)
    assert client.get(PROFILE).status_code == 200
    assert client.get(PROFILE).status_code == 200  # kept
    change(shopper)
    response = client.get(PROFILE)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_kept_users_name_profile_and_cart_changed_elsewhere_show_at_once(shopper):
    Profile.objects.create(user=shopper)
    client = logged_in(shopper)
    client.get("/")
    client.get("/")  # kept
    get_user_model().objects.filter(pk=shopper.pk).update(username="renamed")
    assert "Log out (renamed)" in client.get("/").content.decode()
    Profile.objects.filter(user=shopper).update(is_seller=True)
    assert f'href="{reverse("sell:home")}"' in client.get("/").content.decode()
    Cart.objects.update_or_create(user=shopper, defaults={"units": 4})
    assert 'aria-label="4 items">4</span>' in client.get("/").content.decode()
    Cart.objects.filter(user=shopper).update(units=5)
    assert 'aria-label="5 items">5</span>' in client.get("/").content.decode()
    Profile.objects.filter(user=shopper).delete()
    assert f'href="{reverse("sell:home")}"' not in client.get("/").content.decode()


def test_a_deleted_kept_user_is_logged_out(shopper):
    client = logged_in(shopper)
    client.get("/")
    get_user_model().objects.filter(pk=shopper.pk).delete()
    assert "Log out" not in client.get("/").content.decode()


def user_stamp(user) -> int | None:
    found = list(UserStamp.objects.filter(user=user).values_list("value", flat=True))
    return found[0] if found else None


def test_every_user_has_a_stamp_that_each_change_of_theirs_moves(shopper, other_shopper):
    def stamp() -> int | None:
        return user_stamp(shopper)

    before = stamp()
    assert before is not None and user_stamp(other_shopper) is not None
    changes = [
        lambda: get_user_model().objects.filter(pk=shopper.pk).update(email="a@example.com"),
        lambda: Profile.objects.create(user=shopper, default_x=1, default_y=2),
        lambda: Profile.objects.filter(user=shopper).update(default_x=3),
        lambda: Profile.objects.filter(user=shopper).delete(),
    ]
    others = user_stamp(other_shopper)
    for change in changes:
        change()
        assert stamp() != before
        before = stamp()
    assert user_stamp(other_shopper) == others
    # The cart's units are read on every request (cart/backends.py): not kept, no stamp.
    Cart.objects.create(user=shopper, units=1)
    Cart.objects.filter(user=shopper).update(units=2)
    assert stamp() == before
