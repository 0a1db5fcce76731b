"""Every whole number the carrier takes from a request, given text that is not one of
ours: a digit of another script, a superscript, a number no column holds, a sign,
nothing, spaces. Each page answers as it does for any wrong input, never with a 500
(the test client would raise it)."""

from __future__ import annotations

import pytest

from amazon_ups.ups.shipments.models import Package
from tests.ups.helpers import pickup

# "²" passes isdigit() and fails int(); "٣" passes both (as 3); the long ones pass
# both and overflow every integer column.
NOT_NUMBERS = ["²", "٣", "9" * 5000, "9" * 30]
ODD = ["-1", "", " 12 "]

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_package(fleet, alice):
    pickup(12, alice)
    return Package.objects.get(id=12)


@pytest.mark.parametrize("value", [*NOT_NUMBERS, "-1", "12"])
def test_tracking_a_number_that_is_no_tracking_number_says_so(client, alices_package, value):
    # Package ids are no tracking numbers either (tracking numbers are MU...).
    response = client.get("/track/", {"number": value})
    assert response.status_code == 400
    assert "is not a valid tracking number" in response.content.decode()


def test_tracking_forgives_spaces_around_a_pasted_number(client, alices_package):
    number = alices_package.tracking_number
    response = client.get("/track/", {"number": f" {number} "}, follow=True)
    assert response.status_code == 200
    assert response.context["package"] == alices_package


def test_tracking_nothing_asks_for_a_number(client, alices_package):
    response = client.get("/track/", {"number": ""})
    assert response.status_code == 200
    assert "package" not in response.context


@pytest.mark.parametrize("value", [*NOT_NUMBERS, "-1"])
def test_my_packages_searched_by_no_number_says_so(client, alice, alices_package, value):
    client.force_login(alice.user)
    response = client.get("/packages/", {"q": value})
    assert response.status_code == 200
    assert response.context["form"].errors["q"]
    assert 'class="error' in response.content.decode()


@pytest.mark.parametrize("value", ["", " {} "])
def test_my_packages_searched_by_nothing_or_spaces(client, alice, alices_package, value):
    client.force_login(alice.user)
    response = client.get("/packages/", {"q": value.format(alices_package.tracking_number)})
    assert response.status_code == 200
    assert list(response.context["page"].object_list) == [alices_package]


@pytest.mark.parametrize("value", NOT_NUMBERS + ODD)
def test_my_packages_page_number_gives_a_page(client, alice, alices_package, value):
    client.force_login(alice.user)
    assert client.get("/packages/", {"page": value}).status_code == 200


@pytest.mark.parametrize("field", ["x", "y"])
@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_redirect_to_no_number_is_a_form_error(client, alice, alices_package, field, value):
    client.force_login(alice.user)
    data = {"x": "3", "y": "4", field: value}
    response = client.post(f"/track/{alices_package.tracking_number}/redirect/", data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    alices_package.refresh_from_db()
    assert (alices_package.dest_x, alices_package.dest_y) == (20, -20)


@pytest.mark.parametrize("path", ["/packages/{}/", "/packages/{}/redirect/"])
@pytest.mark.parametrize("value", ["9" * 30, "9" * 5000, str(2**63)])
def test_ids_in_the_path_beyond_any_column_are_not_found(client, alice, path, value):
    # Only ASCII digits reach these views (Django's <int:>); too large is simply no row.
    client.force_login(alice.user)
    response = client.post(path.format(value), {"x": "1", "y": "1"})
    assert response.status_code in (404, 405)
    assert client.get(path.format(value)).status_code in (404, 405)
