"""400, 403, 404, 500 and a refused form (CSRF) answer with the store's own pages,
with DEBUG off (as under pytest-django)."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import bad_request, server_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.amazon.error_urls")]

FRAME = "mini-Amazon: a demo store on a simulated world"


def test_an_unknown_address_is_the_stores_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert FRAME in page and "There is nothing at this address" in page
    assert f'href="{reverse("catalog:product_list")}"' in page and 'role="search"' in page


def test_permission_denied_is_the_stores_403_with_a_way_on(client):
    response = client.get("/test-forbidden/")
    assert response.status_code == 403
    page = response.content.decode()
    assert FRAME in page and "Not allowed" in page
    assert f'href="{reverse("login")}?next=/test-forbidden/"' in page


def test_a_failing_view_is_the_stores_500(client):
    client.raise_request_exception = False
    response = client.get("/test-broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and FRAME in page and "amazon/site.css" in page


def test_the_500_page_needs_no_database_and_no_request(django_assert_max_num_queries):
    # Django renders 500.html with a bare context; the page must not need more.
    with django_assert_max_num_queries(0):
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_a_bad_request_is_the_stores_400():
    response = bad_request(RequestFactory().get("/"), exception=None)
    assert response.status_code == 400
    page = response.content.decode()
    assert FRAME in page and "could not be understood" in page


def test_a_form_without_its_csrf_token_is_the_stores_403(shopper):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "shopper", "password": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert FRAME in page and "This form has expired" in page
