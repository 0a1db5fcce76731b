"""The catalog's pages: list, search, categories, stock, pagination, product pages."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from amazon_ups.amazon.accounts.models import Profile
from amazon_ups.amazon.cart import services as cart_services
from amazon_ups.amazon.catalog import selectors, services
from amazon_ups.amazon.catalog.models import CatalogVersion, Category, Product, Stock, Warehouse

pytestmark = pytest.mark.django_db

LIST = reverse("catalog:product_list")


def names(response) -> list[str]:
    """Product names on a list page, in order."""
    assert response.status_code == 200
    found = re.findall(r'<h2><a href="/products/\d+/">([^<]*)</a></h2>', response.content.decode())
    return [html.unescape(name) for name in found]


@pytest.fixture
def shelf(db):
    """A few products with awkward names, two categories, some stock."""
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen")
    office = Category.objects.create(name="Office", slug="office")
    Warehouse.objects.create(id=1, name="North", x=0, y=0)
    Warehouse.objects.create(id=2, name="South", x=5, y=5)
    rows = [
        (1, "Kettle", "Boils WATER fast.", kitchen),
        (2, "Teapot", "Stoneware, six cups.", kitchen),
        (3, "100% cotton towel", "Dries dishes.", kitchen),
        (4, "snake_case mug", "For programmers.", office),
        (5, "O'Brien's notebook", "Lies flat.", office),
        (6, "Crème brûlée torch", "Caramelises sugar.", None),
    ]
    for product_id, name, description, category in rows:
        Product.objects.create(id=product_id, name=name, description=description, category=category)
    Stock.objects.create(warehouse_id=1, product_id=1, on_hand=20)
    Stock.objects.create(warehouse_id=2, product_id=1, on_hand=30)
    Stock.objects.create(warehouse_id=1, product_id=2, on_hand=2, on_order=10)
    Stock.objects.create(warehouse_id=2, product_id=2, on_hand=1)
    Stock.objects.create(warehouse_id=1, product_id=3, on_hand=0, on_order=5)


def test_the_list_shows_every_product_with_an_add_to_cart_form(client, shelf):
    response = client.get(LIST)
    page = response.content.decode()
    assert len(names(response)) == 6
    # What amazon_ups.testing.system's buy() and the cart rely on.
    assert page.count(f'action="{reverse("cart:add")}"') == 6
    for product_id in range(1, 7):
        assert f'name="product" value="{product_id}"' in page
    assert page.count('name="quantity" value="1"') == 6
    assert page.count('name="csrfmiddlewaretoken"') >= 6


def test_stock_is_the_sum_over_warehouses_in_words(client, shelf):
    page = client.get(LIST).content.decode()

    def stock_of(product_id):
        card = re.search(rf'id="product-{product_id}".*?</section>', page, re.S)[0]
        return re.search(r'class="stock" data-stock="(\w+)">([^<]*)<', card).groups()

    assert stock_of(1) == ("in", "in stock")  # 20 + 30
    assert stock_of(2) == ("low", "only 3 left")  # 2 + 1; units on order do not count
    assert stock_of(3) == ("out", "out of stock — ships when restocked")
    assert stock_of(4) == ("out", "out of stock — ships when restocked")  # no Stock rows


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kettle", ["Kettle"]),
        ("KETTLE", ["Kettle"]),
        ("water", ["Kettle"]),  # the description, in another case
        ("  teapot  ", ["Teapot"]),
        ("100%", ["100% cotton towel"]),
        ("%", []),  # punctuation alone is no word, and never a wildcard
        ("_", []),
        ("snake_case", ["snake_case mug"]),
        ("O'Brien", ["O'Brien's notebook"]),
        ("'", []),
        ("'; DROP TABLE catalog_product; --", []),
        ('" OR 1=1 --', []),
        ("\\", []),
        ("brûlée", ["Crème brûlée torch"]),
        ("CRèME", ["Crème brûlée torch"]),
        ("🫖", []),
        ("x" * 5000, []),
    ],
)
def test_search_is_case_insensitive_and_takes_every_word_literally(client, shelf, query, expected):
    assert names(client.get(LIST, {"q": query})) == expected
    assert Product.objects.count() == 6  # nothing was dropped


def test_the_search_says_what_it_looked_for_escaped(client, shelf):
    page = client.get(LIST, {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Nothing matches" in page


def test_the_category_filter(client, shelf):
    assert names(client.get(LIST, {"category": "office"})) == [
        "O'Brien's notebook",
        "snake_case mug",
    ]
    assert names(client.get(LIST, {"category": "kitchen", "q": "dishes"})) == ["100% cotton towel"]
    assert names(client.get(LIST, {"category": "office", "q": "dishes"})) == []
    page = client.get(LIST, {"category": "kitchen"}).content.decode()
    assert '<a href="?category=kitchen" aria-current="page">Kitchen</a>' in page


@pytest.mark.parametrize("slug", ["nope", "'; DROP TABLE x; --", "%"])
def test_an_unknown_category_is_a_404(client, shelf, slug):
    assert client.get(LIST, {"category": slug}).status_code == 404


@pytest.fixture
def many(db):
    for product_id in range(1, 30):
        Product.objects.create(id=product_id, name=f"Item {product_id:02d}")


def test_pagination_twelve_a_page(client, many):
    first = client.get(LIST)
    assert names(first) == [f"Item {n:02d}" for n in range(1, 13)]
    assert "Page 1 of 3" in first.content.decode()
    assert 'rel="next" href="?page=2"' in first.content.decode()
    last = client.get(LIST, {"page": 3})
    assert names(last) == [f"Item {n:02d}" for n in range(25, 30)]
    assert 'rel="prev" href="?page=2"' in last.content.decode()
    assert 'rel="next"' not in last.content.decode()


@pytest.mark.parametrize(
    ("page", "shown"),
    [
        ("abc", 1),
        ("", 1),
        ("0", 1),
        ("-5", 1),
        ("1.5", 1),
        ("2", 2),
        ("99", 3),
        ("9" * 5000, 1),  # too long for int(): not a page number
        ("\u0663", 1),  # int() reads the Arabic-Indic 3 as 3: not a page number of ours
        ("\u00b2", 1),
        ("1' OR '1'='1", 1),
    ],
)
def test_bad_page_numbers_give_a_page_never_an_error(client, many, page, shown):
    response = client.get(LIST, {"page": page})
    assert response.status_code == 200
    assert f"Page {shown} of 3" in response.content.decode()


def test_pagination_keeps_the_search_and_category(client, db):
    category = Category.objects.create(name="Bulk", slug="bulk")
    for product_id in range(1, 15):
        Product.objects.create(id=product_id, name=f"Box {product_id}", category=category)
    page = client.get(LIST, {"q": "box", "category": "bulk"}).content.decode()
    assert 'href="?q=box&amp;category=bulk&amp;page=2"' in page
    assert "14 products found" in page


def test_no_pagination_when_everything_fits(client, shelf):
    assert "Page 1 of" not in client.get(LIST).content.decode()


def test_the_product_page(client, shelf):
    response = client.get(reverse("catalog:product_detail", args=[2]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Teapot</h1>" in page and "Stoneware, six cups." in page
    assert 'href="/?category=kitchen">Kitchen</a>' in page
    assert "only 3 left" in page
    assert f'action="{reverse("cart:add")}"' in page
    assert 'name="product" value="2"' in page and 'name="quantity" value="1"' in page
    assert "No payment is taken" in page


def test_product_names_link_to_their_page(client, shelf):
    assert 'href="/products/1/"' in client.get(LIST).content.decode()


@pytest.mark.parametrize("path", ["/products/999/", "/products/abc/", "/products/-1/"])
def test_an_unknown_product_is_a_404_in_the_sites_look(client, shelf, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Back to the products" in response.content.decode()


def test_the_page_frame(client, shopper):
    page = client.get(LIST).content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'role="search"' in page and '<label for="site-search"' in page
    assert f'href="{reverse("cart:detail")}"' in page
    assert f'href="{reverse("signup")}"' in page
    client.force_login(shopper)
    page = client.get(LIST).content.decode()
    for url in (reverse("orders:list"), reverse("profile"), reverse("cart:detail")):
        assert f'href="{url}"' in page
    assert reverse("sell:home") not in page


def test_the_stylesheet_is_served_by_the_app_and_fits_a_phone(client):
    response = client.get("/static/amazon/site.css")
    assert response.status_code == 200
    css = b"".join(response.streaming_content).decode()
    assert "@media (max-width:" in css and "http" not in css  # nothing from elsewhere


def test_seed_demo_loads_categories_and_a_seller_and_is_idempotent(db, capsys):
    from io import StringIO

    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "demo seller: user seller, password seller-password-123 (created)" in text
    assert "demo seller: user seller, password seller-password-123 (already there)" in text
    assert Product.objects.count() == len(services.DEMO_PRODUCTS)
    assert not Product.objects.filter(category=None).exists()
    assert set(Product.objects.values_list("seller__username", flat=True)) == {"seller"}
    assert Category.objects.count() == len(services.DEMO_CATEGORIES)


def test_a_renamed_product_keeps_its_name_with_the_world(db):
    product = Product.objects.create(id=7, name="Kettle")
    services.product_update(product, name="Kettle deluxe", description="", category=None)
    product.refresh_from_db()
    assert product.name == "Kettle deluxe" and product.world_description == "Kettle"


def test_a_cards_cached_fragment_never_shows_an_old_price_name_or_stock(client, shelf):
    # The cards are cached per process, keyed by everything they show; the pages per
    # catalog version. The changes are made as another process (the fulfilment daemon,
    # the admin, a bulk update) would make them: no code of this process hears of them.
    card = re.compile(r'id="product-1".*?</section>', re.S)
    before = card.search(client.get(LIST).content.decode())[0]
    assert "Kettle" in before and "in stock" in before
    Product.objects.filter(id=1).update(name="Water kettle", price="12.50")
    Stock.objects.filter(product_id=1).update(on_hand=1)
    after = card.search(client.get(LIST).content.decode())[0]
    assert "Water kettle" in after and "12.50" in after and "only 2 left" in after


# -- pages kept per catalog version (catalog/views.py, common/fragments.py) --------------


def moves(version, change) -> bool:
    """Whether ``change()`` gives ``version()`` a new value."""
    before = version()
    change()
    return version() != before


def version_changes(change) -> bool:
    return moves(selectors.catalog_version, change)


def content_changes(change) -> bool:
    return moves(selectors.content_version, change)


@pytest.mark.parametrize(
    "change",
    [
        lambda: Product.objects.create(id=50, name="Lamp"),
        lambda: Product.objects.filter(id=1).update(price="1.00"),
        lambda: Product.objects.filter(id=6).delete(),
        lambda: Product.objects.bulk_create([Product(id=51, name="Desk")]),
        lambda: Stock.objects.filter(product_id=1, warehouse_id=1).update(on_hand=3),
        lambda: Stock.objects.create(warehouse_id=2, product_id=3, on_hand=1),
        lambda: Stock.objects.filter(product_id=3).delete(),
        lambda: Category.objects.filter(slug="office").update(name="Desk things"),
        lambda: Category.objects.create(name="Garden", slug="garden"),
        lambda: Warehouse.objects.create(id=3, name="East", x=9, y=9),
        lambda: Warehouse.objects.filter(id=2).update(x=50),
        lambda: services.product_set_listed(Product.objects.get(id=2), False),
        lambda: services.receive(1, {4: 5}),
        lambda: services.reserve(1, {1: 1}),
    ],
)
def test_every_change_to_what_the_pages_show_changes_the_catalog_version(shelf, change):
    assert version_changes(change)


def test_a_sellers_new_name_changes_the_version_and_a_login_does_not(shelf, django_user_model):
    seller = django_user_model.objects.create_user("maker", password="a-long-password-1")

    def rename():
        seller.username = "maker2"
        seller.save()

    def log_in():
        seller.last_login = seller.date_joined
        seller.save(update_fields=["last_login"])

    assert version_changes(rename)
    assert not version_changes(log_in)


@pytest.mark.parametrize(
    "change",
    [
        lambda: Stock.objects.filter(product_id=1, warehouse_id=1).update(on_hand=3),
        lambda: Stock.objects.create(warehouse_id=2, product_id=3, on_hand=1),
        lambda: Stock.objects.filter(product_id=3).delete(),
        lambda: services.receive(1, {4: 5}),
        lambda: services.reserve(1, {1: 1}),
        lambda: services.order_more(1, {2: 4}),
    ],
)
def test_a_change_of_stock_alone_leaves_the_contents_version(shelf, change):
    before = selectors.catalog_version()
    assert not content_changes(change)
    assert selectors.catalog_version() != before


@pytest.mark.parametrize(
    "change",
    [
        lambda: Product.objects.filter(id=1).update(price="1.00"),
        lambda: Product.objects.filter(id=6).delete(),
        lambda: Category.objects.filter(slug="office").update(name="Desk things"),
        lambda: Warehouse.objects.filter(id=2).update(x=50),
        lambda: services.product_set_listed(Product.objects.get(id=2), False),
    ],
)
def test_any_other_change_moves_both_versions(shelf, change):
    before = selectors.catalog_version()
    assert content_changes(change)
    assert selectors.catalog_version() != before


def test_a_sellers_new_name_moves_the_contents_version(shelf, django_user_model):
    seller = django_user_model.objects.create_user("maker", password="a-long-password-1")
    seller.username = "maker2"
    assert content_changes(seller.save)


def test_the_versions_are_read_whole_and_a_row_added_by_hand_leaves_them_changing(shelf):
    # Read with no WHERE (search._versions): every row names the whole version.
    assert selectors.content_version() == CatalogVersion.objects.get(id=2).value
    CatalogVersion.objects.create(id=3, value=7)
    assert version_changes(lambda: Stock.objects.filter(product_id=1).update(on_hand=9))
    assert content_changes(lambda: Product.objects.filter(id=1).update(price="1.00"))
    CatalogVersion.objects.all().delete()  # as a flush leaves it: the next change brings it back
    assert selectors.content_version() == selectors.catalog_version()
    assert content_changes(lambda: Product.objects.filter(id=1).update(price="2.00"))
    assert CatalogVersion.objects.filter(id__in=[1, 2]).count() == 2


def test_reading_the_catalog_does_not_change_the_version(client, shelf):
    assert not version_changes(lambda: client.get(LIST + "?q=kettle"))


def test_a_kept_list_page_shows_every_change_at_once(client, shelf):
    assert "Kettle" in names(client.get(LIST + "?q=kettle&sort=price"))
    Product.objects.filter(id=1).update(name="Boiler", description="Boils water.")
    assert names(client.get(LIST + "?q=kettle&sort=price")) == []
    assert names(client.get(LIST + "?q=boiler&sort=price")) == ["Boiler"]
    Category.objects.filter(slug="kitchen").update(name="Cooking")
    assert ">Cooking</a>" in client.get(LIST + "?q=boiler&sort=price").content.decode()
    Product.objects.filter(id=1).update(listed=False)
    assert names(client.get(LIST + "?q=boiler&sort=price")) == []


def test_a_kept_product_page_shows_every_change_at_once(client, shelf, django_user_model):
    url = reverse("catalog:product_detail", args=[2])
    assert "only 3 left" in client.get(url).content.decode()
    seller = django_user_model.objects.create_user("maker", password="a-long-password-1")
    Product.objects.filter(id=2).update(price="3.25", seller=seller)
    Stock.objects.filter(product_id=2).update(on_hand=0)
    page = client.get(url).content.decode()
    assert "$3.25" in page and "out of stock" in page and "maker" in page
    django_user_model.objects.filter(id=seller.id).update(username="teamaker")
    assert "teamaker" in client.get(url).content.decode()
    Product.objects.filter(id=2).update(listed=False)
    assert client.get(url).status_code == 404


def test_a_product_pages_estimate_is_the_visitors_own_and_of_this_moment(client, shelf):
    url = reverse("catalog:product_detail", args=[1])
    estimate = re.compile(r'<dd id="delivery-estimate">.*?</dd>', re.S)
    anonymous = estimate.search(client.get(url).content.decode())[0]
    assert "to (0, 0) from North" in anonymous and "log in" in anonymous
    user = get_user_model().objects.create_user("far", password="a-long-password-1")
    Profile.objects.create(user=user, default_x=90, default_y=90)
    client.force_login(user)
    own = estimate.search(client.get(url).content.decode())[0]
    # Both warehouses hold kettles: the nearer one to (90, 90) ships them.
    assert "to (90, 90) from South" in own and "log in" not in own and "save your" not in own
    Warehouse.objects.filter(name="North").update(name="<b>North</b>")
    get_user_model().objects.create_user("near", password="a-long-password-1")
    client.force_login(get_user_model().objects.get(username="near"))
    addressless = estimate.search(client.get(url).content.decode())[0]
    assert "from &lt;b&gt;North&lt;/b&gt;;" in addressless
    assert f'<a href="{reverse("profile")}">save your address</a> for yours' in addressless


def test_each_visitor_gets_their_own_csrf_token_in_a_kept_page(shelf, django_user_model):
    token = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    for name in ("first", "second"):
        # A real browser's checks: the kept page was rendered for someone else first.
        client = Client(enforce_csrf_checks=True)
        client.force_login(django_user_model.objects.create_user(name, password="a-long-pw-1"))
        page = client.get(LIST).content.decode()
        # Every form (the kept cards' and the nav bar's logout) has this visitor's token,
        # one for the page, as Django gives.
        assert page.count("csrfmiddlewaretoken") == 7 and "slot-" not in page
        (value,) = set(token.findall(page))
        add = {"csrfmiddlewaretoken": value, "product": 1, "quantity": 1}
        assert client.post(reverse("cart:add"), add).status_code == 302


def test_parameters_the_list_does_not_read_are_not_kept_in_its_links(client, db):
    for product_id in range(1, 30):
        Product.objects.create(id=product_id, name=f"Thing {product_id}")
    page = client.get(LIST + "?q=thing&junk=1&page=2").content.decode()
    assert "junk" not in page and 'href="?q=thing&amp;page=3"' in page


def test_a_kept_list_page_costs_the_version_and_the_visitors_own_queries(
    client, shelf, django_assert_num_queries
):
    client.get(LIST + "?q=kettle")
    # The version alone: a visitor with no session yet has no session to read.
    with django_assert_num_queries(1):
        assert names(client.get(LIST + "?q=kettle")) == ["Kettle"]


def test_a_kept_product_page_costs_the_version_and_the_visitors_own_queries(
    client, shelf, shopper, django_assert_num_queries
):
    url = reverse("catalog:product_detail", args=[1])
    client.force_login(shopper)
    client.get(url)
    # The versions; the user's stamp and the cart's units (the nav bar's badge), the user
    # being kept (accounts/backends.py). The session is read from its cache
    # (settings.SESSION_ENGINE).
    cart_services.cart_add(user=shopper, session=client.session, product_id=2, quantity=4)
    with django_assert_num_queries(2):
        page = client.get(url).content.decode()
    assert '<span class="badge" aria-label="4 items">4</span>' in page


def test_a_sale_leaves_a_kept_product_page_kept_and_its_stock_new(
    client, shelf, django_assert_num_queries
):
    url = reverse("catalog:product_detail", args=[2])
    assert "only 3 left" in client.get(url).content.decode()
    # The daemon packs an order (catalog.services.reserve): the stock alone changes.
    services.reserve(1, {2: 1})
    with django_assert_num_queries(2):  # the versions and the stock: no product, no places
        page = client.get(url).content.decode()
    assert "only 2 left" in page and '<span class="stock" data-stock="low">' in page
    assert "from North" in page  # the nearer to (0, 0) of the two holding it
    services.reserve(1, {2: 1})
    page = client.get(url).content.decode()
    # The estimate's warehouses are those that hold it: South alone now.
    assert "only 1 left" in page and "from South" in page


def test_a_product_page_rendered_anew_costs_three_queries_of_the_catalog(
    client, shelf, django_assert_num_queries
):
    # The version; the product with its category and seller; its stock; the warehouses
    # (kept per version: the next product does not read them again).
    with django_assert_num_queries(4):
        assert client.get(reverse("catalog:product_detail", args=[1])).status_code == 200
    with django_assert_num_queries(3):
        assert client.get(reverse("catalog:product_detail", args=[2])).status_code == 200


def test_a_new_warehouse_is_in_the_next_estimate(client, shelf):
    url = reverse("catalog:product_detail", args=[3])
    assert "from North" in client.get(url).content.decode()
    Warehouse.objects.create(id=3, name="Middle", x=0, y=1)
    Stock.objects.create(warehouse_id=3, product_id=3, on_hand=4)
    assert "from Middle" in client.get(url).content.decode()
