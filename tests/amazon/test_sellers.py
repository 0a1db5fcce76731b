"""The seller area: who may enter, listing and editing products, stock, sales."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from amazon_ups.amazon.accounts import services as accounts_services
from amazon_ups.amazon.catalog import services
from amazon_ups.amazon.catalog.models import Category, Product, Stock, Warehouse
from amazon_ups.amazon.orders import selectors as orders_selectors
from amazon_ups.amazon.orders import services as orders_services

pytestmark = pytest.mark.django_db

HOME = reverse("sell:home")
CREATE = reverse("sell:product_create")
SALES = reverse("sell:sales")


def edit_url(product_id: int) -> str:
    return reverse("sell:product_edit", args=[product_id])


@pytest.fixture
def seller(db, django_user_model):
    accounts_services.seller_ensure("maker", "maker-password-1")
    return django_user_model.objects.get(username="maker")


@pytest.fixture
def rival(db, django_user_model):
    accounts_services.seller_ensure("rival", "rival-password-1")
    return django_user_model.objects.get(username="rival")


@pytest.fixture
def goods(seller, rival):
    Warehouse.objects.create(id=1, name="North", x=0, y=0)
    Warehouse.objects.create(id=2, name="South", x=9, y=9)
    Category.objects.create(name="Kitchen", slug="kitchen")
    mine = Product.objects.create(id=10, name="Kettle", seller=seller)
    theirs = Product.objects.create(id=20, name="Rival kettle", seller=rival)
    Stock.objects.create(warehouse_id=1, product=mine, on_hand=4, on_order=6)
    Stock.objects.create(warehouse_id=2, product=mine, on_hand=7)
    Stock.objects.create(warehouse_id=1, product=theirs, on_hand=99)
    return mine, theirs


@pytest.mark.parametrize("url", [HOME, CREATE, SALES, "/sell/products/10/edit/"])
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", [HOME, CREATE, SALES, "/sell/products/10/edit/"])
def test_shoppers_are_refused(client, shopper, goods, url):
    client.force_login(shopper)
    response = client.get(url)
    assert response.status_code == 403
    assert "Only sellers have a seller area." in response.content.decode()


def test_a_shopper_cannot_list_a_product(client, shopper):
    client.force_login(shopper)
    assert client.post(CREATE, {"name": "Sneaky"}).status_code == 403
    assert not Product.objects.exists()


def test_a_seller_sees_only_their_products_with_stock_per_warehouse(client, seller, goods):
    client.force_login(seller)
    page = client.get(HOME).content.decode()
    assert "Kettle" in page and "Rival kettle" not in page
    row = page[page.index('id="own-product-10"') :]
    row = row[: row.index("</tr>")]
    # North: 4 on hand and 6 coming; South: 7.
    assert '<td class="num">4 <span class="muted">(+6)</span></td>' in row
    assert '<td class="num">7</td>' in row
    assert "in stock" in row  # 11 in all
    assert f'href="{edit_url(10)}"' in row


def test_listing_a_product_puts_it_on_sale_with_no_stock(client, seller, goods):
    client.force_login(seller)
    kitchen = Category.objects.get(slug="kitchen")
    response = client.post(
        CREATE, {"name": "  Toaster ", "description": "Two slots.", "category": kitchen.id}
    )
    assert response.status_code == 302 and response.url == HOME

    product = Product.objects.get(name="Toaster")
    assert product.id == 21  # the next id after the highest
    assert (product.seller, product.category, product.description) == (
        seller,
        kitchen,
        "Two slots.",
    )
    assert product.world_description == "Toaster"
    assert not Stock.objects.filter(product=product).exists()
    assert "“Toaster” is on sale as product 21." in html.unescape(client.get(HOME).content.decode())

    # Shoppers find it at once, and it can be ordered: the daemon buys the shortfall.
    listing = client.get("/", {"q": "toast"}).content.decode()
    assert 'name="product" value="21"' in listing
    assert "out of stock — ships when restocked" in listing


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Give the product a name."),
        ({"name": "   "}, "Give the product a name."),
        ({"name": "x" * 101}, "Ensure this value has at most 100 characters"),
        ({"category": "999"}, "Select a valid choice."),
        ({"category": "kitchen"}, "Select a valid choice."),
    ],
)
def test_bad_listings_are_explained(client, seller, goods, fields, message):
    client.force_login(seller)
    response = client.post(CREATE, {"name": "Toaster", **fields})
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and 'role="alert"' in page
    assert Product.objects.count() == 2


def test_a_seller_edits_their_own_product(client, seller, goods):
    client.force_login(seller)
    page = client.get(edit_url(10)).content.decode()
    assert 'value="Kettle"' in page
    response = client.post(edit_url(10), {"name": "Kettle 2", "description": "Faster."})
    assert response.status_code == 302
    product = Product.objects.get(id=10)
    assert (product.name, product.description) == ("Kettle 2", "Faster.")
    assert product.world_description == "Kettle"  # the world keeps its first name


def test_another_sellers_product_is_a_404(client, seller, goods):
    client.force_login(seller)
    assert client.get(edit_url(20)).status_code == 404
    assert client.post(edit_url(20), {"name": "Mine now"}).status_code == 404
    assert client.get(edit_url(12345)).status_code == 404
    assert Product.objects.get(id=20).name == "Rival kettle"


def test_demo_products_without_a_seller_are_nobodys(client, seller, goods):
    Product.objects.create(id=30, name="Orphan")
    client.force_login(seller)
    assert client.get(edit_url(30)).status_code == 404


def test_my_sales_lists_orders_of_my_products_only(client, seller, rival, shopper, goods):
    mine, theirs = goods
    both = orders_services.place_order(
        user=shopper, items={mine.id: 2, theirs.id: 5}, dest_x=1, dest_y=2
    )
    only_theirs = orders_services.place_order(
        user=shopper, items={theirs.id: 1}, dest_x=1, dest_y=2
    )

    client.force_login(seller)
    page = client.get(SALES).content.decode()
    assert f"#{both.id}</td>" in page and f"#{only_theirs.id}</td>" not in page
    assert page.count('class="sale"') == 1
    assert '<td class="num">2</td>' in page and 'data-status="placed"' in page
    assert "Rival kettle" not in page
    # The buyer's address is not the seller's business.
    assert shopper.username not in page.replace("Log out", "")

    sales = list(orders_selectors.seller_sales(rival))
    assert sorted((line.order_id, line.count) for line in sales) == [
        (both.id, 5),
        (only_theirs.id, 1),
    ]


def test_product_ids_are_chosen_one_after_another(seller, db):
    first = services.product_create(seller=seller, name="A")
    second = services.product_create(seller=seller, name="B")
    assert (first.id, second.id) == (1, 2)


def test_a_seller_account_links_to_the_seller_area(client, seller):
    client.force_login(seller)
    assert f'href="{HOME}"' in client.get("/").content.decode()
