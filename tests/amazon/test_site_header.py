"""base.html's header, kept per kind of visitor (catalog/templatetags/site_header.py) with
each visitor's own parts filled in: what each one sees is still their own."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from amazon_ups.amazon.accounts.models import Profile
from amazon_ups.amazon.cart import services as cart_services

pytestmark = pytest.mark.django_db

LIST = reverse("catalog:product_list")
HEADER = re.compile(r'<header class="top">.*?</header>', re.S)


def header(client, url: str = LIST) -> str:
    response = client.get(url)
    assert response.status_code == 200
    found = HEADER.search(response.content.decode())
    assert found is not None
    return found[0]


def signed_in(django_user_model, name: str, *, seller=False, staff=False) -> Client:
    user = django_user_model.objects.create_user(name, password="a-long-password-1")
    user.is_staff = staff
    user.save()
    Profile.objects.create(user=user, is_seller=seller)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_the_header_is_rendered_once_per_kind_of_visitor(client, catalog, shopper):
    client.force_login(shopper)
    # Each request after the first of its kind fills in the kept header.
    rendered = [
        "_site_header.html" in [t.name for t in client.get(url).templates]
        for url in (LIST, LIST + "?q=mug", reverse("cart:detail"), reverse("orders:list"))
    ]
    assert rendered.count(True) <= 1


def test_each_kind_of_visitor_gets_their_own_links_and_name(catalog, django_user_model):
    anonymous = header(Client())
    shopper = header(signed_in(django_user_model, "shopper"))
    seller = header(signed_in(django_user_model, "maker", seller=True))
    staff = header(signed_in(django_user_model, "boss", staff=True))
    assert "Log in" in anonymous and "Log out" not in anonymous and "csrf" not in anonymous
    assert "Log out (shopper)" in shopper and "Sell" not in shopper and "Operators" not in shopper
    assert "Log out (maker)" in seller and 'href="/sell/"' in seller and "Operators" not in seller
    assert "Log out (boss)" in staff and "Sell</a>" not in staff and "Operators" in staff
    for page in (anonymous, shopper, seller, staff):
        assert "slot-" not in page


def test_the_header_of_one_shows_nothing_of_another(catalog, django_user_model):
    alice = signed_in(django_user_model, "alice")
    bob = signed_in(django_user_model, "bob")
    alice_user = django_user_model.objects.get(username="alice")
    cart_services.cart_add(user=alice_user, session=alice.session, product_id=1, quantity=3)
    first = header(alice, LIST + "?q=kettle")
    second = header(bob, LIST + "?q=mug")
    assert "Log out (alice)" in first and 'aria-label="3 items">3<' in first
    assert 'value="kettle"' in first
    assert "alice" not in second and "badge" not in second and "kettle" not in second
    assert "Log out (bob)" in second and 'value="mug"' in second


def test_the_visitors_parts_are_escaped(catalog, django_user_model):
    client = signed_in(django_user_model, "<b>x</b>")
    page = header(client, LIST + '?q="><script>alert(1)</script>')
    assert "<script>" not in page and "<b>" not in page
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert "Log out (&lt;b&gt;x&lt;/b&gt;)" in page


def test_the_logout_form_carries_the_pages_token_and_works(catalog, django_user_model):
    client = signed_in(django_user_model, "leaving")
    page = client.get(reverse("cart:detail")).content.decode()
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page))
    assert len(tokens) == 1
    response = client.post(reverse("logout"), {"csrfmiddlewaretoken": tokens.pop()})
    assert response.status_code == 302
    assert "Log in" in header(client)
