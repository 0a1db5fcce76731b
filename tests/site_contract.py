"""What both web sites promise alike: their own error pages, their icon, login throttling.

Each site's test module subclasses these with what its pages say (class attributes) and
its users (the `user` and `other_user` fixtures), so the two sites are held to one set of
tests instead of two copies drifting apart.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db.models import F
from django.test import Client, RequestFactory
from django.urls import path, reverse
from django.views.defaults import bad_request, server_error

from tests.support import HUMAN_TIME, LOGIN_PATH, failed_login, login_until_locked

ADMIN_LOGIN = "/admin/login/"
ELSEWHERE = "203.0.113.9"
NEW_PASSWORD = "a-long-password-for-a-newcomer"


def with_failing_views(site_urls: list) -> list:
    """The site's URLs and two that fail, for the error page tests only: production has
    no URL that raises on purpose."""
    from django.core.exceptions import PermissionDenied

    def forbidden(request):
        raise PermissionDenied

    def broken(request):
        raise RuntimeError("a defect")

    return [path("test-forbidden/", forbidden), path("test-broken/", broken), *site_urls]


@pytest.mark.django_db
class ErrorPagesContract:
    """400, 403, 404, 500 and a refused form (CSRF) answer with the site's own pages,
    with DEBUG off (as under pytest-django). Subclasses mark themselves with
    ``pytest.mark.urls`` on a module built by `with_failing_views`."""

    frame: str  # the line every page of the site carries
    stylesheet: str  # the site's own CSS, which the 500 page still links
    login_url: str  # the URL name of the site's login page

    def way_on_from_404(self, page: str) -> None:
        """What the 404 page offers to go on with (each site its own)."""
        raise NotImplementedError

    def way_on_from_403(self, page: str) -> None:
        assert f'href="{reverse(self.login_url)}?next=/test-forbidden/"' in page

    def test_an_unknown_address_is_the_sites_404(self, client):
        response = client.get("/no/such/page/")
        assert response.status_code == 404
        page = response.content.decode()
        assert self.frame in page and "There is nothing at this address" in page
        self.way_on_from_404(page)

    def test_permission_denied_is_the_sites_403_with_a_way_on(self, client):
        response = client.get("/test-forbidden/")
        assert response.status_code == 403
        page = response.content.decode()
        assert self.frame in page and "Not allowed" in page
        self.way_on_from_403(page)

    def test_a_failing_view_is_the_sites_500(self, client):
        client.raise_request_exception = False
        response = client.get("/test-broken/")
        assert response.status_code == 500
        page = response.content.decode()
        assert "Something went wrong" in page and self.frame in page and self.stylesheet in page

    def test_the_500_page_needs_no_database_and_no_request(self, django_assert_max_num_queries):
        # Django renders 500.html with a bare context; the page must not need more.
        with django_assert_max_num_queries(0):
            response = server_error(RequestFactory().get("/"))
        assert response.status_code == 500
        assert "Something went wrong" in response.content.decode()

    def test_a_bad_request_is_the_sites_400(self):
        response = bad_request(RequestFactory().get("/"), exception=None)
        assert response.status_code == 400
        page = response.content.decode()
        assert self.frame in page and "could not be understood" in page

    def test_a_form_without_its_csrf_token_is_the_sites_403(self):
        client = Client(enforce_csrf_checks=True)
        response = client.post(reverse(self.login_url), {"username": "someone", "password": "x"})
        assert response.status_code == 403
        page = response.content.decode()
        assert self.frame in page and "This form has expired" in page


@pytest.mark.django_db
class FaviconContract:
    """The site's icon: linked from every page, and /favicon.ico for whoever asks for it."""

    icon: str  # where the icon is served, at the end of its URL

    def test_the_icon_is_linked_and_served(self, client):
        page = client.get("/").content.decode()
        href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)[1]
        icon = client.get(href)
        assert icon.status_code == 200 and icon["Content-Type"].startswith("image/svg+xml")
        assert b"<svg" in b"".join(icon.streaming_content)

    def test_favicon_ico_leads_to_the_icon(self, client):
        response = client.get("/favicon.ico", follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0].endswith(self.icon)


@pytest.mark.django_db
class LoginThrottlingContract:
    """Login throttling on the site and its admin (django-axes): real login POSTs.

    Subclasses give fixtures `user` and `other_user`, each (username, password) of a
    user with the email ``<username>@example.com``."""

    site_name: str  # in the frame of the "too many attempts" page
    after_login: str  # where a login leads
    after_sign_up: str  # where a sign-up leads
    password_reset: str  # the password reset form's URL

    @staticmethod
    def log_in(client, who, address="127.0.0.1"):
        username, password = who
        data = {"username": username, "password": password}
        return client.post(LOGIN_PATH, data, REMOTE_ADDR=address)

    @staticmethod
    def lock_out(client, who, **where):
        return login_until_locked(client, who[0], **where)

    def test_failures_lock_the_username_at_that_address_with_a_page_saying_until_when(
        self, client, user
    ):
        locked = self.lock_out(client, user)
        assert locked.status_code == 429
        page = locked.content.decode()
        assert "Too many login attempts" in page and self.site_name in page
        until = rf"Try again after <strong><time [^>]+ data-local>{HUMAN_TIME}</time>"
        assert re.search(until, page)
        assert "(in 15 minutes)" in page
        assert int(locked["Retry-After"]) == 15 * 60
        # Even the right password waits now.
        assert self.log_in(client, user).status_code == 429
        assert "_auth_user_id" not in client.session

    def test_another_username_from_the_same_address_is_not_locked(self, client, user, other_user):
        self.lock_out(client, user)
        assert self.log_in(client, other_user)["Location"] == self.after_login

    def test_the_same_username_from_elsewhere_is_not_locked(self, client, user):
        # An attacker failing with someone's name does not lock that person out.
        self.lock_out(client, user, address=ELSEWHERE)
        assert self.log_in(client, user)["Location"] == self.after_login

    def test_a_successful_login_clears_the_count(self, client, user):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            failed_login(client, user[0])
        assert self.log_in(client, user).status_code == 302
        client.post("/accounts/logout/")
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert failed_login(client, user[0]).status_code == 200
        assert self.log_in(client, user).status_code == 302

    def test_after_the_cool_off_the_login_works_again(self, client, user):
        from axes.models import AccessAttempt

        self.lock_out(client, user)
        # The attempts were made a cool-off ago.
        AccessAttempt.objects.update(
            attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
        )
        assert self.log_in(client, user).status_code == 302

    def test_the_limit_and_wait_come_from_the_settings(self, client, user, settings):
        settings.AXES_FAILURE_LIMIT = 2
        settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
        assert failed_login(client, user[0]).status_code == 200
        locked = failed_login(client, user[0])
        assert locked.status_code == 429
        assert "(in 1 minute)" in locked.content.decode() and locked["Retry-After"] == "60"

    def test_the_admin_login_is_throttled_too(self, client, django_user_model):
        django_user_model.objects.create_superuser("boss", "boss@example.com", NEW_PASSWORD)
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert failed_login(client, "boss", ADMIN_LOGIN).status_code == 200
        assert failed_login(client, "boss", ADMIN_LOGIN).status_code == 429
        right = client.post(ADMIN_LOGIN, {"username": "boss", "password": NEW_PASSWORD})
        assert right.status_code == 429
        assert "Too many login attempts" in right.content.decode()

    @pytest.mark.parametrize("username", ["<b>x</b>", "x" * 200])
    def test_the_page_shows_any_username_safely(self, client, username):
        page = self.lock_out(client, (username, "")).content.decode()
        assert "<b>x</b>" not in page

    def test_a_password_reset_and_a_sign_up_still_work_from_a_locked_address(self, client, user):
        self.lock_out(client, user)
        sent = client.post(self.password_reset, {"email": f"{user[0]}@example.com"})
        assert sent["Location"] == f"{self.password_reset}sent/"
        assert len(mail.outbox) == 1
        signed_up = client.post(
            "/accounts/signup/",
            {
                "username": "newcomer",
                "email": "newcomer@example.com",
                "password1": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
            },
        )
        assert signed_up["Location"] == self.after_sign_up
        assert client.session["_auth_user_id"]
